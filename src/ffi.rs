//! The C ABI: a thin layer over [`Handle`]. Conventions (after rustls-ffi and the wasmtime C
//! API): one prefix `kubewasm_`; opaque handles; a fallible call returns a `kubewasm_error *`
//! (NULL on success) and writes its out-parameters only on success; inputs are
//! `(const uint8_t *, size_t)`; outputs are library-owned buffers freed with
//! `kubewasm_bytes_free`. Every function runs inside a panic boundary, and NULL pointers or bad
//! lengths are errors, never crashes. A handle may be used from many threads at once.

#![allow(non_camel_case_types)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

use crate::admission::Phase;
use crate::config::Kind;
use crate::error::{Error, ErrorCode};
use crate::handle::Handle;
use crate::timing::{self, Part};

/// The ABI version; `kubewasm_abi_version()` returns it. Bumped on any incompatible change.
pub const KUBEWASM_ABI_VERSION: u32 = 1;

/// The most module ids one `kubewasm_admit` call accepts (a guard against garbage lengths).
const MAX_MODULE_IDS: usize = 1 << 16;

// The numbers of kinds, phases and error codes are defined once, by the `#[repr(u32)]` enums
// [`Kind`], [`Phase`] and [`ErrorCode`], which cbindgen exports into the header as
// `KubewasmKind` (`KUBEWASM_KIND_*`), `KubewasmPhase` (`KUBEWASM_PHASE_*`) and `KubewasmError`
// (`KUBEWASM_ERROR_*`). Parameters stay `uint32_t`: a number from C that names no variant must
// be an error, not undefined behaviour. The constants below are the same numbers for Rust
// callers of this module (tests, fuzz targets); cbindgen skips them.

/// `kind` of `kubewasm_init`: token authentication.
/// cbindgen:ignore
pub const KUBEWASM_KIND_AUTHENTICATION: u32 = Kind::Authentication as u32;
/// `kind` of `kubewasm_init`: authorization.
/// cbindgen:ignore
pub const KUBEWASM_KIND_AUTHORIZATION: u32 = Kind::Authorization as u32;
/// `kind` of `kubewasm_init`: admission.
/// cbindgen:ignore
pub const KUBEWASM_KIND_ADMISSION: u32 = Kind::Admission as u32;

/// `phase` of `kubewasm_admit`: mutating modules.
/// cbindgen:ignore
pub const KUBEWASM_PHASE_MUTATING: u32 = Phase::Mutating as u32;
/// `phase` of `kubewasm_admit`: validating modules.
/// cbindgen:ignore
pub const KUBEWASM_PHASE_VALIDATING: u32 = Phase::Validating as u32;

/// Error code: NULL pointer, bad length, unknown kind, phase or module id.
/// cbindgen:ignore
pub const KUBEWASM_ERROR_INVALID_ARGUMENT: u32 = ErrorCode::InvalidArgument as u32;
/// Error code: the configuration does not parse or validate (every problem listed).
/// cbindgen:ignore
pub const KUBEWASM_ERROR_CONFIG: u32 = ErrorCode::Config as u32;
/// Error code: a module cannot be loaded (file, digest, compilation, exports, settings).
/// cbindgen:ignore
pub const KUBEWASM_ERROR_LOAD: u32 = ErrorCode::Load as u32;
/// Error code: the request is not the JSON document the call expects.
/// cbindgen:ignore
pub const KUBEWASM_ERROR_BAD_REQUEST: u32 = ErrorCode::BadRequest as u32;
/// Error code: a panic inside the library was caught.
/// cbindgen:ignore
pub const KUBEWASM_ERROR_PANIC: u32 = ErrorCode::Panic as u32;
/// Error code: an internal error.
/// cbindgen:ignore
pub const KUBEWASM_ERROR_INTERNAL: u32 = ErrorCode::Internal as u32;

