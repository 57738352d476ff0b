//! annotate: a mutating Kubewarden policy that sets the annotations listed in
//! its settings on the request's object, for any resource kind.
//!
//! Settings: `{"annotations": {"name": "value", ...}}` (names non-empty).
//!
//! `validate` always answers `accepted: true` with `mutated_object` (the whole
//! object with the annotations set), even when nothing changed, so a host's
//! "empty diff = no patch" rule is exercised. When at least one annotation was
//! added or changed it also returns a warning and an audit annotation:
//! - warning `annotate: set annotations a,b`
//! - audit annotation `annotations-set` = `a,b`
//!
//! On DELETE (no `object`) it annotates `oldObject` and still returns it as
//! `mutated_object`: Kubewarden hosts refuse a mutation on DELETE, and this lets
//! a host test that refusal. Without any object it accepts unchanged.

use std::collections::{BTreeMap, HashMap};

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::{self as guest, CallResult};
use kubewarden_policy_sdk::{accept_request, protocol_version_guest, reject_request};
use serde::Deserialize;
use serde_json::{Map, Value};

const INVALID_SETTINGS: &str = "Provided settings are not valid: ";

/// Registers the waPC operations. Called by the host after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", protocol_version_guest);
}

#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    annotations: BTreeMap<String, String>,
}

impl Settings {
    pub fn from_value(value: &Value) -> Result<Settings, String> {
        if value.is_null() {
            return Ok(Settings::default());
        }
        if !value.is_object() {
            return Err(format!("{INVALID_SETTINGS}settings must be a JSON object"));
        }
        let s = Settings::deserialize(value).map_err(|e| format!("{INVALID_SETTINGS}{e}"))?;
        if s.annotations.keys().any(String::is_empty) {
            return Err(format!(
                "{INVALID_SETTINGS}annotation names must not be empty"
            ));
        }
        Ok(s)
    }

    /// Sets the annotations on `object` (a JSON object); returns the names
    /// that were added or changed.
    pub fn apply(&self, object: &mut Map<String, Value>) -> Vec<String> {
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        let annotations = metadata
            .as_object_mut()
            .expect("metadata is an object")
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        let annotations = annotations
            .as_object_mut()
            .expect("annotations is an object");
        let mut changed = Vec::new();
        for (name, value) in &self.annotations {
            if annotations.get(name).and_then(Value::as_str) != Some(value.as_str()) {
                annotations.insert(name.clone(), Value::String(value.clone()));
                changed.push(name.clone());
            }
        }
        changed
    }
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let result = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("{INVALID_SETTINGS}not a valid JSON document: {e}"))
        .and_then(|v| Settings::from_value(&v));
    let response = SettingsValidationResponse {
        valid: result.is_ok(),
        message: result.err(),
    };
    Ok(serde_json::to_vec(&response)?)
}

fn validate(payload: &[u8]) -> CallResult {
    let Ok(mut input) = serde_json::from_slice::<Value>(payload) else {
        return reject_request(
            Some("Not a valid JSON document".to_string()),
            Some(400),
            None,
            None,
        );
    };
    let settings = match Settings::from_value(input.get("settings").unwrap_or(&Value::Null)) {
        Ok(s) => s,
        Err(message) => return reject_request(Some(message), Some(400), None, None),
    };
    let Some(request) = input.get_mut("request").and_then(Value::as_object_mut) else {
        return reject_request(
            Some("The request has no `request` object".to_string()),
            Some(400),
            None,
            None,
        );
    };
    let target = if request.get("object").is_some_and(Value::is_object) {
        request.remove("object")
    } else if request.get("oldObject").is_some_and(Value::is_object) {
        request.remove("oldObject")
    } else {
        None
    };
    let Some(Value::Object(mut object)) = target else {
        return accept_request();
    };

    let changed = settings.apply(&mut object);
    let (warnings, audit_annotations) = if changed.is_empty() {
        (None, None)
    } else {
        let names = changed.join(",");
        (
            Some(vec![format!("annotate: set annotations {names}")]),
            Some(HashMap::from([("annotations-set".to_string(), names)])),
        )
    };
    Ok(serde_json::to_vec(&ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: Some(Value::Object(object)),
        audit_annotations,
        warnings,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_and_reports_changes() {
        let s = Settings::from_value(&json!({"annotations": {"a": "1", "b": "2"}})).unwrap();
        let mut obj =
            json!({"kind": "ConfigMap", "metadata": {"name": "x", "annotations": {"a": "1"}}});
        let changed = s.apply(obj.as_object_mut().unwrap());
        assert_eq!(changed, vec!["b".to_string()]);
        assert_eq!(obj["metadata"]["annotations"], json!({"a": "1", "b": "2"}));
        assert!(s.apply(obj.as_object_mut().unwrap()).is_empty());

        let mut bare = json!({"kind": "Namespace"});
        assert_eq!(s.apply(bare.as_object_mut().unwrap()).len(), 2);
        assert_eq!(bare["metadata"]["annotations"]["a"], "1");
    }

    #[test]
    fn invalid_settings() {
        assert!(Settings::from_value(&json!({"annotations": ["a"]})).is_err());
        assert!(Settings::from_value(&json!({"annotations": {"a": 1}})).is_err());
        assert!(Settings::from_value(&json!({"annotations": {"": "x"}})).is_err());
        assert!(Settings::from_value(&json!({"labels": {}})).is_err());
        assert!(Settings::from_value(&json!({})).is_ok());
        assert!(Settings::from_value(&json!([])).is_err());
    }
}
