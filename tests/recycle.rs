//! The opt-in recycle thread (`KUBEWASM_RECYCLE=1`, src/runtime/recycle.rs) through the C ABI,
//! with the example modules: every call, whether it gets an instance made ahead or its own,
//! decides as a fresh instance would. A test binary of its own, because the switch is read once
//! per process.

mod common;

use common::*;
use kubewasm::ffi::*;
use serde_json::json;

const CONFIG: &str = r#"
modules:
- name: magic-mutator
  module: magic-mutator.wasm
  mutating: true
- name: magic-validator
  module: magic-validator.wasm
- name: safe-annotations
  type: kubewarden
  module: safe-annotations.wasm
  settings:
    mandatory_annotations: [owner]
"#;

#[test]
fn every_call_decides_as_a_fresh_instance_would() {
    // SAFETY: the only test of this binary sets the variable before anything reads it.
    unsafe { std::env::set_var("KUBEWASM_RECYCLE", "1") };
    let h = init(KUBEWASM_KIND_ADMISSION, CONFIG).unwrap();
    let annotated = |data| {
        let mut r = configmap_request(data);
        r["object"]["metadata"]["annotations"] = json!({"owner": "team-a"});
        r
    };
    for round in 0..200 {
        // Spaced a little now and then, so that some calls find an instance made ahead.
        if round % 10 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let deny = round % 3 == 0;
        let data = if deny {
            json!({"not-allowed-value": format!("{round}")})
        } else {
            json!({"k": format!("{round}")})
        };
        let r = h
            .admit(KUBEWASM_PHASE_VALIDATING, &[1, 2], &annotated(data.clone()))
            .unwrap();
        assert_eq!(r["allowed"], !deny, "round {round}: {r}");
        if deny {
            assert_eq!(r["module"], "magic-validator", "round {round}");
        }
        let r = h
            .admit(
                KUBEWASM_PHASE_VALIDATING,
                &[2],
                &configmap_request(data.clone()),
            )
            .unwrap();
        assert_eq!(r["allowed"], false, "round {round}: no owner annotation");
        assert_eq!(r["module"], "safe-annotations", "round {round}");
        let r = h
            .admit(KUBEWASM_PHASE_MUTATING, &[0], &configmap_request(data))
            .unwrap();
        assert_eq!(
            r["patch"],
            json!([{"op": "add", "path": "/data/magic-value", "value": "foobar"}]),
            "round {round}"
        );
    }
    // The switch was honoured: the thread runs in this process.
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    assert!(
        threads.iter().any(|name| name.trim() == "kubewasm-recycl"),
        "{threads:?}"
    );
}
