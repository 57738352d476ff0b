//! kubewasm: WebAssembly modules for kube-apiserver's authentication, authorization and
//! admission, run with wasmtime.
//!
//! The pure-Rust core is [`Handle`]: [`Handle::new`] parses a configuration and loads its
//! modules; [`Handle::authenticate`], [`Handle::authorize`] and [`Handle::admit`] serve
//! requests. The C ABI in [`ffi`] (header `include/kubewasm.h`) is a thin layer over it.
//!
//! Where requests go: `authentication` (TokenReview), `authorization` (SubjectAccessReview),
//! `admission` (AdmissionRequest); modules speak a `protocol` (`wasi` or `kubewarden`) and run
//! in the `runtime` (engine, limits, WASI host).

pub mod admission;
pub mod authentication;
pub mod authorization;
pub mod config;
pub mod error;
pub mod ffi;
pub mod handle;
pub mod limits;
pub mod log;
pub mod protocol;
pub mod runtime;

pub use admission::{AdmissionResult, Phase};
pub use authentication::AuthenticationResult;
pub use authorization::AuthorizationResult;
pub use config::Kind;
pub use error::{Error, ErrorCode};
pub use handle::{Handle, calls_in_flight};
