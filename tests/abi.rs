//! The library through its public C ABI, with the fixture modules of `make fixtures`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kubewasm::ffi::*;
use serde_json::{Value, json};

const MAGIC_ADMISSION: &str = r#"
modules:
- name: magic-mutator
  module: magic-mutator.wasm
  mutating: true
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
- name: magic-validator
  module: magic-validator.wasm
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
"#;

fn outcomes(v: &Value) -> Vec<(String, String)> {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["module"].as_str().unwrap().to_string(),
                o["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn abi_version() {
    assert_eq!(kubewasm_abi_version(), KUBEWASM_ABI_VERSION);
}

#[test]
fn magic_authenticator() {
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        "modules:\n- module: magic-authenticator.wasm\n",
    )
    .unwrap();
    let r = h.authenticate(&token_review("magic-token")).unwrap();
    assert_eq!(r["status"]["authenticated"], true);
    assert_eq!(
        r["status"]["user"],
        json!({"username": "magic-user", "uid": "0", "groups": ["magic-group"]})
    );
    assert_eq!(r["module"], "magic-authenticator.wasm");
    let r = h.authenticate(&token_review("some-other-token")).unwrap();
    assert_eq!(r["status"], json!({"authenticated": false}));
    assert_eq!(
        outcomes(&r),
        vec![("magic-authenticator.wasm".into(), "unauthenticated".into())]
    );
}

#[test]
fn magic_authorizer() {
    let h = init(
        KUBEWASM_KIND_AUTHORIZATION,
        "modules:\n- module: magic-authorizer.wasm\n",
    )
    .unwrap();
    let cases = [
        (&["magic-group"][..], "configmaps", true, "allowed"),
        (&["magic-group"][..], "secrets", false, "noOpinion"),
        (&["other"][..], "configmaps", false, "noOpinion"),
    ];
    for (groups, resource, allowed, outcome) in cases {
        let r = h.authorize(&sar(groups, resource)).unwrap();
        assert_eq!(r["status"]["allowed"], allowed, "{groups:?} {resource}");
        assert!(r["status"].get("denied").is_none(), "never denies");
        assert_eq!(outcomes(&r)[0].1, outcome);
    }
}

#[test]
fn magic_mutator_and_validator() {
    let h = init(KUBEWASM_KIND_ADMISSION, MAGIC_ADMISSION).unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_MUTATING,
            &[0],
            &configmap_request(json!({"a": "b"})),
        )
        .unwrap();
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["patch"],
        json!([{"op": "add", "path": "/data/magic-value", "value": "foobar"}])
    );
    assert_eq!(
        outcomes(&r),
        vec![("magic-mutator".into(), "mutated".into())]
    );

    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[1],
            &configmap_request(json!({"a": "b"})),
        )
        .unwrap();
    assert_eq!(r["allowed"], true);
    assert!(r.get("patch").is_none());

    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[1],
            &configmap_request(json!({"not-allowed-value": "x"})),
        )
        .unwrap();
    assert_eq!(r["allowed"], false);
    assert_eq!(r["module"], "magic-validator");
    assert_eq!(
        r["status"],
        json!({"code": 403, "message": "value 'not-allowed-value' not allowed in configmap"})
    );
}

/// The benchmark's `wasm-floor` column stands in for magic-validator: floor-validator, which
/// never parses its input, must give the same answers on the ConfigMaps the benchmark creates.
#[test]
fn floor_validator_answers_like_magic_validator() {
    let config = "modules:\n- module: magic-validator.wasm\n- module: floor-validator.wasm\n";
    let h = init(KUBEWASM_KIND_ADMISSION, config).unwrap();
    let cases = [
        json!({"greeting": "hello"}),
        json!({"greeting": "hello", "not-allowed-value": "x"}),
        json!({"not-allowed-value": ""}),
        json!({}),
    ];
    for data in cases {
        let answers: Vec<Value> = [0, 1]
            .iter()
            .map(|&id| {
                h.admit(
                    KUBEWASM_PHASE_VALIDATING,
                    &[id],
                    &configmap_request(data.clone()),
                )
                .unwrap()
            })
            .collect();
        for key in ["allowed", "status", "error"] {
            assert_eq!(answers[0].get(key), answers[1].get(key), "{key} for {data}");
        }
        assert_eq!(answers[1]["outcomes"][0]["module"], "floor-validator.wasm");
    }
}

