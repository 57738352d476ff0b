//! Admission: the caller (the API server's plugin) matches modules against the request and
//! sends one phase at a time. Mutating modules run in order, each seeing the object as mutated by
//! the ones before; validating modules all run until one rejects. The result carries one RFC
//! 6902 patch relative to the request's original object. A failed module follows its
//! `failurePolicy`: `Fail` stops with an error, `Ignore` skips it and reports it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call::{Deadline, Report, Slot, check_input, clean_failure};
use crate::config::{FailurePolicy, Kind};
use crate::decision::{Status, Verdict, bound_texts, patch};
use crate::error::{Error, Failure};
use crate::limits::{MAX_OBJECT_BYTES, json_size_within};
use crate::log::{Level, Redactor};
use crate::module::{LoadedModule, Protocol};
use crate::protocol::{kubewarden, opa};

pub use crate::decision::{AuditAnnotation, Mutation};

/// The admission phase of a call: `phase` of `kubewasm_admit`. The header's
/// `KUBEWASM_PHASE_*` constants are generated from this enum (type `KubewasmPhase`).
///
/// cbindgen:rename-all=QualifiedScreamingSnakeCase
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Mutating modules (`mutating: true`).
    Mutating = 1,
    /// Validating modules.
    Validating = 2,
}

impl Phase {
    /// The phase with C ABI number `n`.
    pub fn from_abi(n: u32) -> Option<Phase> {
        [Phase::Mutating, Phase::Validating]
            .into_iter()
            .find(|p| *p as u32 == n)
    }
}

/// The combined result of [`Handle::admit`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResult {
    /// The request may proceed.
    pub allowed: bool,
    /// The rejecting module's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The module that rejected the request, or failed with `failurePolicy: Fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The failure of a module whose `failurePolicy` is `Fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 6902 operations turning the request's object into the mutated object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
    /// Audit annotations.
    pub audit_annotations: Vec<AuditAnnotation>,
    /// Outcomes and log lines.
    #[serde(flatten)]
    pub report: Report,
}

/// The request as it travels through the chain. It is parsed into a DOM only when something
/// needs one (a mutation, a Kubewarden policy); validating `wasi` modules get the caller's bytes.
struct Request<'a> {
    uid: String,
    /// The serialised request: the caller's bytes until a mutation changes the object.
    bytes: Cow<'a, [u8]>,
    value: OnceCell<Value>,
}

impl Request<'_> {
    fn value(&self) -> &Value {
        // The bytes were checked to be one JSON document when the uid was read.
        self.value
            .get_or_init(|| serde_json::from_slice(&self.bytes).unwrap_or(Value::Null))
    }

    fn object(&self) -> &Value {
        self.value().get("object").unwrap_or(&Value::Null)
    }

    /// Replaces the object and re-serialises the request; fails when the object is larger than
    /// [`MAX_OBJECT_BYTES`], leaving the request as it was.
    fn set_object(&mut self, object: Value) -> Result<(), Failure> {
        let size = json_size_within(&object, MAX_OBJECT_BYTES).ok_or_else(|| {
            Failure::output_limit(format!(
                "the mutated object is larger than the {MAX_OBJECT_BYTES} bytes allowed"
            ))
        })?;
        self.value();
        let value = self.value.get_mut().expect("initialised above");
        value["object"] = object;
        let mut bytes = Vec::with_capacity(self.bytes.len() + size);
        serde_json::to_writer(&mut bytes, value).expect("a JSON value serialises");
        self.bytes = Cow::Owned(bytes);
        Ok(())
    }
}

#[derive(Deserialize)]
struct RequestHead {
    #[serde(default)]
    uid: String,
}

