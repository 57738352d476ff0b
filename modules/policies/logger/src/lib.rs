//! logger: logs through the SDK's slog drain (`KubewardenDrain`), which sends
//! each event to the host capability `kubewarden/tracing/log`, then accepts.
//!
//! Settings: `{"message": "..."}` (optional, default `logger policy called`).
//!
//! `validate_settings` logs one debug event (`validating settings`).
//! `validate` logs four events, one per Kubewarden level (debug, info,
//! warning, error), each with the configured message and the structured fields
//! `policy` = `logger`, `level_name`, `operation`, `kind`, `name`, `namespace`,
//! then accepts. The drain is wrapped in slog's `Fuse`: when the host answers a
//! log call with an error the policy panics (a wasm `unreachable` trap), as
//! every Rust policy using the SDK's logging does.

use kubewarden_policy_sdk::logging::KubewardenDrain;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::{self as guest, CallResult};
use kubewarden_policy_sdk::{accept_request, protocol_version_guest, reject_request};
use serde::Deserialize;
use serde_json::Value;
use slog::{Logger, debug, error, info, o, warn};

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
    message: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            message: "logger policy called".to_string(),
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
}

fn logger() -> Logger {
    Logger::root(KubewardenDrain::new(), o!("policy" => "logger"))
}

fn validate_settings(payload: &[u8]) -> CallResult {
    debug!(logger(), "validating settings"; "bytes" => payload.len());
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
    let field = |pointer: &str| {
        input
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let log = logger().new(o!(
        "operation" => field("/request/operation"),
        "kind" => field("/request/kind/kind"),
        "name" => field("/request/name"),
        "namespace" => field("/request/namespace"),
    ));
    let message = &settings.message;
    debug!(log, "{}", message; "level_name" => "debug");
    info!(log, "{}", message; "level_name" => "info");
    warn!(log, "{}", message; "level_name" => "warning");
    error!(log, "{}", message; "level_name" => "error");
    accept_request()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings() {
        assert_eq!(
            Settings::from_value(&json!({})).unwrap().message,
            "logger policy called"
        );
        assert_eq!(
            Settings::from_value(&json!({"message": "m"}))
                .unwrap()
                .message,
            "m"
        );
        assert!(Settings::from_value(&json!({"message": 1})).is_err());
    }
}