#[test]
fn mutators_chain_full_and_json_patch() {
    let config = r#"
modules:
- name: magic-mutator
  module: magic-mutator.wasm
  mutating: true
- name: annotate
  module: json-patch-mutator.wasm
  mutating: true
  settings: {annotations: {"example.com/owner": "team-a"}, labels: {tier: web}}
- name: see-both
  module: settings-admitter.wasm
"#;
    let h = init(KUBEWASM_KIND_ADMISSION, config).unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_MUTATING,
            &[0, 1],
            &configmap_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], true);
    let mut object = configmap_request(json!({}))["object"].clone();
    json_patch::patch(
        &mut object,
        &serde_json::from_value::<json_patch::Patch>(r["patch"].clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(object["data"]["magic-value"], "foobar");
    assert_eq!(
        object["metadata"]["annotations"]["example.com/owner"],
        "team-a"
    );
    assert_eq!(object["metadata"]["labels"]["tier"], "web");
    assert_eq!(
        outcomes(&r),
        vec![
            ("magic-mutator".into(), "mutated".into()),
            ("annotate".into(), "mutated".into())
        ]
    );
    // The second mutator saw the first one's result: reversed order gives the same object.
    let r2 = h
        .admit(
            KUBEWASM_PHASE_MUTATING,
            &[1, 0],
            &configmap_request(json!({})),
        )
        .unwrap();
    let mut object2 = configmap_request(json!({}))["object"].clone();
    json_patch::patch(
        &mut object2,
        &serde_json::from_value::<json_patch::Patch>(r2["patch"].clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(object, object2);
    // A module of the other phase is refused.
    let err = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({})),
        )
        .unwrap_err();
    assert_eq!(err.code, KUBEWASM_ERROR_INVALID_ARGUMENT);
}

#[test]
fn authentication_chain_first_wins() {
    let config = r#"
modules:
- name: first
  module: settings-authenticator.wasm
  settings: {token: t1, user: alice, groups: [a]}
- name: magic
  module: magic-authenticator.wasm
- name: last
  module: settings-authenticator.wasm
  settings: {token: magic-token, user: mallory}
"#;
    let h = init(KUBEWASM_KIND_AUTHENTICATION, config).unwrap();
    let r = h.authenticate(&token_review("t1")).unwrap();
    assert_eq!(r["status"]["user"]["username"], "alice");
    assert_eq!(
        outcomes(&r).len(),
        1,
        "short-circuits after the first success"
    );
    let r = h.authenticate(&token_review("magic-token")).unwrap();
    assert_eq!(r["status"]["user"]["username"], "magic-user");
    assert_eq!(r["module"], "magic");
    assert_eq!(
        outcomes(&r),
        vec![
            ("first".into(), "unauthenticated".into()),
            ("magic".into(), "authenticated".into())
        ]
    );
}

#[test]
fn authorization_chain_and_failure_policy() {
    let config = r#"
modules:
- name: broken
  module: hostile-trap.wasm
- name: magic
  module: magic-authorizer.wasm
"#;
    let h = init(KUBEWASM_KIND_AUTHORIZATION, config).unwrap();
    let r = h.authorize(&sar(&["magic-group"], "configmaps")).unwrap();
    assert_eq!(
        r["status"]["allowed"], true,
        "NoOpinion failure passes on: {r}"
    );
    assert_eq!(r["module"], "magic");
    let r = h.authorize(&sar(&["x"], "configmaps")).unwrap();
    assert_eq!(r["status"]["allowed"], false);
    assert!(
        r["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("module \"broken\" failed")
    );

    let deny = init(KUBEWASM_KIND_AUTHORIZATION, "modules:\n- {name: broken, module: hostile-trap.wasm, failurePolicy: Deny}\n- {module: magic-authorizer.wasm}\n").unwrap();
    let r = deny
        .authorize(&sar(&["magic-group"], "configmaps"))
        .unwrap();
    assert_eq!(r["status"]["allowed"], false);
    assert_eq!(r["status"]["denied"], true);
    assert_eq!(outcomes(&r).len(), 1);
}

#[test]
fn validators_stop_at_first_rejection_and_pass_warnings() {
    let config = r#"
modules:
- name: warn
  module: settings-admitter.wasm
  settings: {warnings: ["careful"], auditAnnotations: {seen: "yes"}}
- name: reject
  module: settings-admitter.wasm
  settings: {allowed: false, message: "nope", code: 422, reason: Invalid}
- name: never
  module: magic-validator.wasm
"#;
    let h = init(KUBEWASM_KIND_ADMISSION, config).unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0, 1, 2],
            &configmap_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], false);
    assert_eq!(r["module"], "reject");
    assert_eq!(
        r["status"],
        json!({"code": 422, "message": "nope", "reason": "Invalid"})
    );
    assert_eq!(r["warnings"], json!(["careful"]));
    assert_eq!(
        r["auditAnnotations"],
        json!([{"module": "warn", "key": "seen", "value": "yes"}])
    );
    assert_eq!(outcomes(&r).len(), 2);
}

