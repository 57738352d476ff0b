//! The bounds of `kubewasm::limits` through the C ABI: every answer of the `hostile-answer`
//! fixture is one failed call that names its bound (or text cut and cleaned), the failure
//! policy applies, and the next request is served normally.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kubewasm::ffi::*;
use kubewasm::limits::{MAX_DEBUG_LINE, MAX_MESSAGE, MAX_WARNING};
use serde_json::{Value, json};

const RULES: &str = r#"
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]"#;

/// A configuration of `hostile-answer` with `settings`, then `magic-validator`'s twin in the
/// same phase (`settings-admitter`, which admits), to show the chain goes on afterwards.
fn hostile(mutating: bool, settings: Value, extra: &str) -> String {
    format!(
        "modules:\n- name: hostile\n  module: hostile-answer.wasm\n  memoryLimit: 256Mi\n  mutating: {mutating}\n  settings: {settings}\n{extra}{RULES}\n"
    )
}

fn admit(config: &str, phase: u32) -> Value {
    let h = init(KUBEWASM_KIND_ADMISSION, config).unwrap();
    let started = Instant::now();
    let r = h
        .admit(phase, &[0], &configmap_request(json!({"a": "b"})))
        .unwrap();
    // Only a guard against a hang: each case is a bounded failed call.
    assert!(started.elapsed() < Duration::from_secs(20), "{config}");
    r
}

#[test]
fn answers_past_a_bound_are_failed_calls_naming_it() {
    let cases = [
        (
            true,
            json!({"attack": "patch-copies"}),
            "the accumulated copy size limit",
        ),
        (
            true,
            json!({"attack": "patch-depth"}),
            "levels deep, more than the 100 allowed",
        ),
        (
            true,
            json!({"attack": "patch-operations"}),
            "20000 operations, more than the 10000 allowed",
        ),
        (
            true,
            json!({"attack": "patch-huge"}),
            "the mutated object is larger than the 8388608 bytes allowed",
        ),
        (
            false,
            json!({"attack": "warnings"}),
            "1000 warnings, more than the 50 allowed",
        ),
        (
            false,
            json!({"attack": "annotations"}),
            "1000 audit annotations, more than the 50 allowed",
        ),
        // The WASI host refuses the request (EINVAL = 28) instead of allocating for it.
        (
            false,
            json!({"attack": "iovecs"}),
            "fd_write returned errno 28",
        ),
        (
            false,
            json!({"attack": "random"}),
            "random_get returned errno 28",
        ),
    ];
    for (mutating, settings, want) in cases {
        let phase = if mutating {
            KUBEWASM_PHASE_MUTATING
        } else {
            KUBEWASM_PHASE_VALIDATING
        };
        let r = admit(&hostile(mutating, settings.clone(), ""), phase);
        assert_eq!(r["allowed"], false, "{settings}: {r}");
        assert_eq!(r["outcomes"][0]["outcome"], "error", "{settings}: {r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.contains(want), "{settings}: {error}");
        assert!(r.get("patch").is_none(), "{settings}: {r}");

        // failurePolicy: Ignore skips the module, and the request goes on unchanged.
        let r = admit(
            &hostile(mutating, settings.clone(), "  failurePolicy: Ignore\n"),
            phase,
        );
        assert_eq!(r["allowed"], true, "{settings}: {r}");
        assert_eq!(r["outcomes"][0]["outcome"], "ignored", "{settings}: {r}");
        assert!(r.get("patch").is_none(), "{settings}: {r}");
    }
    // Below the bounds the same shapes are served.
    let r = admit(
        &hostile(true, json!({"attack": "patch-copies", "copies": 5}), ""),
        KUBEWASM_PHASE_MUTATING,
    );
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["outcomes"][0]["outcome"], "mutated", "{r}");
    let r = admit(
        &hostile(
            false,
            json!({"attack": "warnings", "count": 3, "size": 5000}),
            "",
        ),
        KUBEWASM_PHASE_VALIDATING,
    );
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 3, "{r}");
    assert!(
        warnings
            .iter()
            .all(|w| w.as_str().unwrap().len() <= MAX_WARNING + 20)
    );
}

