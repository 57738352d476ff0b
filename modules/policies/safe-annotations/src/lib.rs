//! safe-annotations: a stand-in for Kubewarden's safe-annotations policy
//! (kubewarden/safe-annotations-policy, a TinyGo policy that cannot be built
//! from crates.io), written from its documented behaviour.
//!
//! It works on any resource kind: it reads `request.object.metadata.annotations`
//! from the request as plain JSON, never through typed Kubernetes structs.
//!
//! Settings:
//! - `denied_annotations: [string]`: annotations that must not be present;
//! - `mandatory_annotations: [string]`: annotations that must be present;
//! - `constrained_annotations: {name: regexp}`: when present, the annotation's
//!   value must match the regular expression (unanchored, Go/RE2-like syntax).
//!
//! Rejection messages (joined with ". ", no code):
//! - `The following annotations are not allowed: a,b`
//! - `The following annotations are violating user constraints: c`
//! - `The following mandatory annotations are missing: d`

use std::collections::{BTreeMap, BTreeSet};

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::{self as guest, CallResult};
use kubewarden_policy_sdk::{accept_request, protocol_version_guest, reject_request};
use regex_lite::Regex;
use serde::Deserialize;
use serde_json::Value;

/// Prefix of every settings validation failure, as in the original policy.
const INVALID_SETTINGS: &str = "Provided settings are not valid: ";

/// Registers the waPC operations. Called by the host after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function("protocol_version", protocol_version_guest);
}

/// The settings as written by the operator.
#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
struct RawSettings {
    denied_annotations: Vec<String>,
    mandatory_annotations: Vec<String>,
    constrained_annotations: BTreeMap<String, String>,
}

/// Validated settings with compiled regular expressions.
#[derive(Debug, Default)]
pub struct Settings {
    denied: BTreeSet<String>,
    mandatory: Vec<String>,
    constrained: BTreeMap<String, Regex>,
}

impl Settings {
    /// Parses and validates settings. `null` means no settings. Every problem
    /// is reported, prefixed with "Provided settings are not valid: ".
    pub fn from_value(value: &Value) -> Result<Settings, String> {
        let raw: RawSettings = if value.is_null() {
            RawSettings::default()
        } else if !value.is_object() {
            return Err(format!("{INVALID_SETTINGS}settings must be a JSON object"));
        } else {
            RawSettings::deserialize(value).map_err(|e| format!("{INVALID_SETTINGS}{e}"))?
        };

        let mut problems = Vec::new();
        let denied: BTreeSet<String> = raw.denied_annotations.into_iter().collect();
        let mut mandatory = Vec::new();
        for name in raw.mandatory_annotations {
            if !mandatory.contains(&name) {
                mandatory.push(name);
            }
        }
        if denied.iter().chain(&mandatory).any(String::is_empty)
            || raw.constrained_annotations.keys().any(String::is_empty)
        {
            problems.push("annotation names must not be empty".to_string());
        }

        let mandatory_and_denied: BTreeSet<&String> =
            mandatory.iter().filter(|n| denied.contains(*n)).collect();
        if !mandatory_and_denied.is_empty() {
            problems.push(format!(
                "These annotations cannot be mandatory and denied at the same time: {}",
                go_set(&mandatory_and_denied)
            ));
        }
        let constrained_and_denied: BTreeSet<&String> = raw
            .constrained_annotations
            .keys()
            .filter(|n| denied.contains(*n))
            .collect();
        if !constrained_and_denied.is_empty() {
            problems.push(format!(
                "These annotations cannot be constrained and denied at the same time: {}",
                go_set(&constrained_and_denied)
            ));
        }

        let mut constrained = BTreeMap::new();
        for (name, expr) in raw.constrained_annotations {
            match Regex::new(&expr) {
                Ok(re) => {
                    constrained.insert(name, re);
                }
                Err(e) => problems.push(format!(
                    "error parsing regexp for annotation {name}: `{expr}`: {}",
                    one_line(&e.to_string())
                )),
            }
        }

        if problems.is_empty() {
            Ok(Settings {
                denied,
                mandatory,
                constrained,
            })
        } else {
            Err(format!("{INVALID_SETTINGS}{}", problems.join(". ")))
        }
    }