#[test]
fn every_config_error_is_listed_at_once() {
    let config = r#"
modules:
- name: a
  module: magic-validator.wasm
  timeout: 5
  colour: blue
- name: a
  module: magic-validator.wasm
  failurePolicy: Sometimes
- module: ""
- name: c
  module: no-such-module.wasm
- name: b
  module: magic-mutator.wasm
  memoryLimit: 12Qi
  rules:
  - operations: [EXPLODE]
    apiGroups: [""]
    resources: [configmaps]
"#;
    let err = init(KUBEWASM_KIND_ADMISSION, config).err().unwrap();
    assert_eq!(err.code, KUBEWASM_ERROR_CONFIG);
    for want in [
        r#"modules[0] "a": field "timeout": must be a duration string"#,
        r#"modules[0] "a": field "colour": unknown field"#,
        r#"modules[1] "a": field "failurePolicy": must be Fail or Ignore"#,
        r#"modules[2]: field "module": must not be empty"#,
        r#"modules[4] "b": field "memoryLimit""#,
        r#"modules[3] "c": field "module": cannot read module file"#,
    ] {
        assert!(
            err.message.contains(want),
            "missing {want:?} in:\n{}",
            err.message
        );
    }
    // The matching fields are the caller's (the Go plugin validates the rule and reports
    // `modules[4] "b": rules[0].operations[0]: Unsupported value: "EXPLODE"`): the library
    // passes them through and does not judge them.
    assert!(!err.message.contains("EXPLODE"), "{}", err.message);
    let dup = init(
        KUBEWASM_KIND_AUTHENTICATION,
        "modules:\n- module: magic-authenticator.wasm\n- module: magic-authenticator.wasm\n",
    )
    .err()
    .unwrap();
    assert!(dup.message.contains("duplicate name"), "{}", dup.message);
}

#[test]
fn load_errors_are_listed_at_once() {
    let config = r#"
modules:
- name: missing
  module: no-such-file.wasm
- name: wrong-export
  module: magic-validator.wasm
- name: digest
  module: magic-authorizer.wasm
  sha256: "0000000000000000000000000000000000000000000000000000000000000000"
"#;
    let err = init(KUBEWASM_KIND_AUTHORIZATION, config).err().unwrap();
    assert_eq!(err.code, KUBEWASM_ERROR_LOAD);
    for want in [
        r#"modules[0] "missing""#,
        "cannot read module file",
        r#"modules[1] "wrong-export""#,
        r#"does not export the function "authz""#,
        r#"modules[2] "digest""#,
        "sha256 mismatch",
    ] {
        assert!(
            err.message.contains(want),
            "missing {want:?} in:\n{}",
            err.message
        );
    }
}

