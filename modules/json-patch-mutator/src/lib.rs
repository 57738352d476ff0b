//! `json-patch-mutator` (export `validate`, configure with `mutating: true`): adds the
//! annotations and labels given in the settings to `request.object` and answers with an
//! RFC 6902 `JSONPatch` (not a Full patch), for testing the host's handling of JSONPatch
//! and its chaining of mutators.
//!
//! Settings: `{"annotations": {"k": "v", …}, "labels": {"k": "v", …}}`, both optional,
//! unknown keys are an error. For each of the two maps (when not empty): if
//! `/metadata/<map>` is an object, one `add` operation per key
//! (`/metadata/annotations/example.com~1key`; `add` replaces an existing value); if it is
//! absent or null, one `add` of the whole map. Without `metadata`, one `add` of
//! `/metadata`. Works on any kind. No settings, nothing to add, or no object (DELETE) →
//! admitted without a patch.

use std::collections::BTreeMap;

use kubewasm_guest::admission::{self, pointer_token, AdmissionReview};
use kubewasm_guest::serde_json::{json, Map, Value};
use serde::Deserialize;

/// The module's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Annotations to add.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Labels to add.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The RFC 6902 operations that add `settings` to `object`.
pub fn operations(object: &Value, settings: &Settings) -> Vec<Value> {
    let maps = [
        ("annotations", &settings.annotations),
        ("labels", &settings.labels),
    ];
    let maps: Vec<_> = maps.into_iter().filter(|(_, m)| !m.is_empty()).collect();
    if maps.is_empty() {
        return Vec::new();
    }
    let Some(metadata) = object.get("metadata").filter(|m| m.is_object()) else {
        let metadata: Map<String, Value> = maps
            .iter()
            .map(|(field, map)| ((*field).to_owned(), json!(map)))
            .collect();
        return vec![json!({"op": "add", "path": "/metadata", "value": metadata})];
    };
    let mut ops = Vec::new();
    for (field, map) in maps {
        if metadata.get(field).is_some_and(Value::is_object) {
            for (key, value) in map {
                let path = format!("/metadata/{field}/{}", pointer_token(key));
                ops.push(json!({"op": "add", "path": path, "value": value}));
            }
        } else {
            let path = format!("/metadata/{field}");
            ops.push(json!({"op": "add", "path": path, "value": map}));
        }
    }
    ops
}

/// Mutates the object of `review`.
pub fn mutate(
    review: AdmissionReview,
    settings: Option<Settings>,
) -> Result<AdmissionReview, String> {
    let request = review.into_request()?;
    let settings = settings.unwrap_or_default();
    let ops = match &request.object {
        Some(object) => operations(object, &settings),
        None => Vec::new(),
    };
    if ops.is_empty() {
        return Ok(admission::accept(&request.uid));
    }
    admission::mutate_json_patch(&request.uid, &ops)
}

kubewasm_guest::register_admitter!(mutate);
