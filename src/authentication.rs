//! Token authentication: modules are consulted in order; the first that authenticates wins. A
//! token no module recognises is "not authenticated", never an error, and a failing module
//! never authenticates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::call::{Deadline, Report, check_input, clean, clean_failure};
use crate::config::Kind;
use crate::error::{Error, Failure, FailureKind};
use crate::limits::MAX_USER_INFO;
use crate::log::{Level, Redactor};
use crate::module::LoadedModule;

#[derive(Deserialize)]
struct TokenReviewIn {
    spec: SpecIn,
}

#[derive(Deserialize)]
struct SpecIn {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
struct TokenReviewOut {
    #[serde(default)]
    status: Option<TokenReviewStatus>,
}

/// `authentication.k8s.io/v1` TokenReviewStatus.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    /// The token was recognised.
    #[serde(default)]
    pub authenticated: Option<bool>,
    /// Who the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    /// Audiences the token is valid for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// Why the token was not authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `authentication.k8s.io/v1` UserInfo.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// User id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The result of [`Handle::authenticate`].
#[derive(Debug, Serialize)]
pub struct AuthenticationResult {
    /// The TokenReview status to answer with.
    pub status: TokenReviewStatus,
    /// The module that authenticated the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Outcomes and log lines.
    #[serde(flatten)]
    pub report: Report,
}

/// Authenticates the token of a TokenReview (JSON) with `modules` in order. `timeout_ns` bounds
/// the whole chain (0: module timeouts only).
pub(crate) fn authenticate(
    modules: &[LoadedModule],
    token_review: &[u8],
    timeout_ns: u64,
) -> Result<AuthenticationResult, Error> {
    check_input(token_review)?;
    let review: TokenReviewIn = serde_json::from_slice(token_review)
        .map_err(|e| Error::bad_request(format!("the request is not a TokenReview: {e}")))?;
    let redactor = Redactor::new(&review.spec.token);
    let deadline = Deadline::after_nanos(timeout_ns);
    let mut report = Report::default();
    for m in modules {
        let name = &m.config.name;
        let (answer, took) = m.call_wasi(
            Kind::Authentication,
            token_review,
            deadline,
            &redactor,
            &mut report,
        );
        let status = answer
            .and_then(|response| match response {
                None => Ok(TokenReviewStatus::default()),
                Some(v) => serde_json::from_value::<TokenReviewOut>(v)
                    .map(|r| r.status.unwrap_or_default())
                    .map_err(|e| {
                        Failure::malformed(format!("malformed TokenReview in the response: {e}"))
                    }),
            })
            .and_then(|status| check_user(status, &redactor));
        match status {
            Err(e) => report.failed(name, took, clean_failure(&redactor, e)),
            Ok(mut status) if status.authenticated == Some(true) => {
                report.outcome(name, "authenticated", took);
                status.error = None;
                return Ok(AuthenticationResult {
                    status,
                    module: Some(name.clone()),
                    report,
                });
            }
            Ok(status) => {
                if let Some(e) = status.error.filter(|e| !e.is_empty()) {
                    report.log(
                        Level::Info,
                        name,
                        clean(&redactor, format!("token not authenticated: {e}")),
                    );
                }
                report.outcome(name, "unauthenticated", took);
            }
        }
    }
    let status = TokenReviewStatus {
        authenticated: Some(false),
        ..Default::default()
    };
    Ok(AuthenticationResult {
        status,
        module: None,
        report,
    })
}

/// Checks the user an authenticating module returned: at most [`MAX_USER_INFO`] bytes
/// (serialised; the API server caches it per token) and never the token itself, which would then
/// reach audit logs and the caller.
fn check_user(
    status: TokenReviewStatus,
    redactor: &Redactor,
) -> Result<TokenReviewStatus, Failure> {
    let Some(user) = status
        .user
        .as_ref()
        .filter(|_| status.authenticated == Some(true))
    else {
        return Ok(status);
    };
    let json = serde_json::to_string(user).map_err(|e| {
        Failure::new(
            FailureKind::HostError,
            format!("cannot serialise the user: {e}"),
        )
    })?;
    if json.len() > MAX_USER_INFO {
        return Err(Failure::output_limit(format!(
            "the user in the response is {} bytes, more than the {MAX_USER_INFO} allowed",
            json.len()
        )));
    }
    if redactor.finds_secret(&json) {
        return Err(Failure::malformed(
            "the user in the response contains the bearer token",
        ));
    }
    Ok(status)
}