/// Runs the `modules` of `ids` (in the given order) of `phase` on an AdmissionRequest (JSON:
/// `AdmissionReview.request`). `timeout_ns` bounds the whole phase (0: module timeouts only).
pub(crate) fn admit(
    modules: &[LoadedModule],
    phase: Phase,
    ids: &[u32],
    request: &[u8],
    timeout_ns: u64,
) -> Result<AdmissionResult, Error> {
    let mut chain = Vec::with_capacity(ids.len());
    for &id in ids {
        let m = modules
            .get(id as usize)
            .ok_or_else(|| Error::invalid_argument(format!("no module with id {id}")))?;
        let mutating = m.config.admission.as_ref().is_some_and(|a| a.mutating);
        if mutating != (phase == Phase::Mutating) {
            return Err(Error::invalid_argument(format!(
                "module \"{}\" does not run in the {:?} phase",
                m.config.name, phase
            )));
        }
        chain.push(m);
    }
    check_input(request)?;
    let head: RequestHead = serde_json::from_slice(request)
        .map_err(|e| Error::bad_request(format!("the request is not an AdmissionRequest: {e}")))?;
    if head.uid.is_empty() {
        return Err(Error::bad_request("the AdmissionRequest has no uid"));
    }
    let mut req = Request {
        uid: head.uid,
        bytes: Cow::Borrowed(request),
        value: OnceCell::new(),
    };
    let deadline = Deadline::after_nanos(timeout_ns);
    let mut result = AdmissionResult {
        allowed: true,
        status: None,
        module: None,
        error: None,
        patch: None,
        warnings: Vec::new(),
        audit_annotations: Vec::new(),
        report: Report::default(),
    };
    let mut mutated = false;
    for m in chain {
        let name = m.config.name.clone();
        let (verdict, took) = call_admission(m, &req, deadline, &mut result.report);
        let verdict = verdict.and_then(|v| check_verdict(v, phase, &req));
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => {
                let e = clean_failure(&Redactor::default(), e);
                if m.config.failure_policy == FailurePolicy::Ignore {
                    result.report.ignored(&name, took, e);
                    result.report.log(
                        Level::Warning,
                        &name,
                        "failurePolicy is Ignore: the request continues".into(),
                    );
                    continue;
                }
                result.error = Some(format!("module \"{name}\" failed: {e}"));
                result.report.failed(&name, took, e);
                result.allowed = false;
                result.module = Some(name);
                return Ok(result);
            }
        };
        result.warnings.extend(verdict.warnings);
        result
            .audit_annotations
            .extend(
                verdict
                    .audit_annotations
                    .into_iter()
                    .map(|(key, value)| AuditAnnotation {
                        module: name.clone(),
                        key,
                        value,
                    }),
            );
        if !verdict.allowed {
            result.report.outcome(&name, "rejected", took);
            result.allowed = false;
            result.status = Some(verdict.status.unwrap_or(Status {
                code: 403,
                ..Default::default()
            }));
            result.module = Some(name);
            return Ok(result);
        }
        match verdict.mutation {
            Some(mutation) => {
                // Applying the answer is the module's work done by the host: it gets the rest
                // of the module's time, and the bounds of `Mutation::apply`.
                let until = deadline.cut(Instant::now() + m.config.timeout.saturating_sub(took));
                let applied = mutation
                    .apply(req.object().clone(), until)
                    .and_then(|new| {
                        patch::check_identity(req.object(), &new)?;
                        Ok(new)
                    })
                    .and_then(|new| {
                        let changed = req.object() != &new;
                        if changed {
                            req.set_object(new)?;
                        }
                        Ok(changed)
                    });
                match applied {
                    Ok(changed) => {
                        mutated |= changed;
                        result.report.outcome(
                            &name,
                            if changed { "mutated" } else { "allowed" },
                            took,
                        );
                    }
                    Err(e) => {
                        // A bad patch is a failed call: apply the failure policy.
                        if m.config.failure_policy == FailurePolicy::Ignore {
                            result.report.ignored(&name, took, e);
                            continue;
                        }
                        result.error = Some(format!("module \"{name}\" failed: {e}"));
                        result.report.failed(&name, took, e);
                        result.allowed = false;
                        result.module = Some(name);
                        return Ok(result);
                    }
                }
            }
            None => result.report.outcome(&name, "allowed", took),
        }
    }
    if mutated {
        let original: Value = serde_json::from_slice(request).expect("checked above");
        let ops = json_patch::diff(original.get("object").unwrap_or(&Value::Null), req.object());
        if !ops.0.is_empty() {
            result.patch = Some(serde_json::to_value(ops).expect("a patch serialises"));
        }
    }
    Ok(result)
}

fn call_admission(
    m: &LoadedModule,
    req: &Request,
    deadline: Deadline,
    report: &mut Report,
) -> (Result<Verdict, Failure>, Duration) {
    match &m.protocol {
        Protocol::Wasi(_) => {
            let mut review = Vec::with_capacity(req.bytes.len() + 80);
            review.extend_from_slice(
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"#,
            );
            review.extend_from_slice(&req.bytes);
            review.push(b'}');
            let (answer, took) = m.call_wasi(
                Kind::Admission,
                &review,
                deadline,
                &Redactor::default(),
                report,
            );
            (answer.and_then(|r| wasi_verdict(r, &req.uid)), took)
        }
        Protocol::Kubewarden(policy) => match Slot::take(Kind::Admission) {
            Ok(_slot) => kubewarden::validate(
                &m.config,
                policy,
                m.settings.as_deref(),
                &req.bytes,
                || req.object(),
                deadline,
                report,
            ),
            Err(e) => (Err(e), Duration::ZERO),
        },
        Protocol::Rego(policy) => match Slot::take(Kind::Admission) {
            Ok(_slot) => opa::validate(
                &m.config,
                policy,
                m.settings.as_deref(),
                &req.bytes,
                deadline,
                report,
            ),
            Err(e) => (Err(e), Duration::ZERO),
        },
    }
}

