//! The `wasi` protocol: the host writes `{"request": <review>, "settings": <settings>}` to the
//! module's stdin (`settings` omitted when none are configured), calls a no-argument export, and
//! reads `{"response": <review>, "error": "…"}` from stdout. The module's one argument is its
//! name. A trap, a non-empty `error`, or a
//! non-zero exit is a failed call; `proc_exit(0)` is a normal end.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::call::{Deadline, Report, Slot, clean_failure};
use crate::config::{Kind, ModuleConfig};
use crate::error::{Failure, FailureKind};
use crate::log::{Level, Redactor};
use crate::runtime::{CallFailure, CallOutput, Compiled, exit_zero_is_success};
use crate::timing::{self, Part};

/// The export a `wasi` module needs for `kind`.
pub fn export_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Authentication => "authn",
        Kind::Authorization => "authz",
        Kind::Admission => "validate",
    }
}

/// Builds the input envelope by concatenating bytes: `request` and `settings` are already JSON.
pub fn envelope(request: &[u8], settings: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len() + settings.map_or(0, <[u8]>::len) + 32);
    out.extend_from_slice(b"{\"request\":");
    out.extend_from_slice(request);
    if let Some(s) = settings {
        out.extend_from_slice(b",\"settings\":");
        out.extend_from_slice(s);
    }
    out.push(b'}');
    out
}

/// Runs `export` with `stdin`, calling `_initialize` first when the module is a WASI reactor.
/// The module's only argument is its `name` (`argv[0]`: language runtimes such as Go's expect
/// one).
pub fn call(
    compiled: &Compiled,
    name: &str,
    export: &str,
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<CallOutput<()>, CallFailure> {
    compiled.run(stdin, timeout, |store, instance| {
        store.data_mut().args = vec![name.as_bytes().to_vec()];
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
            exit_zero_is_success(init.call(&mut *store, ()))?;
        }
        let f = instance.get_typed_func::<(), ()>(&mut *store, export)?;
        exit_zero_is_success(f.call(&mut *store, ()))
    })
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses a module's output. `Ok(None)` is a `null` response; a non-empty `error` or output that
/// is not exactly one envelope is an error. Messages never quote the output itself.
pub fn parse_output(stdout: &[u8]) -> Result<Option<Value>, Failure> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::malformed("the module wrote nothing to stdout"));
    }
    let envelope: Envelope = serde_json::from_slice(stdout)
        .map_err(|e| Failure::malformed(format!("malformed output: {e}")))?;
    if let Some(error) = envelope.error.filter(|e| !e.is_empty()) {
        return Err(Failure::new(
            FailureKind::ModuleError,
            format!("module error: {error}"),
        ));
    }
    Ok(envelope.response.filter(|v| !v.is_null()))
}

/// A `wasi` module as [`exchange`] needs it.
pub(crate) struct Module<'a> {
    /// Its configuration.
    pub config: &'a ModuleConfig,
    /// The compiled module.
    pub compiled: &'a Compiled,
    /// Its settings, serialised.
    pub settings: Option<&'a [u8]>,
}

/// Calls a `wasi` module with `request` and returns its `response`, logging the exchange
/// when the module has `debug: true`. Failures come back typed, their text redacted and
/// truncated.
pub(crate) fn exchange(
    kind: Kind,
    module: Module<'_>,
    request: &[u8],
    deadline: Deadline,
    redactor: &Redactor,
    report: &mut Report,
) -> (Result<Option<Value>, Failure>, Duration) {
    let Module {
        config: m,
        compiled,
        settings,
    } = module;
    let name = &m.name;
    let timeout = match deadline.limit(m.timeout) {
        Ok(t) => t,
        Err(e) => return (Err(e), Duration::ZERO),
    };
    let _slot = match Slot::take(kind) {
        Ok(slot) => slot,
        Err(e) => return (Err(e), Duration::ZERO),
    };
    let stdin = envelope(request, settings);
    if m.debug {
        report.log(
            Level::Debug,
            name,
            format!("in: {}", redactor.apply(&String::from_utf8_lossy(&stdin))),
        );
    }
    let export = export_for(kind);
    match call(compiled, name, export, stdin, timeout) {
        Ok(out) => {
            if m.debug {
                report.log(
                    Level::Debug,
                    name,
                    format!(
                        "out: {}",
                        redactor.apply(&String::from_utf8_lossy(&out.stdout))
                    ),
                );
                if !out.stderr.is_empty() {
                    report.log(
                        Level::Debug,
                        name,
                        format!(
                            "stderr: {}",
                            redactor.apply(&String::from_utf8_lossy(&out.stderr))
                        ),
                    );
                }
            }
            let parsed = {
                let _timing = timing::span(Part::AnswerParse);
                parse_output(&out.stdout).map_err(|e| clean_failure(redactor, e))
            };
            (parsed, out.duration)
        }
        Err(f) => (
            Err(clean_failure(
                redactor,
                Failure::new(f.kind, format!("call to {export} failed: {}", f.message)),
            )),
            f.duration,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_omits_missing_settings() {
        assert_eq!(envelope(b"{\"a\":1}", None), b"{\"request\":{\"a\":1}}");
        assert_eq!(
            envelope(b"{}", Some(b"[1]")),
            b"{\"request\":{},\"settings\":[1]}"
        );
    }

    #[test]
    fn parse_output_cases() {
        let cases: &[(&str, Result<Option<Value>, &str>)] = &[
            (
                r#"{"response":{"x":1}}"#,
                Ok(Some(serde_json::json!({"x":1}))),
            ),
            (r#"{"response":null}"#, Ok(None)),
            (
                r#"{"response":{"x":1},"error":""}"#,
                Ok(Some(serde_json::json!({"x":1}))),
            ),
            (
                r#"{"response":null,"error":"boom"}"#,
                Err("module error: boom"),
            ),
            ("not json", Err("malformed output")),
            ("", Err("wrote nothing")),
            (
                r#"{"response":{}} {"response":{}}"#,
                Err("malformed output"),
            ),
        ];
        for (input, want) in cases {
            let got = parse_output(input.as_bytes());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{input}"),
                (Err(g), Err(w)) => assert!(g.message.contains(w), "{input}: {g}"),
                (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
            }
        }
    }
}
