//! `magic-authenticator` (export `authn`), like the original k8s-wasi-rs example:
//! the token `magic-token` belongs to user `magic-user` (uid `0`, group `magic-group`);
//! any other token is not recognised (`authenticated: false`, no error); a request
//! without a token is an error (`no token in request`). Settings are ignored.

use kubewasm_guest::authn::{self, TokenReview};
use kubewasm_guest::NoSettings;

/// The one token this module recognises.
pub const MAGIC_TOKEN: &str = "magic-token";

/// Checks the token of `review`.
pub fn authenticate(
    review: TokenReview,
    _settings: Option<NoSettings>,
) -> Result<TokenReview, String> {
    match review.spec.token.as_deref() {
        None => Err("no token in request".to_owned()),
        Some(MAGIC_TOKEN) => Ok(authn::authenticate("0", "magic-user", ["magic-group"])),
        Some(_) => Ok(authn::unauthenticated()),
    }
}

kubewasm_guest::register_authenticator!(authenticate);

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: kubewasm_guest::alloc::OneShot = kubewasm_guest::alloc::OneShot::new();
