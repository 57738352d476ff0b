//! `magic-mutator` (export `validate`, configure with `mutating: true`), like the original
//! k8s-wasi-rs example: sets `data["magic-value"] = "foobar"` on the ConfigMap in
//! `request.object` (creating `data` if needed) and always answers with a `Full` patch
//! (base64 of the whole object; unknown fields are kept). A request without an object, or
//! with an object that is not a `v1` `ConfigMap`, is an error: configure rules for
//! configmaps only. Settings are ignored.

use kubewasm_guest::admission::{self, AdmissionReview};
use kubewasm_guest::serde_json::{Map, Value};
use kubewasm_guest::NoSettings;

/// Mutates the ConfigMap of `review`.
pub fn mutate(
    review: AdmissionReview,
    _settings: Option<NoSettings>,
) -> Result<AdmissionReview, String> {
    let mut request = review.into_request()?;
    let mut object = request.take_object_of_kind("v1", "ConfigMap")?;
    let fields = object
        .as_object_mut()
        .ok_or_else(|| "object is not a JSON object".to_owned())?;
    let data = fields
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if data.is_null() {
        *data = Value::Object(Map::new());
    }
    let data = data
        .as_object_mut()
        .ok_or_else(|| "ConfigMap data is not an object".to_owned())?;
    data.insert("magic-value".to_owned(), Value::from("foobar"));
    admission::mutate_full(&request.uid, &object)
}

kubewasm_guest::register_admitter!(mutate);

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: kubewasm_guest::alloc::OneShot = kubewasm_guest::alloc::OneShot::new();
