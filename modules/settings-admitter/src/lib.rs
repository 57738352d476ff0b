//! `settings-admitter` (export `validate`): answers every admission request as its
//! settings say, for testing the host's handling of rejections, status codes, warnings,
//! audit annotations and settings in admission. Never patches.
//!
//! Settings (all optional, unknown keys are an error): `{"allowed": true, "message": "…",
//! "reason": "…", "code": 403, "warnings": ["…"], "auditAnnotations": {"k": "v"}}`.
//! `status` is sent only when `message`, `reason` or `code` is set. No settings → admitted.

use std::collections::BTreeMap;

use kubewasm_guest::admission::{AdmissionResponse, AdmissionReview, Status};
use serde::Deserialize;

/// The module's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// `response.allowed` (default true).
    #[serde(default = "yes")]
    pub allowed: bool,
    /// `response.status.message`.
    #[serde(default)]
    pub message: String,
    /// `response.status.reason`.
    #[serde(default)]
    pub reason: String,
    /// `response.status.code`.
    #[serde(default)]
    pub code: Option<i32>,
    /// `response.warnings`.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `response.auditAnnotations`.
    #[serde(default)]
    pub audit_annotations: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Answers `review` as `settings` say.
pub fn admit(
    review: AdmissionReview,
    settings: Option<Settings>,
) -> Result<AdmissionReview, String> {
    let request = review.into_request()?;
    let Some(s) = settings else {
        return Ok(kubewasm_guest::admission::accept(&request.uid));
    };
    let has_status = !s.message.is_empty() || !s.reason.is_empty() || s.code.is_some();
    let status = has_status.then_some(Status {
        message: s.message,
        reason: s.reason,
        code: s.code,
    });
    Ok(AdmissionReview::respond(AdmissionResponse {
        uid: request.uid,
        allowed: s.allowed,
        status,
        warnings: s.warnings,
        audit_annotations: s.audit_annotations,
        ..AdmissionResponse::default()
    }))
}

kubewasm_guest::register_admitter!(admit);