/// A loaded configuration and its compiled modules. Create with `kubewasm_init`, free with
/// `kubewasm_free`. Thread-safe.
pub struct kubewasm_handle {
    handle: Handle,
}

/// An error: a stable code (`KUBEWASM_ERROR_*`) and a message. Free with `kubewasm_error_free`.
pub struct kubewasm_error {
    code: u32,
    message: String,
}

static QUIET_PANICS: Once = Once::new();

thread_local! {
    static PANIC_MESSAGE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    static IN_BOUNDARY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that, inside an ABI call, keeps the message for the error the boundary
/// returns instead of writing it to stderr (the library never writes to stderr); panics
/// elsewhere in the process go to the previous hook.
fn quiet_panics() {
    QUIET_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_BOUNDARY.with(|b| b.get()) {
                return previous(info);
            }
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{text}{at}")));
        }));
    });
}

fn into_raw_error(e: Error) -> *mut kubewasm_error {
    Box::into_raw(Box::new(kubewasm_error {
        code: e.code as u32,
        message: e.message,
    }))
}

/// Runs `body` inside the panic boundary and turns its outcome into the ABI's error pointer.
fn guard(body: impl FnOnce() -> Result<(), Error>) -> *mut kubewasm_error {
    quiet_panics();
    let outer = IN_BOUNDARY.with(|b| b.replace(true));
    let result = catch_unwind(AssertUnwindSafe(body));
    IN_BOUNDARY.with(|b| b.set(outer));
    match result {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => into_raw_error(e),
        Err(_) => {
            let detail = PANIC_MESSAGE
                .with(|m| m.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".into());
            into_raw_error(Error::new(
                ErrorCode::Panic,
                format!("kubewasm: internal panic: {detail}"),
            ))
        }
    }
}

/// Borrows an input buffer; NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that outlive the call.
unsafe fn input<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::invalid_argument(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid_argument(format!(
            "{what} has an impossible length {len}"
        )));
    }
    // SAFETY: the caller guarantees ptr points to len readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks that out-parameters are not NULL.
fn outputs(out: *mut *mut u8, out_len: *mut usize) -> Result<(), Error> {
    if out.is_null() || out_len.is_null() {
        return Err(Error::invalid_argument("out or out_len is NULL"));
    }
    Ok(())
}

/// Hands a buffer to the caller, who frees it with `kubewasm_bytes_free`.
///
/// # Safety
/// `out` and `out_len` must be valid for writes (checked non-NULL by [`outputs`]).
unsafe fn give(bytes: Vec<u8>, out: *mut *mut u8, out_len: *mut usize) {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed) as *mut u8;
    // SAFETY: checked non-NULL; the caller guarantees they are writable.
    unsafe {
        *out = ptr;
        *out_len = len;
    }
}

/// Borrows the handle behind a pointer.
///
/// # Safety
/// `handle` must be NULL or a live pointer from `kubewasm_init`.
unsafe fn handle_ref<'a>(handle: *const kubewasm_handle) -> Result<&'a Handle, Error> {
    // SAFETY: the caller guarantees the pointer is live when non-NULL.
    unsafe { handle.as_ref() }
        .map(|h| &h.handle)
        .ok_or_else(|| Error::invalid_argument("handle is NULL"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("cannot serialise the result: {e}"),
        )
    })
}

/// The common shape of a request call: check the arguments, serve, hand the JSON result over.
///
/// # Safety
/// As for the entry points: `handle` live, `input` readable for `len`, outputs writable.
unsafe fn serve<T: serde::Serialize>(
    handle: *const kubewasm_handle,
    input_ptr: *const u8,
    len: usize,
    what: &str,
    out: *mut *mut u8,
    out_len: *mut usize,
    call: impl FnOnce(&Handle, &[u8]) -> Result<T, Error>,
) -> Result<(), Error> {
    let _timing = timing::span(Part::LibraryCall);
    // SAFETY: forwarded caller guarantees.
    let h = unsafe { handle_ref(handle) }?;
    // SAFETY: forwarded caller guarantees.
    let bytes = unsafe { input(input_ptr, len, what) }?;
    outputs(out, out_len)?;
    let result = to_json(&call(h, bytes)?)?;
    // SAFETY: checked by outputs.
    unsafe { give(result, out, out_len) };
    Ok(())
}