/// The reliability issue's case: 20 copies doubling a 1 KiB string would need 1 GiB; the call
/// fails within its timeout, and the next request on the same handle is served.
#[test]
fn doubling_copies_fail_fast_and_the_next_request_is_served() {
    let config = format!(
        "{}- name: magic-mutator\n  module: magic-mutator.wasm\n  mutating: true\n{RULES}\n",
        hostile(
            true,
            json!({"attack": "patch-copies"}),
            "  failurePolicy: Ignore\n"
        )
    );
    let h = init(KUBEWASM_KIND_ADMISSION, &config).unwrap();
    let started = Instant::now();
    let r = h
        .admit(
            KUBEWASM_PHASE_MUTATING,
            &[0, 1],
            &configmap_request(json!({"a": "b"})),
        )
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["outcomes"][0]["outcome"], "ignored", "{r}");
    assert_eq!(r["outcomes"][1]["outcome"], "mutated", "{r}");
    let patch = r["patch"].to_string();
    assert!(patch.contains("magic"), "{r}");
    assert!(!patch.contains("k20"), "{r}");
}

#[test]
fn module_text_is_cut_and_cleaned() {
    let r = admit(
        &hostile(false, json!({"attack": "text"}), ""),
        KUBEWASM_PHASE_VALIDATING,
    );
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["outcomes"][0]["outcome"], "rejected");
    for field in ["message", "reason"] {
        let text = r["status"][field].as_str().unwrap();
        assert!(
            text.len() <= MAX_MESSAGE + 20,
            "{field}: {} bytes",
            text.len()
        );
        assert!(text.ends_with("(truncated)"), "{field}");
        assert!(!text.chars().any(char::is_control), "{field}: {text:?}");
    }

    let authz = init(
        KUBEWASM_KIND_AUTHORIZATION,
        "modules:\n- module: hostile-answer.wasm\n  memoryLimit: 256Mi\n  settings: {attack: text}\n",
    )
    .unwrap();
    let r = authz.authorize(&sar(&["x"], "pods")).unwrap();
    assert_eq!(r["status"]["denied"], true, "{r}");
    let reason = r["status"]["reason"].as_str().unwrap();
    assert!(reason.len() <= MAX_MESSAGE + 20 && !reason.chars().any(char::is_control));
}

#[test]
fn debug_lines_and_errors_are_cut_and_cleaned() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &hostile(false, json!({"attack": "text"}), "  debug: true\n"),
    )
    .unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({"a": "b"})),
        )
        .unwrap();
    let logs = r["logs"].as_array().unwrap();
    assert!(!logs.is_empty(), "{r}");
    for line in logs {
        let m = line["message"].as_str().unwrap();
        assert!(m.len() <= MAX_DEBUG_LINE + 20, "{} bytes", m.len());
        assert!(!m.chars().any(char::is_control), "{m:?}");
    }
}

#[test]
fn authentication_answers_are_bounded() {
    let token = "canary-token-3f9b2c";
    let cases = [
        (json!({"attack": "user-token"}), "contains the bearer token"),
        (
            json!({"attack": "user-huge"}),
            "more than the 65536 allowed",
        ),
    ];
    for (settings, want) in cases {
        let config = format!(
            "modules:\n- module: hostile-answer.wasm\n  memoryLimit: 256Mi\n  settings: {settings}\n- module: magic-authenticator.wasm\n"
        );
        let h = init(KUBEWASM_KIND_AUTHENTICATION, &config).unwrap();
        let r = h.authenticate(&token_review(token)).unwrap();
        assert_eq!(r["status"]["authenticated"], false, "{settings}: {r}");
        assert_eq!(r["outcomes"][0]["outcome"], "error", "{settings}: {r}");
        let error = r["outcomes"][0]["error"].as_str().unwrap();
        assert!(error.contains(want), "{settings}: {error}");
        assert!(!r.to_string().contains(token), "{settings}: {r}");
        // The next module is still consulted, and a good token still works.
        let r = h.authenticate(&token_review("magic-token")).unwrap();
        assert_eq!(r["outcomes"][1]["outcome"], "authenticated", "{r}");
    }
}
