//! Rego policies (`type: opa` and `type: gatekeeper`) through the C ABI, with the fixture
//! policies `make rego` compiles from modules/rego/ with `opa build -t wasm`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kubewasm::ffi::*;
use serde_json::{Value, json};

/// A Pod creation request with `labels` and `containers` (name, image, privileged).
fn pod_request(namespace: &str, labels: Value, containers: &[(&str, &str, bool)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, image, privileged)| {
            json!({"name": name, "image": image, "securityContext": {"privileged": privileged}})
        })
        .collect();
    json!({
        "uid": "pod-1", "operation": "CREATE", "name": "web", "namespace": namespace,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "userInfo": {"username": "admin"},
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "web", "namespace": namespace, "labels": labels},
                   "spec": {"containers": containers}},
        "oldObject": null, "dryRun": false, "options": null
    })
}

/// A configuration with one module named `name` of `type_` from `file` with `settings`.
fn config(name: &str, type_: &str, file: &str, settings: &str) -> String {
    format!(
        "modules:\n- name: {name}\n  type: {type_}\n  module: {file}.wasm\n  settings: {settings}\n"
    )
}

fn validate(h: &H, request: &Value) -> Value {
    h.admit(KUBEWASM_PHASE_VALIDATING, &[0], request).unwrap()
}

#[test]
fn opa_policy_decides_configmaps_and_pods() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config(
            "cm",
            "opa",
            "opa-configmap",
            "{forbidden_namespaces: [prod]}",
        ),
    )
    .unwrap();
    assert_eq!(h.modules()["modules"][0]["type"], "opa");
    let cases = [
        (
            "a harmless ConfigMap",
            configmap_request(json!({"color": "blue"})),
            None,
        ),
        (
            "a ConfigMap with a password (the policy's default)",
            configmap_request(json!({"password": "hunter2", "color": "blue"})),
            Some(r#"ConfigMap cm: key "password" is not allowed"#),
        ),
        (
            "an unprivileged Pod",
            pod_request("default", json!({}), &[("app", "nginx", false)]),
            None,
        ),
        (
            "a privileged Pod in a forbidden namespace: both reasons",
            pod_request("prod", json!({}), &[("app", "nginx", true)]),
            Some(
                "Pod web: container app must not be privileged; Pods may not be created in namespace prod",
            ),
        ),
    ];
    for (what, request, rejection) in cases {
        let r = validate(&h, &request);
        match rejection {
            None => assert_eq!(r["allowed"], true, "{what}: {r}"),
            Some(message) => {
                assert_eq!(r["allowed"], false, "{what}: {r}");
                assert_eq!(r["status"]["code"], 403, "{what}: {r}");
                assert_eq!(r["status"]["message"], message, "{what}: {r}");
                assert_eq!(r["module"], "cm");
            }
        }
    }

    // Settings are the data document: they replace the policy's default list.
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config("cm", "opa", "opa-configmap", "{forbidden_keys: [token]}"),
    )
    .unwrap();
    let r = validate(&h, &configmap_request(json!({"password": "x"})));
    assert_eq!(r["allowed"], true, "{r}");
    let r = validate(&h, &configmap_request(json!({"token": "x"})));
    assert_eq!(r["allowed"], false, "{r}");
}

#[test]
fn gatekeeper_required_labels_lists_every_violation() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config(
            "labels",
            "gatekeeper",
            "gatekeeper-required-labels",
            "{labels: [{key: owner}, {key: team}, {key: env, allowedRegex: '^(dev|prod)$'}]}",
        ),
    )
    .unwrap();
    let r = validate(
        &h,
        &pod_request("default", json!({"env": "qa"}), &[("app", "nginx", false)]),
    );
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["message"],
        r#"label <env: qa> does not satisfy allowed regex: ^(dev|prod)$, you must provide label "owner", you must provide label "team""#,
        "{r}"
    );
    let ok = pod_request(
        "default",
        json!({"env": "prod", "owner": "a", "team": "b"}),
        &[("app", "nginx", false)],
    );
    assert_eq!(validate(&h, &ok)["allowed"], true);
    let mut cm = configmap_request(json!({}));
    cm["object"]["metadata"]["labels"] = json!({"owner": "a", "team": "b", "env": "dev"});
    assert_eq!(validate(&h, &cm)["allowed"], true, "ConfigMaps too");
}

#[test]
fn gatekeeper_allowed_repos_lists_every_container() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config(
            "repos",
            "gatekeeper",
            "gatekeeper-allowed-repos",
            "{repos: [registry.example.com/, ghcr.io/example/]}",
        ),
    )
    .unwrap();
    let r = validate(
        &h,
        &pod_request(
            "default",
            json!({}),
            &[
                ("ok", "registry.example.com/app:1", false),
                ("hub", "nginx:1.27", false),
                ("evil", "evil.example.org/miner", false),
            ],
        ),
    );
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap();
    let allowed = r#"["registry.example.com/", "ghcr.io/example/"]"#;
    assert_eq!(
        message,
        format!(
            "container <evil> has an invalid image repo <evil.example.org/miner>, allowed repos are {allowed}, \
             container <hub> has an invalid image repo <nginx:1.27>, allowed repos are {allowed}"
        )
    );
    let r = validate(
        &h,
        &pod_request("default", json!({}), &[("a", "ghcr.io/example/a:1", false)]),
    );
    assert_eq!(r["allowed"], true, "{r}");
}

