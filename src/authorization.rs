//! Authorization: modules are consulted in order until one allows or denies; a module with no
//! opinion passes the request on. Allowed and denied together is a failed call. A failed call
//! follows the module's `failurePolicy`: `NoOpinion` (default) passes on, `Deny` denies.

use serde::{Deserialize, Serialize};

use crate::call::{Deadline, Report, check_input};
use crate::config::{FailurePolicy, Kind};
use crate::error::{Error, Failure};
use crate::limits::{MAX_MESSAGE, sanitize};
use crate::log::Redactor;
use crate::module::LoadedModule;

#[derive(Deserialize)]
struct SubjectAccessReviewOut {
    #[serde(default)]
    status: Option<ModuleStatus>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleStatus {
    #[serde(default)]
    allowed: Option<bool>,
    #[serde(default)]
    denied: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    evaluation_error: Option<String>,
}

/// `authorization.k8s.io/v1` SubjectAccessReviewStatus.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// The request is allowed.
    pub allowed: bool,
    /// The request is denied (no later authorizer is asked).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// Why.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Failures met while deciding.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

/// The result of [`Handle::authorize`].
#[derive(Debug, Serialize)]
pub struct AuthorizationResult {
    /// The decision.
    pub status: SubjectAccessReviewStatus,
    /// The module that allowed or denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Outcomes and log lines.
    #[serde(flatten)]
    pub report: Report,
}

/// Decides a SubjectAccessReview (JSON) with `modules` in order. `timeout_ns` bounds the whole
/// chain (0: module timeouts only).
pub(crate) fn authorize(
    modules: &[LoadedModule],
    review: &[u8],
    timeout_ns: u64,
) -> Result<AuthorizationResult, Error> {
    check_input(review)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(review).map_err(|e| {
        Error::bad_request(format!("the request is not a SubjectAccessReview: {e}"))
    })?;
    let deadline = Deadline::after_nanos(timeout_ns);
    let redactor = Redactor::default();
    let mut report = Report::default();
    let mut failures = Vec::new();
    for m in modules {
        let name = &m.config.name;
        let (answer, took) = m.call_wasi(
            Kind::Authorization,
            review,
            deadline,
            &redactor,
            &mut report,
        );
        let status = answer.and_then(|response| {
            let s = match response {
                None => ModuleStatus::default(),
                Some(v) => serde_json::from_value::<SubjectAccessReviewOut>(v)
                    .map_err(|e| {
                        Failure::malformed(format!(
                            "malformed SubjectAccessReview in the response: {e}"
                        ))
                    })?
                    .status
                    .unwrap_or_default(),
            };
            if s.allowed == Some(true) && s.denied == Some(true) {
                return Err(Failure::malformed(
                    "the module returned both allow and deny",
                ));
            }
            Ok(s)
        });
        match status {
            Err(e) => {
                let failure = format!("module \"{name}\" failed: {e}");
                report.failed(name, took, e);
                if m.config.failure_policy == FailurePolicy::Deny {
                    let status = SubjectAccessReviewStatus {
                        denied: true,
                        reason: format!("module \"{name}\" failed and its failurePolicy is Deny"),
                        evaluation_error: failure,
                        ..Default::default()
                    };
                    return Ok(AuthorizationResult {
                        status,
                        module: Some(name.clone()),
                        report,
                    });
                }
                failures.push(failure);
            }
            Ok(s) if s.allowed == Some(true) || s.denied == Some(true) => {
                let allowed = s.allowed == Some(true);
                report.outcome(name, if allowed { "allowed" } else { "denied" }, took);
                let status = SubjectAccessReviewStatus {
                    allowed,
                    denied: !allowed,
                    reason: sanitize(&s.reason.unwrap_or_default(), MAX_MESSAGE),
                    evaluation_error: sanitize(
                        &s.evaluation_error.unwrap_or_default(),
                        MAX_MESSAGE,
                    ),
                };
                return Ok(AuthorizationResult {
                    status,
                    module: Some(name.clone()),
                    report,
                });
            }
            Ok(_) => report.outcome(name, "noOpinion", took),
        }
    }
    let status = SubjectAccessReviewStatus {
        evaluation_error: failures.join("; "),
        ..Default::default()
    };
    Ok(AuthorizationResult {
        status,
        module: None,
        report,
    })
}
