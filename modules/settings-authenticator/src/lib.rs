//! `settings-authenticator` (export `authn`): proves that settings reach the module. It
//! recognises the one token named in its settings:
//!
//! `{"token": "…", "user": "…", "uid": "…", "groups": […], "extra": {"k": ["v"]},
//! "audiences": […]}` (`token` and `user` required; the rest optional; unknown keys are an
//! error).
//!
//! That token → authenticated as `user`/`uid`/`groups`/`extra`, with `status.audiences` =
//! `audiences` when given; another token → `authenticated: false`, no error; no token in
//! the request → error `no token in request`; no settings → error `no settings`.

use std::collections::BTreeMap;

use kubewasm_guest::authn::{self, TokenReview, TokenReviewStatus, UserInfo};
use serde::Deserialize;

/// The module's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The token to recognise.
    pub token: String,
    /// Its user name.
    pub user: String,
    /// Its uid.
    #[serde(default)]
    pub uid: String,
    /// Its groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Its extra attributes.
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
    /// Audiences to answer in `status.audiences`.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// Checks the token of `review` against `settings`.
pub fn authenticate(
    review: TokenReview,
    settings: Option<Settings>,
) -> Result<TokenReview, String> {
    let settings = settings.ok_or_else(|| "no settings".to_owned())?;
    let token = review
        .spec
        .token
        .ok_or_else(|| "no token in request".to_owned())?;
    if token != settings.token {
        return Ok(authn::unauthenticated());
    }
    Ok(authn::response(TokenReviewStatus {
        authenticated: true,
        user: Some(UserInfo {
            username: settings.user,
            uid: settings.uid,
            groups: settings.groups,
            extra: settings.extra,
        }),
        audiences: settings.audiences,
        error: String::new(),
    }))
}

kubewasm_guest::register_authenticator!(authenticate);