/// Checks what a verdict may contain for this request: a patch only in the mutating phase, and
/// only for a request with an object; and the text bounds of [`bound_texts`].
fn check_verdict(v: Verdict, phase: Phase, req: &Request) -> Result<Verdict, Failure> {
    let v = bound_texts(v)?;
    if v.mutation.is_some() {
        if phase == Phase::Validating {
            return Err(Failure::malformed(
                "a validating module may not return a patch (configure it with mutating: true)",
            ));
        }
        if v.allowed && req.object().is_null() {
            return Err(Failure::malformed(format!(
                "the module returned a patch for a request without an object (operation {})",
                req.value()
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
            )));
        }
    }
    Ok(v)
}

/// Reads a `wasi` module's AdmissionReview answer, verified as the webhook verifies one; an
/// answer that fails the checks is malformed.
fn wasi_verdict(response: Option<Value>, uid: &str) -> Result<Verdict, Failure> {
    let Some(review) = response else {
        return Err(Failure::malformed("the module returned no response"));
    };
    let verdict = wasi_review(review, uid).map_err(Failure::malformed)?;
    Ok(Verdict {
        mutation: verdict
            .mutation
            .map(|(t, p)| Mutation::decode(&t, &p))
            .transpose()?,
        ..verdict.verdict
    })
}

/// A checked AdmissionReview answer, its patch (`patchType`, base64) still encoded.
struct Answer {
    verdict: Verdict,
    mutation: Option<(String, String)>,
}

fn wasi_review(review: Value, uid: &str) -> Result<Answer, String> {
    let api_version = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = review.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "admission.k8s.io/v1" || kind != "AdmissionReview" {
        return Err(format!(
            "expected an admission.k8s.io/v1 AdmissionReview, got apiVersion \"{api_version}\", kind \"{kind}\""
        ));
    }
    let r = review
        .get("response")
        .and_then(Value::as_object)
        .ok_or("the AdmissionReview has no response")?;
    let got_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
    if got_uid != uid {
        return Err(format!(
            "expected response.uid \"{uid}\", got \"{got_uid}\""
        ));
    }
    let allowed = r
        .get("allowed")
        .and_then(Value::as_bool)
        .ok_or("response.allowed is missing or not a boolean")?;
    let status = match r.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::Object(s)) => Some(Status {
            code: s
                .get("code")
                .and_then(Value::as_i64)
                .filter(|c| *c != 0)
                .unwrap_or(403),
            message: s
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            reason: s
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
        Some(_) => return Err("response.status is not an object".into()),
    };
    let patch = r.get("patch").filter(|v| !v.is_null());
    let patch_type = r.get("patchType").filter(|v| !v.is_null());
    let mutation = match (patch, patch_type) {
        (None, None) => None,
        (Some(_), None) => return Err("response.patch without response.patchType".into()),
        (None, Some(_)) => return Err("response.patchType without response.patch".into()),
        (Some(p), Some(t)) => {
            let p = p.as_str().ok_or("response.patch is not a base64 string")?;
            Some((t.as_str().unwrap_or("").to_string(), p.to_string()))
        }
    };
    let warnings = match r.get("warnings") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| "response.warnings is not a list of strings")?,
    };
    let audit_annotations = match r.get("auditAnnotations") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| "response.auditAnnotations is not a map of strings")?,
    };
    Ok(Answer {
        verdict: Verdict {
            allowed,
            status,
            mutation: None,
            warnings,
            audit_annotations,
        },
        mutation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureKind;
    use serde_json::json;

    #[test]
    fn wasi_verdict_checks_the_envelope() {
        let ok = json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true}});
        assert!(wasi_verdict(Some(ok), "u").unwrap().allowed);
        let cases = [
            (
                json!({"kind":"AdmissionReview","response":{"uid":"u","allowed":true}}),
                "expected an admission.k8s.io/v1",
            ),
            (
                json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"x","allowed":true}}),
                "expected response.uid",
            ),
            (
                json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u"}}),
                "allowed is missing",
            ),
            (
                json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true,"patch":"e30="}}),
                "without response.patchType",
            ),
            (
                json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true,"patch":"e30=","patchType":"Merge"}}),
                "patchType",
            ),
        ];
        for (v, want) in cases {
            let err = wasi_verdict(Some(v.clone()), "u").unwrap_err();
            assert!(err.message.contains(want), "{v}: {err}");
            assert_eq!(err.kind, FailureKind::Malformed, "{v}");
        }
        assert!(
            wasi_verdict(None, "u")
                .unwrap_err()
                .message
                .contains("no response")
        );
    }

    #[test]
    fn rejection_defaults_to_403() {
        let v = json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":false,"status":{"message":"no"}}});
        let verdict = wasi_verdict(Some(v), "u").unwrap();
        assert_eq!(verdict.status.unwrap().code, 403);
    }
}
