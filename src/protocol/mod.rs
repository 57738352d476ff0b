//! Module protocols: how a request reaches a module and how its answer comes back. Each protocol
//! runs its modules in the runtime with its own per-call state (none for `wasi`, the waPC
//! exchange for `kubewarden`) and answers in the protocol-neutral terms of [`crate::decision`]
//! and [`crate::call`].
//!
//! - [`wasi`]: the original module specification (JSON on stdin/stdout, exports `authn`, `authz`,
//!   `validate`).
//! - [`kubewarden`]: Kubewarden policies (waPC).

pub mod kubewarden;
pub mod wasi;
