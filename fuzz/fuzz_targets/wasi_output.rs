//! Module output of the `wasi` protocol, end to end: the fuzz input is what the module writes to
//! stdout (the echo guest writes it byte for byte), so the library parses it as the output
//! envelope, checks it as an AdmissionReview / TokenReview / SubjectAccessReview answer, decodes
//! and applies its patch (JSONPatch or Full) to the request's object, chains mutations, and
//! computes the final patch. Input: one selector byte (which call, which object), then the output.
//!
//! Invariants: a well-formed request never gets an error back (a bad answer is a failed call
//! that follows failurePolicy); a validating call or a call without an object never carries a
//! patch; a failed `Fail` module never allows; the result serialises as the C ABI returns it.
#![no_main]

use std::sync::OnceLock;

use kubewasm::{Handle, Kind, Phase};
use kubewasm_fuzz::{ECHO_WAT, OBJECTS, admission_request, handle, marker, write_guest};
use libfuzzer_sys::fuzz_target;

struct Setup {
    admission: Handle,
    authentication: Handle,
    authorization: Handle,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        write_guest("echo.wasm", ECHO_WAT);
        Setup {
            admission: handle(
                Kind::Admission,
                "modules:\n\
                 - {name: mutate-fail, module: echo.wasm, mutating: true, timeout: 2s}\n\
                 - {name: mutate-ignore, module: echo.wasm, mutating: true, failurePolicy: Ignore, timeout: 2s}\n\
                 - {name: validate, module: echo.wasm, timeout: 2s}\n",
            ),
            authentication: handle(
                Kind::Authentication,
                "modules:\n- {name: echo, module: echo.wasm, timeout: 2s}\n",
            ),
            authorization: handle(
                Kind::Authorization,
                "modules:\n- {name: echo, module: echo.wasm, timeout: 2s}\n",
            ),
        }
    })
}

// Handles are built before fuzzing starts (compiling is slow with instrumentation and must
// not count against the per-input timeout).
fuzz_target!(init: {
    setup();
}, |data: &[u8]| {
    let Some((&selector, output)) = data.split_first() else {
        return;
    };
    let s = setup();
    let object = OBJECTS[(selector as usize / 8) % OBJECTS.len()];
    let (phase, ids): (Phase, &[u32]) = match selector % 8 {
        0 | 1 => (Phase::Mutating, &[0]),
        2 => (Phase::Mutating, &[1]),
        3 => (Phase::Mutating, &[0, 1]),
        4 | 5 => (Phase::Validating, &[2]),
        6 => {
            let review = format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{}","audiences":["api"]}}}}"#,
                marker(output)
            );
            let r = s
                .authentication
                .authenticate(review.as_bytes(), 0)
                .unwrap_or_else(|e| panic!("a well-formed TokenReview was refused: {}", e.message));
            serde_json::to_vec(&r).expect("the result serialises");
            return;
        }
        _ => {
            let review = format!(
                r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"alice","groups":["g"],"extra":{{"fuzz":["{}"]}},"resourceAttributes":{{"verb":"get","resource":"pods","namespace":"default"}}}}}}"#,
                marker(output)
            );
            let r = s
                .authorization
                .authorize(review.as_bytes(), 0)
                .unwrap_or_else(|e| panic!("a well-formed SubjectAccessReview was refused: {}", e.message));
            serde_json::to_vec(&r).expect("the result serialises");
            return;
        }
    };
    let request = admission_request(object, output);
    let r = s
        .admission
        .admit(phase, ids, &request, 0)
        .unwrap_or_else(|e| panic!("a well-formed AdmissionRequest was refused: {}", e.message));
    if phase == Phase::Validating || object == "null" {
        assert!(r.patch.is_none(), "a patch where none may be: {:?}", r.patch);
    }
    if r.error.is_some() {
        assert!(!r.allowed, "allowed after a failed Fail module");
    }
    serde_json::to_vec(&r).expect("the result serialises");
});
