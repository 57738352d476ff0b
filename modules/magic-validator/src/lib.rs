//! `magic-validator` (export `validate`), like the original k8s-wasi-rs example: rejects a
//! ConfigMap whose `data` has the KEY `not-allowed-value` (whatever its value) with the
//! message `value 'not-allowed-value' not allowed in configmap` and code 403; accepts every
//! other ConfigMap. A request without an object, or with an object that is not a `v1`
//! `ConfigMap`, is an error: configure rules for configmaps only. Settings are ignored.

use kubewasm_guest::admission::{self, AdmissionReview};
use kubewasm_guest::serde_json::Value;
use kubewasm_guest::NoSettings;

/// The forbidden `data` key.
pub const NOT_ALLOWED: &str = "not-allowed-value";

/// Validates the ConfigMap of `review`.
pub fn check(
    review: AdmissionReview,
    _settings: Option<NoSettings>,
) -> Result<AdmissionReview, String> {
    let request = review.into_request()?;
    let object = request.object_of_kind("v1", "ConfigMap")?;
    let forbidden = object
        .get("data")
        .and_then(Value::as_object)
        .is_some_and(|data| data.contains_key(NOT_ALLOWED));
    Ok(if forbidden {
        admission::reject(
            &request.uid,
            &format!("value '{NOT_ALLOWED}' not allowed in configmap"),
            403,
        )
    } else {
        admission::accept(&request.uid)
    })
}

kubewasm_guest::register_admitter!(check);

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: kubewasm_guest::alloc::OneShot = kubewasm_guest::alloc::OneShot::new();
