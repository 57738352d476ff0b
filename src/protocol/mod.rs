//! Module protocols: how a request reaches a module and how its answer comes back. Each protocol
//! runs its modules in the runtime with its own per-call state (none for `wasi`, the waPC
//! exchange for `kubewarden`, builtins and logs for `opa`) and answers in the protocol-neutral terms of [`crate::decision`]
//! and [`crate::call`].
//!
//! - [`wasi`]: the original module specification (JSON on stdin/stdout, exports `authn`, `authz`,
//!   `validate`).
//! - [`kubewarden`]: Kubewarden policies (waPC).
//! - [`opa`]: Rego policies compiled with `opa build -t wasm` (types `opa` and `gatekeeper`).

pub mod kubewarden;
pub mod opa;
pub mod wasi;
