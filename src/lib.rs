//! kubewasm: WebAssembly modules for kube-apiserver's authentication, authorization and
//! admission, run with wasmtime.
//!
//! The pure-Rust core is [`Handle`]: [`Handle::new`] parses a configuration and loads its
//! modules; [`Handle::authenticate`], [`Handle::authorize`] and [`Handle::admit`] serve
//! requests. The C ABI in [`ffi`] (header `include/kubewasm.h`) is a thin layer over it.
//!
//! Where requests go: `authentication` (TokenReview), `authorization` (SubjectAccessReview),
//! `admission` (AdmissionRequest), each a function over the loaded modules (`module`); modules
//! speak a `protocol` (`wasi` or `kubewarden`) that answers in the terms of `call` and
//! `decision`, and run in the `runtime` (engine, limits, WASI host). A module only uses the
//! layers below it: docs/architecture.md draws them, `make lint` checks them.

pub mod admission;
pub mod allocator;
pub mod authentication;
pub mod authorization;
pub mod call;
pub mod config;
pub mod decision;
pub mod error;
pub mod ffi;
pub mod handle;
pub mod limits;
pub mod log;
pub(crate) mod module;
pub mod protocol;
pub mod runtime;
pub mod timing;

pub use admission::{AdmissionResult, Phase};
pub use authentication::AuthenticationResult;
pub use authorization::AuthorizationResult;
pub use call::calls_in_flight;
pub use config::Kind;
pub use error::{Error, ErrorCode};
pub use handle::Handle;
