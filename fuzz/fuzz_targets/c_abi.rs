//! The C ABI's inputs: every `kubewasm_*` entry point with arbitrary kinds, phases, module ids,
//! timeouts and request bytes, NULL pointers with and without lengths, NULL out-parameters,
//! missing or wrong-kind handles. Handles come from the fixture modules (`make fixtures`;
//! `KUBEWASM_MODULES` overrides the folder).
//!
//! Input: op (byte 0), flags (byte 1), two little-endian words `a` and `b`, then the payload.
//! Invariants: no crash; an error has a code from 1 to 6 and a UTF-8 message; an output is JSON;
//! every buffer, error and handle the library hands out is freed (LeakSanitizer checks).
#![no_main]

use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use kubewasm::ffi::*;
use libfuzzer_sys::fuzz_target;

fn fixtures() -> PathBuf {
    std::env::var_os("KUBEWASM_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/modules"))
}

struct Handles {
    authentication: usize,
    authorization: usize,
    admission: usize,
}

/// Creates a handle through the ABI itself; the fixtures must load.
fn init(kind: u32, config: &str) -> usize {
    let dir = fixtures();
    let dir = dir.to_str().expect("a UTF-8 fixture path");
    let mut h = null_mut();
    // SAFETY: valid buffers and out-pointer.
    let err = unsafe {
        kubewasm_init(
            kind,
            config.as_ptr(),
            config.len(),
            dir.as_ptr(),
            dir.len(),
            &mut h,
        )
    };
    assert!(
        err.is_null(),
        "the fixture configuration does not load from {dir}"
    );
    h as usize
}

/// The folder with the echo guest, for configurations the fuzzer writes.
fn echo_dir() -> &'static std::path::Path {
    static DIR: OnceLock<&'static std::path::Path> = OnceLock::new();
    DIR.get_or_init(|| kubewasm_fuzz::write_guest("echo.wasm", kubewasm_fuzz::ECHO_WAT))
}

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    echo_dir();
    HANDLES.get_or_init(|| Handles {
        authentication: init(
            KUBEWASM_KIND_AUTHENTICATION,
            "modules:\n- module: magic-authenticator.wasm\n",
        ),
        authorization: init(
            KUBEWASM_KIND_AUTHORIZATION,
            "modules:\n- module: magic-authorizer.wasm\n",
        ),
        admission: init(
            KUBEWASM_KIND_ADMISSION,
            "modules:\n- {module: magic-mutator.wasm, mutating: true}\n- {module: magic-validator.wasm}\n- {module: json-patch-mutator.wasm, mutating: true}\n",
        ),
    })
}

/// Checks and frees what a call returned.
fn finish(err: *mut kubewasm_error, out: *mut u8, out_len: usize, wrote_out: bool) {
    if !err.is_null() {
        // SAFETY: err is a live error from the library, freed once here.
        unsafe {
            let code = kubewasm_error_code(err);
            assert!((1..=6).contains(&code), "error code {code}");
            let (mut p, mut n) = (null(), 0usize);
            kubewasm_error_message(err, &mut p, &mut n);
            let message = std::slice::from_raw_parts(p, n);
            let message = std::str::from_utf8(message).expect("a UTF-8 error message");
            assert!(
                code != KUBEWASM_ERROR_PANIC,
                "the library panicked: {message}"
            );
            kubewasm_error_free(err);
        }
        return;
    }
    if wrote_out {
        assert!(!out.is_null());
        // SAFETY: out/out_len were written by the library on success, freed once here.
        unsafe {
            let bytes = std::slice::from_raw_parts(out, out_len);
            serde_json::from_slice::<serde_json::Value>(bytes).expect("the output is JSON");
            kubewasm_bytes_free(out, out_len);
        }
    }
}

fn word(data: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (i, b) in data.iter().skip(at).take(4).enumerate() {
        w[i] = *b;
    }
    u32::from_le_bytes(w)
}