/// Returns `KUBEWASM_ABI_VERSION` as compiled into the library; callers refuse a mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn kubewasm_abi_version() -> u32 {
    KUBEWASM_ABI_VERSION
}

/// Parses a configuration (`KUBEWASM_KIND_*`; YAML or JSON bytes) and loads every module it
/// names, resolving relative module paths against `base_dir` (may be NULL/0: the working
/// directory). All problems are reported at once in the error, each naming module and field. On
/// success `*handle_out` receives a handle to free with `kubewasm_free`.
///
/// # Safety
/// Buffers must be readable for their lengths; `handle_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_init(
    kind: u32,
    config: *const u8,
    config_len: usize,
    base_dir: *const u8,
    base_dir_len: usize,
    handle_out: *mut *mut kubewasm_handle,
) -> *mut kubewasm_error {
    guard(|| {
        let kind = Kind::from_abi(kind)
            .ok_or_else(|| Error::invalid_argument(format!("unknown kind {kind}")))?;
        // SAFETY: forwarded caller guarantees.
        let config = unsafe { input(config, config_len, "config") }?;
        // SAFETY: forwarded caller guarantees.
        let base_dir = unsafe { input(base_dir, base_dir_len, "base_dir") }?;
        if handle_out.is_null() {
            return Err(Error::invalid_argument("handle_out is NULL"));
        }
        let handle = Handle::new(kind, config, Path::new(OsStr::from_bytes(base_dir)))?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { *handle_out = Box::into_raw(Box::new(kubewasm_handle { handle })) };
        Ok(())
    })
}

/// Compiles the WebAssembly module at `wasm_path` ahead of time with the engine `kubewasm_init`
/// uses and writes the result to `out_path` (NULL/0: next to the module, extension replaced by
/// `.cwasm`), replacing an existing file atomically. `kubewasm_init` loads such a file (mmap)
/// instead of compiling when it sits next to a configured module and is valid for that module,
/// this library build and this CPU; otherwise it compiles as usual. Paths are bytes, not
/// NUL-terminated. Errors: `KUBEWASM_ERROR_LOAD` when the module cannot be read or compiled or
/// the output cannot be written.
///
/// # Safety
/// Buffers must be readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_compile(
    wasm_path: *const u8,
    wasm_path_len: usize,
    out_path: *const u8,
    out_path_len: usize,
) -> *mut kubewasm_error {
    guard(|| {
        // SAFETY: forwarded caller guarantees.
        let wasm = unsafe { input(wasm_path, wasm_path_len, "wasm_path") }?;
        // SAFETY: forwarded caller guarantees.
        let out = unsafe { input(out_path, out_path_len, "out_path") }?;
        if wasm.is_empty() {
            return Err(Error::invalid_argument("wasm_path is empty"));
        }
        let out = (!out.is_empty()).then(|| Path::new(OsStr::from_bytes(out)));
        crate::runtime::precompiled::compile_file(Path::new(OsStr::from_bytes(wasm)), out)
            .map_err(|e| Error::new(ErrorCode::Load, e))?;
        Ok(())
    })
}

/// Frees a handle. NULL is a no-op. No call may be using the handle.
///
/// # Safety
/// `handle` must be NULL or come from `kubewasm_init`, and not be freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_free(handle: *mut kubewasm_handle) {
    if !handle.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller guarantees handle came from kubewasm_init and is freed once.
            drop(unsafe { Box::from_raw(handle) })
        }));
    }
}