#[test]
fn configuration_errors_name_the_field() {
    let cases = [
        (
            "modules:\n- name: m\n  type: opa\n  module: opa-configmap.wasm\n  mutating: true\n",
            "mutating",
            "must be false for type opa",
        ),
        (
            &*config("m", "opa", "opa-configmap", "[password]"),
            "settings",
            "must be a mapping for type opa",
        ),
        (
            &*config(
                "m",
                "gatekeeper",
                "gatekeeper-allowed-repos",
                "registry.example.com",
            ),
            "settings",
            "must be a mapping for type gatekeeper",
        ),
        (
            "modules:\n- name: m\n  type: rego\n  module: opa-configmap.wasm\n",
            "type",
            "must be wasi, kubewarden, opa or gatekeeper",
        ),
    ];
    for (text, field, want) in cases {
        let err = init(KUBEWASM_KIND_ADMISSION, text).err().unwrap();
        assert_eq!(err.code, KUBEWASM_ERROR_CONFIG, "{text}: {}", err.message);
        assert!(
            err.message.contains(field) && err.message.contains(want),
            "{text}: {}",
            err.message
        );
    }
}

#[test]
fn load_errors_name_the_module_and_the_problem() {
    let cases = [
        (
            config("net", "opa", "opa-missing-builtin", "{}"),
            "the policy needs builtins the host does not provide: http.send",
        ),
        (
            config("wrong", "opa", "magic-validator", "{}"),
            "is not a Rego policy compiled with `opa build -t wasm`",
        ),
        (
            "modules:\n- name: wrong\n  type: kubewarden\n  module: opa-configmap.wasm\n".into(),
            "configure it as type: opa or type: gatekeeper",
        ),
    ];
    for (text, want) in cases {
        let err = init(KUBEWASM_KIND_ADMISSION, &text).err().unwrap();
        assert_eq!(err.code, KUBEWASM_ERROR_LOAD, "{}", err.message);
        assert!(err.message.contains(want), "{}", err.message);
        assert!(err.message.contains("modules[0]"), "{}", err.message);
    }
}

/// A settings value of the wrong shape inside the mapping: the policy reports it as a
/// violation, as Gatekeeper's schema would refuse the constraint.
#[test]
fn broken_parameters_are_reported_by_the_policy() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config(
            "labels",
            "gatekeeper",
            "gatekeeper-required-labels",
            "{labels: owner}",
        ),
    )
    .unwrap();
    let r = validate(&h, &pod_request("default", json!({}), &[("a", "b", false)]));
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(
        r["status"]["message"],
        "parameters.labels must be a list of {key, allowedRegex}"
    );
}

/// A policy that runs away costs one failed call (its failurePolicy applies), within its
/// limits; the next call on the same module works.
#[test]
fn runaway_policy_fails_one_call() {
    let cases = [
        ("memoryLimit: 32Mi\n  timeout: 10s", "memory limit"),
        ("memoryLimit: 1Gi\n  timeout: 300ms", "timed out"),
    ];
    for (limits, want) in cases {
        let text = format!(
            "modules:\n- name: hostile\n  type: gatekeeper\n  module: gatekeeper-hostile.wasm\n  {limits}\n  failurePolicy: Fail\n"
        );
        let h = init(KUBEWASM_KIND_ADMISSION, &text).unwrap();
        let mut explode = pod_request("default", json!({}), &[]);
        // Parameters come from settings; put them in through a second handle instead of the
        // request: the hostile rule reads input.parameters.
        let settings_h = init(
            KUBEWASM_KIND_ADMISSION,
            &format!("{text}  settings: {{explode: true}}\n"),
        )
        .unwrap();
        let started = Instant::now();
        let r = validate(&settings_h, &explode);
        assert!(started.elapsed() < Duration::from_secs(20), "{limits}");
        assert_eq!(r["allowed"], false, "{limits}: {r}");
        let log = r.to_string();
        assert!(log.contains(want), "{limits}: {r}");
        explode["object"]["metadata"]["name"] = json!("calm");
        let r = validate(&h, &explode);
        assert_eq!(r["status"]["message"], "calm", "{limits}: {r}");
    }
}

/// The host's builtins through the real ABI: the probe policy reports what each returned.
#[test]
fn host_builtins_answer_as_opa_does() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        &config("probe", "opa", "opa-builtins", "{greeting: hello}"),
    )
    .unwrap();
    let r = validate(&h, &configmap_request(json!({})));
    let message = r["status"]["message"].as_str().unwrap();
    let got: Value = serde_json::from_str(message).unwrap();
    assert_eq!(
        got,
        json!({
            "sprintf": r#"a|7|{"k": [1, "x"]}|"q\""|ff|3.14|   ab|12  |%|%!t(string=true)"#,
            "sprintf_missing": "only %!s(MISSING)",
            "sprintf_set": r#"["a"]"#,
            "now_positive": true,
            "now_stable": true,
            "traced": true,
            "any_prefix": true,
            "count": 3,
            "hex": "6869",
            "quoted": "a\\*",
            "name": "cm",
            "settings": "hello",
        }),
        "{r}"
    );
    assert!(
        r["logs"].to_string().contains("trace: probe"),
        "trace goes to the module's log: {r}"
    );
}