#[test]
fn admission_configuration_document_inline_and_path() {
    let inline = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: Other\n  path: ignored.yaml\n- name: WASM\n  configuration:\n{}",
        MAGIC_ADMISSION
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let h = init(KUBEWASM_KIND_ADMISSION, &inline).unwrap();
    assert_eq!(h.modules()["modules"].as_array().unwrap().len(), 2);

    let dir = std::env::temp_dir().join(format!("kubewasm-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = fixtures();
    std::fs::write(
        dir.join("wasm.yaml"),
        format!(
            "modules:\n- module: {}\n",
            fixtures.join("magic-validator.wasm").display()
        ),
    )
    .unwrap();
    let doc = format!(
        "{{\"apiVersion\":\"apiserver.config.k8s.io/v1\",\"kind\":\"AdmissionConfiguration\",\"plugins\":[{{\"name\":\"WASM\",\"path\":\"{}\"}}]}}",
        dir.join("wasm.yaml").display()
    );
    let h = init(KUBEWASM_KIND_ADMISSION, &doc).unwrap();
    let m = h.modules();
    assert_eq!(m["modules"][0]["name"], "magic-validator.wasm");
    assert_eq!(m["modules"][0]["failurePolicy"], "Fail");
    assert_eq!(m["modules"][0]["timeout"], "10s");
    // The webhook defaults of the matching fields are the Go plugin's to apply.
    assert!(m["modules"][0].get("matchPolicy").is_none());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn hostile_modules_are_bounded_failed_calls() {
    let cases = [
        ("hostile-loop.wasm", "timed out after 300ms", "timeout"),
        ("hostile-memory.wasm", "memory", "memoryLimit"),
        (
            "hostile-trap.wasm",
            "hostile-trap: panic on purpose",
            "trap",
        ),
        ("hostile-garbage.wasm", "malformed output", "malformed"),
        ("hostile-output.wasm", "output too large", "outputLimit"),
        ("hostile-exit.wasm", "exited with code 3", "moduleError"),
        ("hostile-stack.wasm", "call stack exhausted", "trap"),
    ];
    for (file, want, failure) in cases {
        let config = format!("modules:\n- module: {file}\n  timeout: 300ms\n  memoryLimit: 16Mi\n");
        let authn = init(KUBEWASM_KIND_AUTHENTICATION, &config).unwrap();
        let started = Instant::now();
        let r = authn.authenticate(&token_review("magic-token")).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{file} took {:?}",
            started.elapsed()
        );
        assert_eq!(r["status"]["authenticated"], false, "{file}: {r}");
        assert!(
            r["outcomes"][0]["error"].as_str().unwrap().contains(want),
            "{file}: {r}"
        );
        assert_eq!(r["outcomes"][0]["outcome"], "error", "{file}: {r}");
        assert_eq!(r["outcomes"][0]["failure"], failure, "{file}: {r}");

        let authz = init(KUBEWASM_KIND_AUTHORIZATION, &config).unwrap();
        let r = authz
            .authorize(&sar(&["system:masters"], "secrets"))
            .unwrap();
        assert_eq!(r["status"]["allowed"], false, "{file}: {r}");

        let admission = init(KUBEWASM_KIND_ADMISSION, &config).unwrap();
        let r = admission
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[0],
                &configmap_request(json!({})),
            )
            .unwrap();
        assert_eq!(r["allowed"], false, "{file}: {r}");
        assert!(r["error"].as_str().unwrap().contains(want), "{file}: {r}");
        assert_eq!(r["outcomes"][0]["failure"], failure, "{file}: {r}");
        let ignore = init(
            KUBEWASM_KIND_ADMISSION,
            &format!("{config}  failurePolicy: Ignore\n"),
        )
        .unwrap();
        let r = ignore
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[0],
                &configmap_request(json!({})),
            )
            .unwrap();
        assert_eq!(r["allowed"], true, "{file}: {r}");
        assert_eq!(r["outcomes"][0]["outcome"], "ignored");
        assert_eq!(r["outcomes"][0]["failure"], failure, "{file}: {r}");
    }
}

#[test]
fn loop_stops_within_its_timeout() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        "modules:\n- module: hostile-loop.wasm\n  timeout: 200ms\n",
    )
    .unwrap();
    let started = Instant::now();
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({})),
        )
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    assert!(r["error"].as_str().unwrap().contains("timed out"));
    // The caller's own bound is shorter: it wins (the message names the limit applied).
    let input = serde_json::to_vec(&configmap_request(json!({}))).unwrap();
    let r = h
        .admit_raw(KUBEWASM_PHASE_VALIDATING, &[0], &input, 50_000_000)
        .unwrap();
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 50ms"),
        "{r}"
    );
}

#[test]
fn eight_threads_share_one_handle() {
    let h = init(KUBEWASM_KIND_ADMISSION, MAGIC_ADMISSION).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let h = &h;
            s.spawn(move || {
                for i in 0..25 {
                    let bad = (t + i) % 2 == 0;
                    let data = if bad {
                        json!({"not-allowed-value": "1"})
                    } else {
                        json!({"k": format!("{t}-{i}")})
                    };
                    let r = h
                        .admit(KUBEWASM_PHASE_VALIDATING, &[1], &configmap_request(data))
                        .unwrap();
                    assert_eq!(r["allowed"], !bad);
                    let r = h
                        .admit(
                            KUBEWASM_PHASE_MUTATING,
                            &[0],
                            &configmap_request(json!({"k": format!("{t}-{i}")})),
                        )
                        .unwrap();
                    assert_eq!(r["patch"][0]["path"], "/data/magic-value");
                }
            });
        }
    });
}