/// Writes the configuration with defaults applied, as JSON `{"kind", "modules": [...],
/// "logs": [...]}`; a module's position in `modules` is the id `kubewasm_admit` takes. `logs`
/// holds load-time notes in the shape of a result's `logs` (a `.cwasm` loaded, or ignored and
/// why) for the caller to log once. An admission module's matching fields (`rules`,
/// selectors, `matchConditions`, `matchPolicy`, `reinvocationPolicy`, `sideEffects`) and
/// `validationActions` are the caller's: returned as written, neither validated nor defaulted.
///
/// # Safety
/// `handle` must be live; `out` and `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_modules(
    handle: *const kubewasm_handle,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> *mut kubewasm_error {
    guard(|| {
        // SAFETY: forwarded caller guarantees.
        let h = unsafe { handle_ref(handle) }?;
        outputs(out, out_len)?;
        // SAFETY: checked by outputs.
        unsafe { give(h.modules_json().to_vec(), out, out_len) };
        Ok(())
    })
}

/// Authenticates a TokenReview (JSON). Writes `{"status": <TokenReviewStatus>, "module"?,
/// "outcomes", "logs"}`. `timeout_ns` bounds the call (0: module timeouts only).
///
/// # Safety
/// `handle` must be live; buffers readable/writable as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_authenticate(
    handle: *const kubewasm_handle,
    token_review: *const u8,
    token_review_len: usize,
    timeout_ns: u64,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> *mut kubewasm_error {
    // SAFETY: forwarded caller guarantees.
    guard(|| unsafe {
        serve(
            handle,
            token_review,
            token_review_len,
            "token_review",
            out,
            out_len,
            |h, review| h.authenticate(review, timeout_ns),
        )
    })
}

/// Decides a SubjectAccessReview (JSON). Writes `{"status": {"allowed", "denied", "reason",
/// "evaluationError"}, "module"?, "outcomes", "logs"}`.
///
/// # Safety
/// `handle` must be live; buffers readable/writable as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_authorize(
    handle: *const kubewasm_handle,
    subject_access_review: *const u8,
    subject_access_review_len: usize,
    timeout_ns: u64,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> *mut kubewasm_error {
    // SAFETY: forwarded caller guarantees.
    guard(|| unsafe {
        serve(
            handle,
            subject_access_review,
            subject_access_review_len,
            "subject_access_review",
            out,
            out_len,
            |h, review| h.authorize(review, timeout_ns),
        )
    })
}

/// Runs the admission modules `module_ids` (in order) of `phase` (`KUBEWASM_PHASE_*`) on an
/// AdmissionRequest (JSON, `AdmissionReview.request`). Writes `{"allowed", "status"?,
/// "module"?, "error"?, "patch"?, "warnings", "auditAnnotations", "outcomes", "logs"}`.
///
/// `module_ids` must be aligned for `uint32_t` (`KUBEWASM_ERROR_INVALID_ARGUMENT` otherwise).
///
/// # Safety
/// `handle` must be live; `module_ids` readable for `module_ids_len` entries; buffers as described.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_admit(
    handle: *const kubewasm_handle,
    phase: u32,
    module_ids: *const u32,
    module_ids_len: usize,
    admission_request: *const u8,
    admission_request_len: usize,
    timeout_ns: u64,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> *mut kubewasm_error {
    guard(|| {
        let phase = Phase::from_abi(phase)
            .ok_or_else(|| Error::invalid_argument(format!("unknown phase {phase}")))?;
        let ids: &[u32] = if module_ids.is_null() || module_ids_len == 0 {
            if module_ids_len != 0 {
                return Err(Error::invalid_argument(
                    "module_ids is NULL but its length is not 0",
                ));
            }
            &[]
        } else {
            if module_ids_len > MAX_MODULE_IDS {
                return Err(Error::invalid_argument(format!(
                    "module_ids_len {module_ids_len} is implausible"
                )));
            }
            if !module_ids.is_aligned() {
                return Err(Error::invalid_argument(
                    "module_ids is not aligned for uint32_t",
                ));
            }
            // SAFETY: the caller guarantees module_ids has module_ids_len entries.
            unsafe { std::slice::from_raw_parts(module_ids, module_ids_len) }
        };
        // SAFETY: forwarded caller guarantees.
        unsafe {
            serve(
                handle,
                admission_request,
                admission_request_len,
                "admission_request",
                out,
                out_len,
                |h, request| h.admit(phase, ids, request, timeout_ns),
            )
        }
    })
}

