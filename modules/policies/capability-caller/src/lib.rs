//! capability-caller: calls one Kubewarden host capability through waPC
//! `__host_call` and turns the answer into the admission decision, so a host's
//! handling of capabilities (supported or not) can be tested.
//!
//! Settings (all optional):
//! - `binding` (default `kubewarden`), `namespace` (default `kubernetes`),
//!   `operation` (default `list_resources_by_namespace`): the capability;
//! - `payload`: the JSON sent with the call; default is the SDK's
//!   `ListResourcesByNamespaceRequest` for ConfigMaps in the request's
//!   namespace (`default` when it has none);
//! - `at_settings_validation` (default false): also make the call from
//!   `validate_settings`, where a failure makes the settings invalid.
//!
//! `validate`: when the host answers with an error the request is rejected
//! (no code) with the message the Rust SDK builds for a failed host call:
//! `error invoking host capability <namespace>.<operation>: Host error: <host's error>`.
//! When the host answers with success the request is accepted with the warning
//! `host capability <binding>/<namespace>/<operation> answered <n> bytes`.

use kubewarden_policy_sdk::error::Error;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::{self as guest, CallResult};
use kubewarden_policy_sdk::{protocol_version_guest, reject_request};
use serde::Deserialize;
use serde_json::{Value, json};

const INVALID_SETTINGS: &str = "Provided settings are not valid: ";

/// Registers the waPC operations. Called by the host after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", protocol_version_guest);
}

#[derive(Deserialize, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    binding: String,
    namespace: String,
    operation: String,
    payload: Option<Value>,
    at_settings_validation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            binding: "kubewarden".to_string(),
            namespace: "kubernetes".to_string(),
            operation: "list_resources_by_namespace".to_string(),
            payload: None,
            at_settings_validation: false,
        }
    }
}

impl Settings {
    pub fn from_value(value: &Value) -> Result<Settings, String> {
        if value.is_null() {
            return Ok(Settings::default());
        }
        if !value.is_object() {
            return Err(format!("{INVALID_SETTINGS}settings must be a JSON object"));
        }
        Settings::deserialize(value).map_err(|e| format!("{INVALID_SETTINGS}{e}"))
    }

    /// The capability's name as the host sees it.
    pub fn capability(&self) -> String {
        format!("{}/{}/{}", self.binding, self.namespace, self.operation)
    }

    /// The payload sent to the host: the configured one, or a
    /// list_resources_by_namespace request for ConfigMaps in `namespace`.
    pub fn payload(&self, namespace: &str) -> Vec<u8> {
        let value = self.payload.clone().unwrap_or_else(|| {
            json!({
                "api_version": "v1",
                "kind": "ConfigMap",
                "namespace": if namespace.is_empty() { "default" } else { namespace },
                "label_selector": null,
                "field_selector": null,
                "field_masks": null,
            })
        });
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Makes the call. The error text is the one the SDK's typed host
    /// capability helpers produce (`Error::HostCall`).
    pub fn call(&self, namespace: &str) -> Result<Vec<u8>, String> {
        guest::host_call(
            &self.binding,
            &self.namespace,
            &self.operation,
            &self.payload(namespace),
        )
        .map_err(|source| {
            Error::HostCall {
                operation: format!("{}.{}", self.namespace, self.operation),
                source,
            }
            .to_string()
        })
    }
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let result = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("{INVALID_SETTINGS}not a valid JSON document: {e}"))
        .and_then(|v| Settings::from_value(&v))
        .and_then(|s| {
            if s.at_settings_validation {
                s.call("default").map(|_| ())
            } else {
                Ok(())
            }
        });
    let response = SettingsValidationResponse {
        valid: result.is_ok(),
        message: result.err(),
    };
    Ok(serde_json::to_vec(&response)?)
}

fn validate(payload: &[u8]) -> CallResult {
    let Ok(input) = serde_json::from_slice::<Value>(payload) else {
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
    let namespace = input
        .pointer("/request/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    match settings.call(namespace) {
        Err(message) => reject_request(Some(message), None, None, None),
        Ok(answer) => Ok(serde_json::to_vec(&ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object: None,
            audit_annotations: None,
            warnings: Some(vec![format!(
                "host capability {} answered {} bytes",
                settings.capability(),
                answer.len()
            )]),
        })?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_payload() {
        let s = Settings::from_value(&json!({})).unwrap();
        assert_eq!(
            s.capability(),
            "kubewarden/kubernetes/list_resources_by_namespace"
        );
        let p: Value = serde_json::from_slice(&s.payload("")).unwrap();
        assert_eq!(p["namespace"], "default");
        assert_eq!(p["kind"], "ConfigMap");
        let s = Settings::from_value(&json!({"namespace": "tracing", "operation": "log",
            "payload": {"level": "info", "message": "hi"}}))
        .unwrap();
        assert_eq!(s.capability(), "kubewarden/tracing/log");
        assert!(Settings::from_value(&json!({"binding": 1})).is_err());
        assert!(Settings::from_value(&json!({"nope": 1})).is_err());
    }
}
