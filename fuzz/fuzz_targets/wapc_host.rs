//! The Kubewarden host calls: the interpreter guest (guests/interp.wat) runs a program taken from
//! the fuzz input, so the fuzzer decides which waPC host functions (`__host_call`,
//! `__guest_request`, `__guest_response`, `__host_response`, `__console_log`, ...), which
//! Kubewarden WASI-mode `host.call` and which WASI calls (`fd_write`, `fd_read`, `random_get`)
//! the policy makes, with which pointers, lengths and contents, and what it finally answers
//! (a ValidationResponse, possibly with a mutated object, which the library then applies).
//! Input: one selector byte (waPC or WASI mode, mutating or not, which object), then the program.
//!
//! Invariants: a well-formed request never gets an error back; a validating call or a call
//! without an object never carries a patch; a failed `Fail` module never allows; the result
//! serialises.
#![no_main]

use std::sync::OnceLock;

use kubewasm::{Handle, Kind, Phase};
use kubewasm_fuzz::{INTERP_WAT, OBJECTS, admission_request, handle, write_guest};
use libfuzzer_sys::fuzz_target;

fn admission() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        write_guest("interp.wasm", INTERP_WAT);
        write_guest(
            "interp-wasi.wasm",
            &INTERP_WAT.replace(
                ";;@METADATA@",
                r#"(@custom "io.kubewarden.metadata" "{\"protocolVersion\":\"v1\",\"executionMode\":\"wasi\",\"mutating\":true}")"#,
            ),
        );
        handle(
            Kind::Admission,
            "modules:\n\
             - {name: wapc-mutating, type: kubewarden, module: interp.wasm, mutating: true, timeout: 2s}\n\
             - {name: wapc-validating, type: kubewarden, module: interp.wasm, timeout: 2s, failurePolicy: Ignore}\n\
             - {name: wasi-mutating, type: kubewarden, module: interp-wasi.wasm, mutating: true, timeout: 2s}\n\
             - {name: wasi-mutating-ignore, type: kubewarden, module: interp-wasi.wasm, mutating: true, timeout: 2s, failurePolicy: Ignore}\n",
        )
    })
}

// Handles are built before fuzzing starts (compiling is slow with instrumentation and must
// not count against the per-input timeout).
fuzz_target!(init: {
    admission();
}, |data: &[u8]| {
    let Some((&selector, program)) = data.split_first() else {
        return;
    };
    let h = admission();
    let object = OBJECTS[(selector as usize / 4) % OBJECTS.len()];
    let (phase, id) = match selector % 4 {
        0 => (Phase::Mutating, 0),
        1 => (Phase::Validating, 1),
        2 => (Phase::Mutating, 2),
        _ => (Phase::Mutating, 3),
    };
    let request = admission_request(object, program);
    let r = h
        .admit(phase, &[id], &request, 0)
        .unwrap_or_else(|e| panic!("a well-formed AdmissionRequest was refused: {}", e.message));
    if phase == Phase::Validating || object == "null" {
        assert!(r.patch.is_none(), "a patch where none may be: {:?}", r.patch);
    }
    if r.error.is_some() {
        assert!(!r.allowed, "allowed after a failed Fail module");
    }
    serde_json::to_vec(&r).expect("the result serialises");
});
