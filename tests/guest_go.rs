//! The Go guest SDK's example modules (`modules/guest-go/examples`, built by `make fixtures-go`
//! to `build/modules/go-*.wasm`) through the C ABI: all three steps, a mutation included. A Go
//! `wasip1` module needs `argv[0]` and `poll_oneoff` on clocks from the host, which these tests
//! therefore cover too.

mod common;

use std::time::Instant;

use common::*;
use kubewasm::ffi::*;
use serde_json::{Value, json};

/// Initialises a handle and says how long loading (compiling) took.
fn load(kind: u32, config: &str) -> H {
    let dir = fixtures();
    for name in [
        "go-authenticator",
        "go-authorizer",
        "go-validator",
        "go-mutator",
    ] {
        assert!(
            dir.join(format!("{name}.wasm")).exists(),
            "{name}.wasm is missing in {}: run `make fixtures-go`",
            dir.display()
        );
    }
    let started = Instant::now();
    let h = init(kind, config).unwrap();
    eprintln!("loaded in {:?}: {config}", started.elapsed());
    h
}

fn outcome(r: &Value) -> (&str, &str) {
    let o = &r["outcomes"][0];
    (
        o["outcome"].as_str().unwrap_or_default(),
        o["error"].as_str().unwrap_or_default(),
    )
}

#[test]
fn go_authenticator() {
    let h = load(
        KUBEWASM_KIND_AUTHENTICATION,
        "modules:\n- module: go-authenticator.wasm\n  settings: {ignored: true}\n",
    );
    let started = Instant::now();
    let r = h.authenticate(&token_review("magic-token")).unwrap();
    eprintln!("first call in {:?}", started.elapsed());
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    assert_eq!(
        r["status"]["user"],
        json!({"username": "magic-user", "uid": "0", "groups": ["magic-group"]})
    );
    let started = Instant::now();
    let r = h.authenticate(&token_review("some-other-token")).unwrap();
    eprintln!("second call in {:?}", started.elapsed());
    assert_eq!(r["status"], json!({"authenticated": false}), "{r}");
    assert_eq!(outcome(&r).0, "unauthenticated", "{r}");
    assert!(!r.to_string().contains("some-other-token"), "{r}");

    let r = h
        .authenticate(
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}}),
        )
        .unwrap();
    assert_eq!(r["status"], json!({"authenticated": false}), "{r}");
    assert_eq!(
        outcome(&r),
        ("error", "module error: no token in request"),
        "{r}"
    );
}

#[test]
fn go_authorizer() {
    let h = load(
        KUBEWASM_KIND_AUTHORIZATION,
        "modules:\n- module: go-authorizer.wasm\n",
    );
    let cases = [
        (&["magic-group"][..], "configmaps", true, "allowed"),
        (&["magic-group"][..], "secrets", false, "noOpinion"),
        (&["other"][..], "configmaps", false, "noOpinion"),
    ];
    for (groups, resource, allowed, want) in cases {
        let r = h.authorize(&sar(groups, resource)).unwrap();
        assert_eq!(
            r["status"]["allowed"], allowed,
            "{groups:?} {resource}: {r}"
        );
        assert_eq!(outcome(&r).0, want, "{groups:?} {resource}: {r}");
    }
}

const GO_ADMISSION: &str = r#"
modules:
- name: go-mutator
  module: go-mutator.wasm
  mutating: true
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
- name: go-validator
  module: go-validator.wasm
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
"#;

#[test]
fn go_mutator_and_validator() {
    let h = load(KUBEWASM_KIND_ADMISSION, GO_ADMISSION);
    let r = h
        .admit(
            KUBEWASM_PHASE_MUTATING,
            &[0],
            &configmap_request(json!({"a": "b"})),
        )
        .unwrap();
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(
        r["patch"],
        json!([{"op": "add", "path": "/data/magic-value", "value": "foobar"}]),
        "{r}"
    );
    assert_eq!(outcome(&r).0, "mutated", "{r}");

    // No data at all: the patch adds the map.
    let mut request = configmap_request(json!(null));
    request["object"].as_object_mut().unwrap().remove("data");
    let r = h.admit(KUBEWASM_PHASE_MUTATING, &[0], &request).unwrap();
    assert_eq!(
        r["patch"],
        json!([{"op": "add", "path": "/data", "value": {"magic-value": "foobar"}}]),
        "{r}"
    );

    let cases = [
        (json!({"a": "b"}), true, Value::Null),
        (
            json!({"not-allowed-value": "x"}),
            false,
            json!({"code": 403, "message": "value 'not-allowed-value' not allowed in configmap"}),
        ),
    ];
    for (data, allowed, status) in cases {
        let r = h
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[1],
                &configmap_request(data.clone()),
            )
            .unwrap();
        assert_eq!(r["allowed"], allowed, "{data}: {r}");
        assert_eq!(r["status"], status, "{data}: {r}");
        assert!(r.get("patch").is_none(), "{data}: {r}");
    }

    // Not a ConfigMap: the module's error fails the call (failurePolicy Fail).
    let mut request = configmap_request(json!({}));
    request["object"]["kind"] = json!("Secret");
    let r = h.admit(KUBEWASM_PHASE_VALIDATING, &[1], &request).unwrap();
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(
        outcome(&r),
        (
            "error",
            "module error: expected a v1 ConfigMap, got apiVersion 'v1' kind 'Secret'"
        ),
        "{r}"
    );
}
