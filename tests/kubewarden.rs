//! Kubewarden policies (`type: kubewarden`) through the C ABI, with the fixture policies of
//! `make policies` (modules/policies/).

mod common;

use std::time::{Duration, Instant};

use common::*;
use kubewasm::ffi::*;
use serde_json::{Value, json};

/// The user's example configuration, verbatim.
const USER_EXAMPLE: &str = r#"
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: safe-annotations
      type: kubewarden
      module: /etc/kubernetes/wasm/safe-annotations.wasm
      settings:
        mandatory_annotations:
        - puzzle.ch/owner
      rules:
      - operations: ["CREATE", "UPDATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["configmaps", "namespaces"]
"#;

fn with_annotations(mut request: Value, annotations: Value) -> Value {
    request["object"]["metadata"]["annotations"] = annotations;
    request
}

fn namespace_request(annotations: Value) -> Value {
    json!({
        "uid": "ns-1", "operation": "CREATE", "name": "team-a",
        "kind": {"group": "", "version": "v1", "kind": "Namespace"},
        "resource": {"group": "", "version": "v1", "resource": "namespaces"},
        "userInfo": {"username": "admin"},
        "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "annotations": annotations}},
        "oldObject": null, "options": null, "dryRun": false
    })
}

/// Installs the fixture where the user's example expects it: /etc/kubernetes/wasm (as root,
/// as in CI), else a copy of the example with only the path changed.
fn user_example() -> String {
    let fixture = fixtures().join("safe-annotations.wasm");
    let target = std::path::Path::new("/etc/kubernetes/wasm/safe-annotations.wasm");
    let installed = std::fs::create_dir_all(target.parent().unwrap()).is_ok()
        && (std::fs::read(target).ok() == std::fs::read(&fixture).ok()
            || std::fs::copy(&fixture, target).is_ok());
    if installed {
        USER_EXAMPLE.to_string()
    } else {
        USER_EXAMPLE.replace(
            "/etc/kubernetes/wasm/safe-annotations.wasm",
            fixture.to_str().unwrap(),
        )
    }
}

#[test]
fn user_example_safe_annotations() {
    let h = init(KUBEWASM_KIND_ADMISSION, &user_example()).unwrap();
    let modules = h.modules();
    assert_eq!(modules["modules"][0]["type"], "kubewarden");
    assert_eq!(
        modules["modules"][0]["rules"][0]["resources"],
        json!(["configmaps", "namespaces"])
    );

    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["module"], "safe-annotations");
    assert_eq!(
        r["status"]["message"],
        "The following mandatory annotations are missing: puzzle.ch/owner"
    );

    let owned = with_annotations(
        configmap_request(json!({})),
        json!({"puzzle.ch/owner": "team-a"}),
    );
    let r = h.admit(KUBEWASM_PHASE_VALIDATING, &[0], &owned).unwrap();
    assert_eq!(r["allowed"], true, "{r}");

    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &namespace_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], false);
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &namespace_request(json!({"puzzle.ch/owner": "x"})),
        )
        .unwrap();
    assert_eq!(
        r["allowed"], true,
        "null options are omitted for the SDK: {r}"
    );
}

#[test]
fn invalid_settings_fail_at_init() {
    let config = r#"
modules:
- name: bad-settings
  type: kubewarden
  module: safe-annotations.wasm
  settings: {mandatory_annotations: [a], denied_annotations: [a]}
"#;
    let err = init(KUBEWASM_KIND_ADMISSION, config).err().unwrap();
    assert_eq!(err.code, KUBEWASM_ERROR_LOAD);
    assert!(
        err.message.contains(r#"modules[0] "bad-settings""#),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("invalid settings: Provided settings are not valid"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("cannot be mandatory and denied at the same time"),
        "{}",
        err.message
    );
}

#[test]
fn mutating_policy_patch_warnings_and_audit_annotations() {
    let config = r#"
modules:
- name: annotate
  type: kubewarden
  module: annotate.wasm
  mutating: true
  settings: {annotations: {"puzzle.ch/owner": "platform"}}
"#;
    let h = init(KUBEWASM_KIND_ADMISSION, config).unwrap();
    let r = h
        .admit(KUBEWASM_PHASE_MUTATING, &[0], &configmap_request(json!({})))
        .unwrap();
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["patch"],
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"puzzle.ch/owner": "platform"}}])
    );
    assert_eq!(
        r["warnings"],
        json!(["annotate: set annotations puzzle.ch/owner"])
    );
    assert_eq!(
        r["auditAnnotations"],
        json!([{"module": "annotate", "key": "annotations-set", "value": "puzzle.ch/owner"}])
    );
    // Already annotated: the policy returns the same object, which is no patch.
    let done = with_annotations(
        configmap_request(json!({})),
        json!({"puzzle.ch/owner": "platform"}),
    );
    let r = h.admit(KUBEWASM_PHASE_MUTATING, &[0], &done).unwrap();
    assert!(r.get("patch").is_none(), "{r}");
    // A mutation on DELETE is refused.
    let mut delete = configmap_request(json!({}));
    delete["operation"] = json!("DELETE");
    delete["oldObject"] = delete["object"].take();
    let r = h.admit(KUBEWASM_PHASE_MUTATING, &[0], &delete).unwrap();
    assert_eq!(r["allowed"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("Incoming object is null"),
        "{r}"
    );
}

