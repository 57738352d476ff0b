//! The stdin/stdout JSON envelope.

use std::fmt::Display;
use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Settings type for modules that take no settings: any configured value is accepted and
/// ignored (the original guest library used `Option<()>`, which rejected a configured `{}`).
pub type NoSettings = serde::de::IgnoredAny;

/// The input envelope the host writes to stdin.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "R: DeserializeOwned, S: DeserializeOwned"))]
pub struct Input<R, S> {
    /// The review (TokenReview, SubjectAccessReview or AdmissionReview).
    pub request: R,
    /// The configured settings; `None` when the key is absent or `null`.
    #[serde(default)]
    pub settings: Option<S>,
}

/// The output envelope written to stdout.
#[derive(Serialize)]
struct Output<'a, O> {
    response: Option<&'a O>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Reads all of stdin and parses it as the input envelope.
///
/// Panics (traps) only when stdin cannot be read; a parse error is returned as a message.
pub fn read_input<R: DeserializeOwned, S: DeserializeOwned>() -> Result<Input<R, S>, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .expect("kubewasm-guest: cannot read stdin");
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid input: {e}"))
}

/// Serialises the output envelope for `result`: `{"response": …}` on success,
/// `{"response": null, "error": "…"}` on failure.
pub fn answer<O: Serialize, E: Display>(result: Result<O, E>) -> Vec<u8> {
    let encode = |out: &Output<'_, O>| serde_json::to_vec(out);
    let encoded = match &result {
        Ok(response) => encode(&Output {
            response: Some(response),
            error: None,
        }),
        Err(err) => encode(&Output {
            response: None,
            error: Some(&err.to_string()),
        }),
    };
    encoded.unwrap_or_else(|e| {
        let msg = format!("cannot serialise response: {e}");
        serde_json::to_vec(&Output::<()> {
            response: None,
            error: Some(&msg),
        })
        .expect("kubewasm-guest: cannot serialise an error envelope")
    })
}

/// Writes `bytes` to stdout in one go and flushes. Panics (traps) on an I/O error.
pub fn write_output(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .expect("kubewasm-guest: cannot write stdout");
}

/// Runs one call: reads the input envelope, calls `handler(request, settings)` and writes
/// the output envelope. The registration macros call this; `R` is the request type and
/// `O` the response type.
pub fn serve<R, O, S, E, F>(handler: F)
where
    R: DeserializeOwned,
    O: Serialize,
    S: DeserializeOwned,
    E: Display,
    F: FnOnce(R, Option<S>) -> Result<O, E>,
{
    let result = match read_input::<R, S>() {
        Ok(input) => handler(input.request, input.settings).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    write_output(&answer(result));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_envelope_has_no_error_key() {
        let out = answer::<_, String>(Ok(serde_json::json!({"a": 1})));
        assert_eq!(out, br#"{"response":{"a":1}}"#);
    }

    #[test]
    fn error_envelope_has_null_response() {
        let out = answer::<(), _>(Err("boom"));
        assert_eq!(out, br#"{"response":null,"error":"boom"}"#);
    }

    #[test]
    fn settings_are_optional() {
        let input: Input<u8, NoSettings> = serde_json::from_str(r#"{"request": 1}"#).unwrap();
        assert!(input.settings.is_none());
        let input: Input<u8, NoSettings> =
            serde_json::from_str(r#"{"request": 1, "settings": {"x": [1]}}"#).unwrap();
        assert!(input.settings.is_some());
        let input: Input<u8, u8> =
            serde_json::from_str(r#"{"request": 1, "settings": null}"#).unwrap();
        assert!(input.settings.is_none());
    }
}