#[test]
fn bad_arguments_are_errors_not_crashes() {
    let h = init(KUBEWASM_KIND_ADMISSION, MAGIC_ADMISSION).unwrap();
    let null = std::ptr::null::<u8>();
    let one = [1u32];
    let unknown = [7u32];
    /// (handle, phase, module ids, request, expected code)
    type Case<'a> = (
        *mut kubewasm_handle,
        u32,
        &'a [u32],
        (*const u8, usize),
        u32,
    );
    let cases: [Case; 5] = [
        (
            std::ptr::null_mut(),
            1,
            &[],
            (null, 0),
            KUBEWASM_ERROR_INVALID_ARGUMENT,
        ),
        (h.raw(), 9, &[], (null, 0), KUBEWASM_ERROR_INVALID_ARGUMENT),
        (h.raw(), 2, &one, (null, 5), KUBEWASM_ERROR_INVALID_ARGUMENT),
        (
            h.raw(),
            2,
            &unknown,
            (b"{}".as_ptr(), 2),
            KUBEWASM_ERROR_INVALID_ARGUMENT,
        ),
        (
            h.raw(),
            2,
            &one,
            (b"{nope".as_ptr(), 5),
            KUBEWASM_ERROR_BAD_REQUEST,
        ),
    ];
    let (mut p, mut l) = (std::ptr::null_mut(), 0usize);
    for (i, (handle, phase, ids, (req, req_len), want)) in cases.into_iter().enumerate() {
        // SAFETY: deliberately bad arguments the library must reject without touching them.
        let e = unsafe {
            kubewasm_admit(
                handle,
                phase,
                ids.as_ptr(),
                ids.len(),
                req,
                req_len,
                0,
                &mut p,
                &mut l,
            )
        };
        // SAFETY: e is a live error (or NULL, which the assertion catches).
        unsafe {
            assert_eq!(kubewasm_error_code(e), want, "case {i}");
            kubewasm_error_free(e);
        }
    }
    // A misaligned module_ids is refused, not read.
    let words = [0u32; 2];
    let misaligned = (words.as_ptr() as *const u8).wrapping_add(1) as *const u32;
    // SAFETY: the library must reject the pointer before reading through it.
    unsafe {
        let e = kubewasm_admit(
            h.raw(),
            2,
            misaligned,
            1,
            b"{}".as_ptr(),
            2,
            0,
            &mut p,
            &mut l,
        );
        assert_eq!(
            kubewasm_error_code(e),
            KUBEWASM_ERROR_INVALID_ARGUMENT,
            "misaligned"
        );
        kubewasm_error_free(e);
    }
    // SAFETY: as above.
    unsafe {
        let e = kubewasm_authenticate(h.raw(), b"{}".as_ptr(), 2, 0, &mut p, &mut l);
        assert_eq!(
            kubewasm_error_code(e),
            KUBEWASM_ERROR_INVALID_ARGUMENT,
            "wrong kind"
        );
        kubewasm_error_free(e);
        let e = kubewasm_init(99, null, 0, null, 0, std::ptr::null_mut());
        assert_eq!(kubewasm_error_code(e), KUBEWASM_ERROR_INVALID_ARGUMENT);
        kubewasm_error_free(e);
        kubewasm_free(std::ptr::null_mut());
        kubewasm_bytes_free(std::ptr::null_mut(), 0);
        kubewasm_error_free(std::ptr::null_mut());
    }
}

#[test]
fn debug_logs_redact_the_token() {
    let h = init(KUBEWASM_KIND_AUTHENTICATION, "modules:\n- {module: magic-authenticator.wasm, debug: true}\n- {module: hostile-trap.wasm}\n").unwrap();
    let secret = "s3cr3t-t0ken-value";
    let r = h.authenticate(&token_review(secret)).unwrap();
    let text = r.to_string();
    assert!(!text.contains(secret), "token leaked: {text}");
    assert!(text.contains("<redacted>"), "{text}");
    assert!(
        r["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["level"] == "debug")
    );
}