#[test]
fn unsupported_capability_is_a_clear_rejection() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        "modules:\n- {name: ctx, type: kubewarden, module: capability-caller.wasm}\n",
    )
    .unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], false);
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("Cannot process Wasm guest request: callback channel not provided"),
        "{message}"
    );
}

#[test]
fn policy_logs_come_back_at_their_level() {
    let h = init(KUBEWASM_KIND_ADMISSION, "modules:\n- {name: logger, type: kubewarden, module: logger.wasm, settings: {message: hello}}\n").unwrap();
    let r = h
        .admit(
            KUBEWASM_PHASE_VALIDATING,
            &[0],
            &configmap_request(json!({})),
        )
        .unwrap();
    assert_eq!(r["allowed"], true, "{r}");
    let levels: Vec<&str> = r["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["module"] == "logger" && l["message"].as_str().unwrap().starts_with("hello"))
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["debug", "info", "warning", "error"]);
}

#[test]
fn limits_apply_to_kubewarden_modules() {
    let cases = [
        ("loop", "timed out after 2s", "timeout"),
        ("allocate", "memory", "memoryLimit"),
        ("panic", "panic on purpose", "trap"),
        ("garbage", "malformed ValidationResponse", "malformed"),
        ("huge", "output too large", "outputLimit"),
        ("error", "guest error on purpose", "moduleError"),
    ];
    for (action, want, failure) in cases {
        let config = format!(
            "modules:\n- {{name: h, type: kubewarden, module: hostile-policy.wasm, timeout: 2s, memoryLimit: 32Mi, settings: {{action: {action}}}}}\n"
        );
        let h = init(KUBEWASM_KIND_ADMISSION, &config).unwrap();
        let started = Instant::now();
        let r = h
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[0],
                &configmap_request(json!({})),
            )
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{action}: {:?}",
            started.elapsed()
        );
        assert_eq!(r["allowed"], false, "{action}: {r}");
        assert!(r["error"].as_str().unwrap().contains(want), "{action}: {r}");
        assert_eq!(r["outcomes"][0]["failure"], failure, "{action}: {r}");
    }
    // At init, validate_settings is bounded as well.
    let err = init(
        KUBEWASM_KIND_ADMISSION,
        "modules:\n- {name: h, type: kubewarden, module: hostile-policy.wasm, timeout: 300ms, settings: {settings_action: loop}}\n",
    )
    .err()
    .unwrap();
    assert!(err.message.contains("timed out"), "{}", err.message);
}

#[test]
fn metadata_is_checked_against_the_configuration() {
    let cases = [
        (
            "annotate-annotated.wasm",
            "mutating: false",
            "declares it mutating",
        ),
        (
            "safe-annotations-opa.wasm",
            "mutating: false",
            "unsupported execution mode \"opa\"",
        ),
        (
            "safe-annotations-unknown-protocol.wasm",
            "mutating: false",
            "protocolVersion",
        ),
    ];
    for (file, extra, want) in cases {
        let config =
            format!("modules:\n- {{name: p, type: kubewarden, module: {file}, {extra}}}\n");
        let err = init(KUBEWASM_KIND_ADMISSION, &config).err().unwrap();
        assert!(err.message.contains(want), "{file}: {}", err.message);
    }
    assert!(
        init(
            KUBEWASM_KIND_ADMISSION,
            "modules:\n- {type: kubewarden, module: safe-annotations-annotated.wasm}\n"
        )
        .is_ok()
    );
    assert!(
        init(
            KUBEWASM_KIND_ADMISSION,
            "modules:\n- {type: kubewarden, module: annotate-annotated.wasm, mutating: true}\n"
        )
        .is_ok()
    );
}

/// The Go policy in both of Kubewarden's execution modes: waPC (`_start` ends with exit 0,
/// then `__guest_call`) and WASI (argv, stdin/stdout; selected by its metadata).
#[test]
fn go_policy_runs_in_both_execution_modes() {
    for file in ["go-mandatory-labels.wasm", "go-mandatory-labels-wasi.wasm"] {
        let config = format!(
            "modules:\n- {{name: labels, type: kubewarden, module: {file}, settings: {{mandatory_labels: [app, tier]}}}}\n"
        );
        let h = init(KUBEWASM_KIND_ADMISSION, &config).unwrap();
        let r = h
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[0],
                &configmap_request(json!({})),
            )
            .unwrap();
        assert_eq!(r["allowed"], false, "{file}: {r}");
        assert_eq!(
            r["status"]["message"], "The following mandatory labels are missing: app,tier",
            "{file}"
        );
        let mut labelled = configmap_request(json!({}));
        labelled["object"]["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
        let r = h.admit(KUBEWASM_PHASE_VALIDATING, &[0], &labelled).unwrap();
        assert_eq!(r["allowed"], true, "{file}: {r}");
        let err = init(KUBEWASM_KIND_ADMISSION, &config.replace("[app, tier]", "3"))
            .err()
            .unwrap();
        assert!(
            err.message.contains("invalid settings"),
            "{file}: {}",
            err.message
        );
    }
}
