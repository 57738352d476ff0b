//! `authentication.k8s.io/v1` TokenReview and helpers for the `authn` export.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `apiVersion` of a TokenReview.
pub const API_VERSION: &str = "authentication.k8s.io/v1";
/// The `kind` of a TokenReview.
pub const KIND: &str = "TokenReview";

/// A TokenReview, as much of it as modules need (unknown fields are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReview {
    /// `authentication.k8s.io/v1` in responses built by this library.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `TokenReview` in responses built by this library.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The token to check and the audiences wanted. Not echoed in responses built here.
    #[serde(default, skip_serializing_if = "TokenReviewSpec::is_empty")]
    pub spec: TokenReviewSpec,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenReviewStatus>,
}

/// `TokenReview.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewSpec {
    /// The bearer token; `None` when the host sent none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The audiences the API server wants the token to be valid for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

impl TokenReviewSpec {
    fn is_empty(&self) -> bool {
        self.token.is_none() && self.audiences.is_empty()
    }
}

/// `TokenReview.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    /// Whether the token was recognised.
    #[serde(default)]
    pub authenticated: bool,
    /// The user the token belongs to (when authenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    /// The audiences the token is valid for (subset of `spec.audiences`); empty = the API
    /// server's own audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// An error while checking the token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `authentication.k8s.io/v1` UserInfo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The user's unique id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// A TokenReview response carrying `status`, with apiVersion and kind set.
pub fn response(status: TokenReviewStatus) -> TokenReview {
    TokenReview {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        spec: TokenReviewSpec::default(),
        status: Some(status),
    }
}

/// The token is recognised: it belongs to `username` with `uid` and `groups`.
pub fn authenticate<G, T>(uid: &str, username: &str, groups: G) -> TokenReview
where
    G: IntoIterator<Item = T>,
    T: Into<String>,
{
    response(TokenReviewStatus {
        authenticated: true,
        user: Some(UserInfo {
            username: username.to_owned(),
            uid: uid.to_owned(),
            groups: groups.into_iter().map(Into::into).collect(),
            extra: BTreeMap::new(),
        }),
        ..TokenReviewStatus::default()
    })
}

/// The token is not recognised by this module: `authenticated: false`, no error, so the
/// API server goes on with its other authenticators.
pub fn unauthenticated() -> TokenReview {
    response(TokenReviewStatus::default())
}