// Handles are built before fuzzing starts (compiling is slow with instrumentation and must
// not count against the per-input timeout).
fuzz_target!(init: {
    handles();
}, |data: &[u8]| {
    let h = handles();
    let op = data.first().copied().unwrap_or(0);
    let flags = data.get(1).copied().unwrap_or(0);
    let (a, b) = (word(data, 2), word(data, 6));
    let payload = data.get(10..).unwrap_or(&[]);
    // Flag 0: the input pointer is NULL (with the length `a`, which the library must refuse
    // unless it is 0); flags 1, 2: out / out_len NULL; flag 3: no handle; flag 4: a handle of
    // the wrong kind.
    let (input, input_len) = if flags & 1 != 0 {
        (null(), a as usize)
    } else {
        (payload.as_ptr(), payload.len())
    };
    let mut out: *mut u8 = null_mut();
    let mut out_len = 0usize;
    let out_p: *mut *mut u8 = if flags & 2 != 0 { null_mut() } else { &mut out };
    let out_len_p: *mut usize = if flags & 4 != 0 { null_mut() } else { &mut out_len };
    let pick = |right: usize| -> *const kubewasm_handle {
        if flags & 8 != 0 {
            null()
        } else if flags & 16 != 0 {
            (if right == h.admission { h.authentication } else { h.admission }) as *const _
        } else {
            right as *const _
        }
    };
    let timeout = u64::from(b);
    // SAFETY: every pointer is either NULL or valid for the length passed with it; handles are
    // live; outputs are freed by `finish`.
    unsafe {
        match op % 6 {
            0 => {
                let dir = echo_dir().to_str().unwrap_or("");
                // Flag 5: base_dir is a folder with the echo guest as `echo.wasm` (configurations
                // may then load it; the fixtures would take seconds each to compile here).
                let (d, dl) = if flags & 32 != 0 {
                    (dir.as_ptr(), dir.len())
                } else {
                    (b"/nonexistent/kubewasm-fuzz".as_ptr(), 26)
                };
                let mut handle = null_mut();
                let handle_out = if flags & 64 != 0 { null_mut() } else { &mut handle };
                let err = kubewasm_init(a, input, input_len, d, dl, handle_out);
                if err.is_null() {
                    assert!(!handle.is_null());
                    let e = kubewasm_modules(handle, &mut out, &mut out_len);
                    finish(e, out, out_len, true);
                    kubewasm_free(handle);
                } else {
                    finish(err, null_mut(), 0, false);
                }
            }
            1 => {
                let err = kubewasm_authenticate(
                    pick(h.authentication),
                    input,
                    input_len,
                    timeout,
                    out_p,
                    out_len_p,
                );
                finish(err, out, out_len, true);
            }
            2 => {
                let err = kubewasm_authorize(
                    pick(h.authorization),
                    input,
                    input_len,
                    timeout,
                    out_p,
                    out_len_p,
                );
                finish(err, out, out_len, true);
            }
            3 => {
                // Up to 7 module ids from the payload; flag 6 passes NULL ids with that count.
                let n = (b & 7) as usize;
                let ids: Vec<u32> = (0..n).map(|i| word(payload, 4 * i)).collect();
                let ids_p = if flags & 64 != 0 { null() } else { ids.as_ptr() };
                let rest = payload.get(4 * n..).unwrap_or(&[]);
                let (input, input_len) = if flags & 1 != 0 {
                    (null(), a as usize)
                } else {
                    (rest.as_ptr(), rest.len())
                };
                let err = kubewasm_admit(
                    pick(h.admission),
                    a & 3,
                    ids_p,
                    n,
                    input,
                    input_len,
                    timeout >> 3,
                    out_p,
                    out_len_p,
                );
                finish(err, out, out_len, true);
            }
            4 => {
                let err = kubewasm_modules(pick(h.admission), out_p, out_len_p);
                finish(err, out, out_len, true);
            }
            _ => {
                assert_eq!(kubewasm_error_code(null()), 0);
                let (mut p, mut n) = (null(), 0usize);
                kubewasm_error_message(null(), &mut p, &mut n);
                kubewasm_error_message(null(), null_mut(), null_mut());
                kubewasm_error_free(null_mut());
                kubewasm_bytes_free(null_mut(), a as usize);
                kubewasm_free(null_mut());
                assert_eq!(kubewasm_abi_version(), KUBEWASM_ABI_VERSION);
            }
        }
    }
});