/// Frees a buffer written by this library. NULL is a no-op.
///
/// # Safety
/// `ptr`/`len` must be exactly what a kubewasm call wrote, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_bytes_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: the caller guarantees ptr/len came from `give`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

/// The error's code (`KUBEWASM_ERROR_*`); 0 for NULL.
///
/// # Safety
/// `err` must be NULL or a live error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_error_code(err: *const kubewasm_error) -> u32 {
    // SAFETY: the caller guarantees err is NULL or live.
    unsafe { err.as_ref() }.map_or(0, |e| e.code)
}

/// Borrows the error's UTF-8 message (not NUL-terminated) until `kubewasm_error_free`.
///
/// # Safety
/// `err` must be NULL or live; `ptr` and `len` writable (NULL ones are skipped).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_error_message(
    err: *const kubewasm_error,
    ptr: *mut *const u8,
    len: *mut usize,
) {
    // SAFETY: the caller guarantees err is NULL or live.
    let (p, l) = match unsafe { err.as_ref() } {
        Some(e) => (e.message.as_ptr(), e.message.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: the caller guarantees non-NULL out-pointers are writable.
    unsafe {
        if !ptr.is_null() {
            *ptr = p;
        }
        if !len.is_null() {
            *len = l;
        }
    }
}

/// Frees an error. NULL is a no-op.
///
/// # Safety
/// `err` must be NULL or come from a kubewasm call, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kubewasm_error_free(err: *mut kubewasm_error) {
    if !err.is_null() {
        // SAFETY: the caller guarantees err came from into_raw_error and is freed once.
        drop(unsafe { Box::from_raw(err) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_numbers_never_change() {
        // The header's values: changing one is an incompatible ABI change.
        assert_eq!(
            [
                KUBEWASM_KIND_AUTHENTICATION,
                KUBEWASM_KIND_AUTHORIZATION,
                KUBEWASM_KIND_ADMISSION
            ],
            [1, 2, 3]
        );
        assert_eq!([KUBEWASM_PHASE_MUTATING, KUBEWASM_PHASE_VALIDATING], [1, 2]);
        assert_eq!(
            [
                KUBEWASM_ERROR_INVALID_ARGUMENT,
                KUBEWASM_ERROR_CONFIG,
                KUBEWASM_ERROR_LOAD,
                KUBEWASM_ERROR_BAD_REQUEST,
                KUBEWASM_ERROR_PANIC,
                KUBEWASM_ERROR_INTERNAL
            ],
            [1, 2, 3, 4, 5, 6]
        );
        for n in 0..8 {
            assert_eq!(
                Kind::from_abi(n).map(|k| k as u32),
                (1..=3).contains(&n).then_some(n)
            );
            assert_eq!(
                Phase::from_abi(n).map(|p| p as u32),
                (1..=2).contains(&n).then_some(n)
            );
        }
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let err = guard(|| panic!("injected"));
        // SAFETY: err is a live error from guard.
        unsafe {
            assert_eq!(kubewasm_error_code(err), KUBEWASM_ERROR_PANIC);
            let (mut p, mut l) = (std::ptr::null(), 0);
            kubewasm_error_message(err, &mut p, &mut l);
            let msg = std::str::from_utf8(std::slice::from_raw_parts(p, l)).unwrap();
            assert!(msg.contains("injected"), "{msg}");
            kubewasm_error_free(err);
        }
        assert!(guard(|| Ok(())).is_null());
    }
}