    /// Checks an object's annotations. `None` = accepted, `Some(message)` = rejected.
    pub fn check(&self, annotations: Option<&Value>) -> Option<String> {
        let empty = serde_json::Map::new();
        let annotations = match annotations {
            Some(Value::Object(map)) => map,
            _ => &empty,
        };

        let mut denied = Vec::new();
        let mut violating = Vec::new();
        for (name, value) in annotations {
            if self.denied.contains(name) {
                denied.push(name.as_str());
                continue;
            }
            if let Some(re) = self.constrained.get(name) {
                let matched = match value {
                    Value::String(s) => re.is_match(s),
                    other => re.is_match(&other.to_string()),
                };
                if !matched {
                    violating.push(name.as_str());
                }
            }
        }
        let missing: Vec<&str> = self
            .mandatory
            .iter()
            .filter(|n| !annotations.contains_key(*n))
            .map(String::as_str)
            .collect();

        let mut messages = Vec::new();
        if !denied.is_empty() {
            messages.push(format!(
                "The following annotations are not allowed: {}",
                denied.join(",")
            ));
        }
        if !violating.is_empty() {
            messages.push(format!(
                "The following annotations are violating user constraints: {}",
                violating.join(",")
            ));
        }
        if !missing.is_empty() {
            messages.push(format!(
                "The following mandatory annotations are missing: {}",
                missing.join(",")
            ));
        }
        if messages.is_empty() {
            None
        } else {
            Some(messages.join(". "))
        }
    }
}

/// Formats a set the way Go's golang-set prints it (`Set{a, b}`), so the
/// messages read like the original policy's.
fn go_set(names: &BTreeSet<&String>) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    format!("Set{{{}}}", names.join(", "))
}

/// regex-lite errors span several lines; keep them on one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `validate_settings`: input is the bare settings object (`{}` when none).
fn validate_settings(payload: &[u8]) -> CallResult {
    let result = serde_json::from_slice::<Value>(payload)
        .map_err(|e| format!("{INVALID_SETTINGS}not a valid JSON document: {e}"))
        .and_then(|v| Settings::from_value(&v));
    let response = match result {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    };
    Ok(serde_json::to_vec(&response)?)
}

/// `validate`: input is `{"request": <AdmissionRequest>, "settings": {...}}`.
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
    match settings.check(input.pointer("/request/object/metadata/annotations")) {
        None => accept_request(),
        Some(message) => reject_request(Some(message), None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Result<Settings, String> {
        Settings::from_value(&v)
    }

    #[test]
    fn no_settings_accepts_everything() {
        let s = settings(Value::Null).unwrap();
        assert_eq!(s.check(None), None);
        assert_eq!(s.check(Some(&json!({"a": "b"}))), None);
    }

    #[test]
    fn mandatory_missing() {
        let s = settings(json!({"mandatory_annotations": ["puzzle.ch/owner"]})).unwrap();
        assert_eq!(
            s.check(None).as_deref(),
            Some("The following mandatory annotations are missing: puzzle.ch/owner")
        );
        assert_eq!(s.check(Some(&json!({"puzzle.ch/owner": "me"}))), None);
    }

    #[test]
    fn all_violations_joined() {
        let s = settings(json!({
            "denied_annotations": ["foo", "bar"],
            "mandatory_annotations": ["owner", "team"],
            "constrained_annotations": {"cc": "^cc-\\d+$", "owner": "^team-"}
        }))
        .unwrap();
        let msg = s
            .check(Some(
                &json!({"foo": "1", "bar": "2", "cc": "cc-x", "owner": "team-a"}),
            ))
            .unwrap();
        assert_eq!(
            msg,
            "The following annotations are not allowed: bar,foo. \
             The following annotations are violating user constraints: cc. \
             The following mandatory annotations are missing: team"
        );
        assert_eq!(
            s.check(Some(
                &json!({"cc": "cc-12", "owner": "team-a", "team": "x"})
            )),
            None
        );
    }

    #[test]
    fn invalid_settings() {
        let e = settings(json!({"mandatory_annotations": ["a"], "denied_annotations": ["a"]}))
            .unwrap_err();
        assert_eq!(
            e,
            "Provided settings are not valid: These annotations cannot be mandatory and denied at the same time: Set{a}"
        );
        let e = settings(
            json!({"constrained_annotations": {"a": "x"}, "denied_annotations": ["a", "b"]}),
        )
        .unwrap_err();
        assert!(
            e.ends_with("constrained and denied at the same time: Set{a}"),
            "{e}"
        );
        let e =
            settings(json!({"constrained_annotations": {"cc-center": "^cc-[12$"}})).unwrap_err();
        assert!(
            e.starts_with("Provided settings are not valid: error parsing regexp for annotation cc-center: `^cc-[12$`: "),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = settings(json!({"mandatory_annotations": "a"})).unwrap_err();
        assert!(
            e.starts_with("Provided settings are not valid: invalid type"),
            "{e}"
        );
        let e = settings(json!({"mandatory_annotation": ["a"]})).unwrap_err();
        assert!(e.contains("unknown field `mandatory_annotation`"), "{e}");
        assert!(settings(json!([])).is_err());
    }
}
