//! Test helpers: a safe wrapper over the C ABI, used exactly as a C caller would use it.

#![allow(dead_code)]

use std::path::PathBuf;

use kubewasm::ffi::*;
use serde_json::Value;

/// The folder `make fixtures` fills.
pub fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/modules");
    assert!(
        dir.join("magic-validator.wasm").exists(),
        "fixture modules are missing in {}: run `make fixtures`",
        dir.display()
    );
    dir
}

/// An error from the ABI: code and message.
#[derive(Debug)]
pub struct AbiError {
    pub code: u32,
    pub message: String,
}

fn take_error(err: *mut kubewasm_error) -> Result<(), AbiError> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: err is a live error returned by the library; freed once here.
    unsafe {
        let code = kubewasm_error_code(err);
        let (mut p, mut l) = (std::ptr::null(), 0usize);
        kubewasm_error_message(err, &mut p, &mut l);
        let message = String::from_utf8(std::slice::from_raw_parts(p, l).to_vec()).unwrap();
        kubewasm_error_free(err);
        Err(AbiError { code, message })
    }
}

fn take_bytes(p: *mut u8, l: usize) -> Value {
    // SAFETY: p/l were written by the library on success; freed once here.
    unsafe {
        let v = serde_json::from_slice(std::slice::from_raw_parts(p, l))
            .expect("the library writes JSON");
        kubewasm_bytes_free(p, l);
        v
    }
}

/// A handle owned by a test.
pub struct H(*mut kubewasm_handle);

// SAFETY: the ABI promises handles are thread-safe.
unsafe impl Send for H {}
// SAFETY: as above.
unsafe impl Sync for H {}

impl Drop for H {
    fn drop(&mut self) {
        // SAFETY: self.0 came from kubewasm_init and is freed once.
        unsafe { kubewasm_free(self.0) }
    }
}

/// Initialises a handle from YAML/JSON text with the fixture folder as base directory.
pub fn init(kind: u32, config: &str) -> Result<H, AbiError> {
    let base = fixtures();
    let base = base.to_str().unwrap();
    let mut h = std::ptr::null_mut();
    // SAFETY: valid buffers and out-pointer.
    take_error(unsafe {
        kubewasm_init(
            kind,
            config.as_ptr(),
            config.len(),
            base.as_ptr(),
            base.len(),
            &mut h,
        )
    })?;
    Ok(H(h))
}

impl H {
    pub fn modules(&self) -> Value {
        let (mut p, mut l) = (std::ptr::null_mut(), 0usize);
        // SAFETY: live handle, valid out-pointers.
        take_error(unsafe { kubewasm_modules(self.0, &mut p, &mut l) }).unwrap();
        take_bytes(p, l)
    }

    pub fn authenticate(&self, review: &Value) -> Result<Value, AbiError> {
        let input = serde_json::to_vec(review).unwrap();
        let (mut p, mut l) = (std::ptr::null_mut(), 0usize);
        // SAFETY: live handle, valid buffers.
        take_error(unsafe {
            kubewasm_authenticate(self.0, input.as_ptr(), input.len(), 0, &mut p, &mut l)
        })?;
        Ok(take_bytes(p, l))
    }

    pub fn authorize(&self, review: &Value) -> Result<Value, AbiError> {
        let input = serde_json::to_vec(review).unwrap();
        let (mut p, mut l) = (std::ptr::null_mut(), 0usize);
        // SAFETY: live handle, valid buffers.
        take_error(unsafe {
            kubewasm_authorize(self.0, input.as_ptr(), input.len(), 0, &mut p, &mut l)
        })?;
        Ok(take_bytes(p, l))
    }

    pub fn admit(&self, phase: u32, ids: &[u32], request: &Value) -> Result<Value, AbiError> {
        self.admit_raw(phase, ids, &serde_json::to_vec(request).unwrap(), 0)
    }

    pub fn admit_raw(
        &self,
        phase: u32,
        ids: &[u32],
        input: &[u8],
        timeout_ns: u64,
    ) -> Result<Value, AbiError> {
        let (mut p, mut l) = (std::ptr::null_mut(), 0usize);
        // SAFETY: live handle, valid buffers.
        take_error(unsafe {
            kubewasm_admit(
                self.0,
                phase,
                ids.as_ptr(),
                ids.len(),
                input.as_ptr(),
                input.len(),
                timeout_ns,
                &mut p,
                &mut l,
            )
        })?;
        Ok(take_bytes(p, l))
    }

    pub fn raw(&self) -> *mut kubewasm_handle {
        self.0
    }
}

pub fn token_review(token: &str) -> Value {
    serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}
    })
}

pub fn sar(groups: &[&str], resource: &str) -> Value {
    serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "someone", "groups": groups,
                 "resourceAttributes": {"verb": "list", "version": "v1", "resource": resource, "namespace": "default"}}
    })
}

/// An AdmissionRequest creating a ConfigMap with `data`.
pub fn configmap_request(data: Value) -> Value {
    serde_json::json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "requestResource": {"group": "", "version": "v1", "resource": "configmaps"},
        "name": "cm", "namespace": "default", "operation": "CREATE",
        "userInfo": {"username": "admin", "groups": ["system:masters"]},
        "object": {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default"}, "data": data},
        "oldObject": null, "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}
