//! Module protocols: how a request reaches a module and how its answer comes back.
//!
//! - [`wasi`]: the original module specification (JSON on stdin/stdout, exports `authn`, `authz`,
//!   `validate`).
//! - [`kubewarden`]: Kubewarden policies (waPC).

pub mod kubewarden;
pub mod wasi;

/// Protocol state kept in a call's store.
#[derive(Debug, Default)]
pub struct State {
    /// The waPC exchange of a Kubewarden call.
    pub wapc: kubewarden::WapcState,
}
