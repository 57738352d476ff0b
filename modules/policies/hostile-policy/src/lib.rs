//! hostile-policy: a Kubewarden policy that misbehaves on request, to test
//! that a host bounds every call of a `type: kubewarden` module.
//!
//! Settings: `{"action": A, "settings_action": B}`, both optional (default
//! `none`). `action` applies in `validate`, `settings_action` in
//! `validate_settings` (init time). Actions:
//! - `none`: behave (accept; settings valid);
//! - `loop`: spin forever (time limit);
//! - `allocate`: allocate and touch memory in 1 MiB steps until allocation
//!   fails, which aborts (memory limit; a wasm trap at the end);
//! - `panic`: panic (message on stderr, then a wasm trap);
//! - `garbage`: answer bytes that are not JSON;
//! - `huge`: answer a valid response whose message is 16 MiB (output limit);
//! - `error`: fail the guest call with `hostile-policy: guest error on purpose`;
//! - `stderr`: write 64 MiB to stderr, then behave;
//! - `log_flood`: send 100 000 events to `kubewarden/tracing/log`, then behave.

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::{self as guest, CallResult};
use kubewarden_policy_sdk::{accept_request, protocol_version_guest};
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;

const INVALID_SETTINGS: &str = "Provided settings are not valid: ";
const MIB: usize = 1 << 20;

/// Registers the waPC operations. Called by the host after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", protocol_version_guest);
}

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    None,
    Loop,
    Allocate,
    Panic,
    Garbage,
    Huge,
    Error,
    Stderr,
    LogFlood,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    action: Action,
    settings_action: Action,
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

/// Misbehaves as `action` says. Returns `Some(result)` when the action
/// replaces the normal answer, `None` to go on normally.
fn misbehave(action: Action) -> Option<CallResult> {
    match action {
        Action::None => None,
        Action::Loop => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Action::Allocate => {
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; MIB];
                for i in (0..MIB).step_by(4096) {
                    chunk[i] = 1;
                }
                chunks.push(std::hint::black_box(chunk));
            }
        }
        Action::Panic => panic!("hostile-policy: panic on purpose"),
        Action::Garbage => Some(Ok(b"this is not JSON \xff".to_vec())),
        Action::Huge => {
            let (head, tail) = (br#"{"accepted":false,"message":""#, br#""}"#);
            let mut answer = Vec::with_capacity(head.len() + 16 * MIB + tail.len());
            answer.extend_from_slice(head);
            answer.resize(head.len() + 16 * MIB, b'x');
            answer.extend_from_slice(tail);
            Some(Ok(answer))
        }
        Action::Error => Some(Err("hostile-policy: guest error on purpose".into())),
        Action::Stderr => {
            let line = [b'e'; 4096];
            let mut stderr = std::io::stderr();
            for _ in 0..(64 * MIB / line.len()) {
                if stderr.write_all(&line).is_err() {
                    break;
                }
            }
            None
        }
        Action::LogFlood => {
            for i in 0..100_000 {
                let event =
                    format!(r#"{{"level":"info","message":"hostile-policy log flood {i}"}}"#);
                if guest::host_call("kubewarden", "tracing", "log", event.as_bytes()).is_err() {
                    break;
                }
            }
            None
        }
    }
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let result = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("{INVALID_SETTINGS}not a valid JSON document: {e}"))
        .and_then(|v| Settings::from_value(&v));
    if let Ok(settings) = &result
        && let Some(answer) = misbehave(settings.settings_action)
    {
        return answer;
    }
    let response = SettingsValidationResponse {
        valid: result.is_ok(),
        message: result.err(),
    };
    Ok(serde_json::to_vec(&response)?)
}

fn validate(payload: &[u8]) -> CallResult {
    let settings = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| Settings::from_value(v.get("settings").unwrap_or(&Value::Null)).ok())
        .unwrap_or_default();
    if let Some(answer) = misbehave(settings.action) {
        return answer;
    }
    accept_request()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings() {
        let s = Settings::from_value(&json!({"action": "log_flood", "settings_action": "loop"}))
            .unwrap();
        assert_eq!(s.action, Action::LogFlood);
        assert_eq!(s.settings_action, Action::Loop);
        assert!(Settings::from_value(&json!({"action": "explode"})).is_err());
        assert_eq!(
            Settings::from_value(&json!({})).unwrap().action,
            Action::None
        );
        assert!(misbehave(Action::Garbage).unwrap().is_ok());
        assert!(misbehave(Action::Error).unwrap().is_err());
    }
}
