//! The `kubewarden` protocol: Kubewarden policies, waPC guests.
//!
//! Per call the host instantiates the policy afresh, runs `_initialize`, `_start` (WASI exit 0
//! is success) and `wapc_init` when exported, then `__guest_call(op_len, msg_len)`; the guest
//! fetches the operation and payload with `__guest_request` and answers with `__guest_response`
//! or `__guest_error`. `validate_settings` runs once at load, `validate` per request. The only
//! host capability is `kubewarden/tracing/log` (forwarded to the caller's log); every other one
//! is answered with an error in Kubewarden's wording, so a context-aware policy fails clearly.
//!
//! Kubewarden's WASI execution mode (metadata `executionMode: wasi`, or a module exporting
//! `_start` but no `__guest_call`) is supported too: argv `policy.wasm validate` (or
//! `validate-settings`), the same JSON on stdin and stdout, exit 0 for success, and host
//! capabilities through the `host.call` import (0 = success; the answer is appended to stdin).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use wasmtime::wasmparser::{Parser, Payload};
use wasmtime::{Caller, Extern, Linker};

use crate::call::{Deadline, Report, clean_failure};
use crate::config::ModuleConfig;
use crate::decision::{Mutation, Status, Verdict};
use crate::error::{Failure, FailureKind};
use crate::limits::{BoundExceeded, MAX_HOST_CALL_ANSWERS, MAX_LOG_LINES, MAX_MESSAGE, sanitize};
use crate::log::{Level, Redactor};
use crate::runtime::{self, CallState, Compiled, exit_zero_is_success, wasi_p1::OutputTooLarge};
use crate::timing::{self, Part};

/// The custom section `kwctl annotate` writes.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";

/// The waPC exchange of one call.
#[derive(Debug, Default)]
pub struct WapcState {
    operation: Vec<u8>,
    payload: Vec<u8>,
    guest_response: Option<Vec<u8>>,
    guest_error: Option<String>,
    host_response: Vec<u8>,
    host_error: Vec<u8>,
    /// Log lines the policy emitted through `kubewarden/tracing/log` or `__console_log`.
    pub logs: Vec<(Level, String)>,
    dropped_logs: usize,
    /// Bytes of host-call answers appended to stdin so far (Kubewarden's WASI mode).
    host_answer_bytes: usize,
}

impl WapcState {
    fn log(&mut self, level: Level, message: String) {
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push((level, sanitize(&message, MAX_MESSAGE)));
        } else {
            self.dropped_logs += 1;
        }
    }
}

/// What a policy declares about itself in its metadata section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// `v1` for waPC policies.
    #[serde(default)]
    pub protocol_version: Option<String>,
    /// `kubewarden-wapc` (default), `wasi`, `opa`, `gatekeeper`.
    #[serde(default)]
    pub execution_mode: Option<String>,
    /// The policy mutates objects.
    #[serde(default)]
    pub mutating: Option<bool>,
}

/// How a policy is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// waPC (`kubewarden-wapc`).
    #[default]
    Wapc,
    /// Kubewarden's WASI mode (`wasi`): a command reading stdin, writing stdout.
    Wasi,
}

/// A loaded policy.
pub struct Policy {
    /// The compiled module; its per-call protocol state is the waPC exchange.
    pub compiled: Compiled<WapcState>,
    /// How it is called (from its metadata, or its exports when it has none).
    pub mode: Mode,
}

/// Finds a custom section's contents in a WebAssembly binary (`None` also when the binary does
/// not parse: compiling it reports that).
pub fn custom_section<'a>(wasm: &'a [u8], section: &str) -> Option<&'a [u8]> {
    payloads(wasm).find_map(|p| match p {
        Payload::CustomSection(c) if c.name() == section => Some(c.data()),
        _ => None,
    })
}

/// The names a WebAssembly binary exports (as far as it parses).
pub fn wasm_exports(wasm: &[u8]) -> Vec<String> {
    payloads(wasm)
        .filter_map(|p| match p {
            Payload::ExportSection(reader) => Some(reader),
            _ => None,
        })
        .flat_map(|reader| reader.into_iter().map_while(Result::ok))
        .map(|export| export.name.to_string())
        .collect()
}

/// A binary's payloads, up to the first that does not parse.
fn payloads(wasm: &[u8]) -> impl Iterator<Item = Payload<'_>> {
    Parser::new(0).parse_all(wasm).map_while(Result::ok)
}

fn memory(caller: &mut Caller<'_, CallState<WapcState>>) -> wasmtime::Result<wasmtime::Memory> {
    if let Some(m) = caller.data().memory {
        return Ok(m);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::format_err!("the policy exports no memory")),
    }
}

fn read(
    caller: &mut Caller<'_, CallState<WapcState>>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > runtime::MAX_OUTPUT {
        return Err(wasmtime::Error::new(OutputTooLarge(runtime::MAX_OUTPUT)));
    }
    ptr.checked_add(len)
        .and_then(|end| mem.data(&*caller).get(ptr..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::format_err!("the policy passed a buffer outside its memory"))
}

fn write(
    caller: &mut Caller<'_, CallState<WapcState>>,
    ptr: i32,
    bytes: &[u8],
) -> wasmtime::Result<()> {
    let mem = memory(caller)?;
    let ptr = ptr as u32 as usize;
    let dst = ptr
        .checked_add(bytes.len())
        .and_then(|end| mem.data_mut(&mut *caller).get_mut(ptr..end))
        .ok_or_else(|| wasmtime::format_err!("the policy passed a buffer outside its memory"))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

fn level_of(text: &str) -> Level {
    match text.to_ascii_lowercase().as_str() {
        "trace" | "debug" => Level::Debug,
        "warn" | "warning" => Level::Warning,
        "error" | "critical" => Level::Error,
        _ => Level::Info,
    }
}

/// Answers a guest's `__host_call`: `Ok(response)` or `Err(message)` in Kubewarden's wording.
fn host_call(
    state: &mut WapcState,
    binding: &str,
    namespace: &str,
    operation: &str,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    match (binding, namespace, operation) {
        ("kubewarden", "tracing", "log") => {
            let event: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
            let level = level_of(event.get("level").and_then(Value::as_str).unwrap_or("info"));
            let mut message = event
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Value::Object(fields) = &event {
                for (k, v) in fields {
                    if ![
                        "level",
                        "message",
                        "line",
                        "column",
                        "file",
                        "target",
                        "module_path",
                    ]
                    .contains(&k.as_str())
                    {
                        message.push_str(&format!(" {k}={v}"));
                    }
                }
            }
            state.log(level, message);
            Ok(Vec::new())
        }
        ("kubewarden", "oci" | "net" | "crypto" | "kubernetes", _)
        | ("kubernetes", "namespaces" | "ingresses" | "services", _) => Err(format!(
            "Cannot process Wasm guest request: callback channel not provided (kubewasm has no host capability {binding}/{namespace}/{operation}: policies run inside kube-apiserver without context-aware capabilities)"
        )),
        ("kubewarden", "tracing", op) => Err(format!("unknown operation: {op}")),
        ("kubewarden" | "kubernetes", ns, _) => Err(format!("unknown namespace: {ns}")),
        (b, _, _) => Err(format!("unknown binding: {b}")),
    }
}

/// Reads a host call's (binding, namespace, operation, payload) from guest memory and answers
/// it: `Ok(response)` or `Err(error text)`. A refusal is also logged.
fn answer_host_call(
    c: &mut Caller<'_, CallState<WapcState>>,
    args: [i32; 8],
) -> wasmtime::Result<Result<Vec<u8>, Vec<u8>>> {
    let text = |c: &mut Caller<'_, CallState<WapcState>>, ptr, len| -> wasmtime::Result<String> {
        Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
    };
    let binding = text(c, args[0], args[1])?;
    let namespace = text(c, args[2], args[3])?;
    let operation = text(c, args[4], args[5])?;
    let payload = read(c, args[6], args[7])?;
    let w = &mut c.data_mut().protocol;
    Ok(
        host_call(w, &binding, &namespace, &operation, &payload).map_err(|error| {
            w.log(Level::Warning, format!("host capability refused: {error}"));
            error.into_bytes()
        }),
    )
}

/// Adds the nine `wapc` host functions, and `host.call` for Kubewarden's WASI mode.
fn add_wapc(linker: &mut Linker<CallState<WapcState>>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut c: Caller<'_, CallState<WapcState>>, op_ptr: i32, msg_ptr: i32| {
            let op = std::mem::take(&mut c.data_mut().protocol.operation);
            let payload = std::mem::take(&mut c.data_mut().protocol.payload);
            write(&mut c, op_ptr, &op)?;
            write(&mut c, msg_ptr, &payload)?;
            let w = &mut c.data_mut().protocol;
            w.operation = op;
            w.payload = payload;
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_response",
        |mut c: Caller<'_, CallState<WapcState>>, ptr: i32, len: i32| {
            let bytes = read(&mut c, ptr, len)?;
            c.data_mut().protocol.guest_response = Some(bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_error",
        |mut c: Caller<'_, CallState<WapcState>>, ptr: i32, len: i32| {
            let bytes = read(&mut c, ptr, len)?;
            c.data_mut().protocol.guest_error = Some(String::from_utf8_lossy(&bytes).into_owned());
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut c: Caller<'_, CallState<WapcState>>,
         bd: i32,
         bd_len: i32,
         ns: i32,
         ns_len: i32,
         op: i32,
         op_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let answer = answer_host_call(&mut c, [bd, bd_len, ns, ns_len, op, op_len, ptr, len])?;
            let w = &mut c.data_mut().protocol;
            Ok(match answer {
                Ok(response) => {
                    w.host_response = response;
                    w.host_error.clear();
                    1
                }
                Err(error) => {
                    w.host_response.clear();
                    w.host_error = error;
                    0
                }
            })
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response_len",
        |c: Caller<'_, CallState<WapcState>>| c.data().protocol.host_response.len() as i32,
    )?;
    linker.func_wrap(
        "wapc",
        "__host_response",
        |mut c: Caller<'_, CallState<WapcState>>, ptr: i32| {
            let bytes = c.data().protocol.host_response.clone();
            write(&mut c, ptr, &bytes)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error_len",
        |c: Caller<'_, CallState<WapcState>>| c.data().protocol.host_error.len() as i32,
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut c: Caller<'_, CallState<WapcState>>, ptr: i32| {
            let bytes = c.data().protocol.host_error.clone();
            write(&mut c, ptr, &bytes)
        },
    )?;
    // Kubewarden's WASI mode: the same capabilities through `host.call`, 0 = success, and the
    // answer (or error) appended to the guest's stdin.
    linker.func_wrap(
        "host",
        "call",
        |mut c: Caller<'_, CallState<WapcState>>,
         bd: i32,
         bd_len: i32,
         ns: i32,
         ns_len: i32,
         op: i32,
         op_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let answer = answer_host_call(&mut c, [bd, bd_len, ns, ns_len, op, op_len, ptr, len])?;
            let (bytes, code) = match answer {
                Ok(response) => (response, 0),
                Err(error) => (error, 1),
            };
            let state = c.data_mut();
            state.protocol.host_answer_bytes += bytes.len();
            if state.protocol.host_answer_bytes > MAX_HOST_CALL_ANSWERS {
                return Err(wasmtime::Error::new(BoundExceeded(format!(
                    "the policy's host calls got more than {MAX_HOST_CALL_ANSWERS} bytes of answers in one call"
                ))));
            }
            state.stdin.extend_from_slice(&bytes);
            Ok(code)
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |mut c: Caller<'_, CallState<WapcState>>, ptr: i32, len: i32| {
            let bytes = read(&mut c, ptr, len)?;
            c.data_mut()
                .protocol
                .log(Level::Info, String::from_utf8_lossy(&bytes).into_owned());
            Ok(())
        },
    )?;
    Ok(())
}

/// Logs a policy emitted during a call.
type PolicyLogs = Vec<(Level, String)>;

/// One guest call (`validate` or `validate_settings`) on a fresh instance, in the policy's mode.
fn guest_call(
    compiled: &Compiled<WapcState>,
    mode: Mode,
    operation: &str,
    payload: &[u8],
    timeout: Duration,
) -> (Result<Vec<u8>, Failure>, PolicyLogs, Duration) {
    match mode {
        Mode::Wapc => wapc_call(compiled, operation, payload, timeout),
        Mode::Wasi => wasi_call(compiled, operation, payload, timeout),
    }
}

/// Kubewarden's WASI mode: argv `policy.wasm <operation>`, payload on stdin, answer on stdout.
fn wasi_call(
    compiled: &Compiled<WapcState>,
    operation: &str,
    payload: &[u8],
    timeout: Duration,
) -> (Result<Vec<u8>, Failure>, PolicyLogs, Duration) {
    let command = if operation == "validate_settings" {
        "validate-settings"
    } else {
        operation
    };
    let run = compiled.run(payload.to_vec(), timeout, |store, instance| {
        store.data_mut().args = vec![b"policy.wasm".to_vec(), command.as_bytes().to_vec()];
        let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
        exit_zero_is_success(start.call(&mut *store, ()))
    });
    match run {
        Ok(out) => {
            let mut logs = out.protocol.logs;
            let stderr = String::from_utf8_lossy(&out.stderr);
            logs.extend(
                stderr
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(MAX_LOG_LINES)
                    .map(|l| (Level::Info, sanitize(l, MAX_MESSAGE))),
            );
            (Ok(out.stdout), logs, out.duration)
        }
        Err(f) => (
            Err(Failure::new(
                f.kind,
                format!("call to {command} failed: {}", f.message),
            )),
            f.protocol.logs,
            f.duration,
        ),
    }
}

/// One waPC guest call. Returns the guest's response, or the failure.
fn wapc_call(
    compiled: &Compiled<WapcState>,
    operation: &str,
    payload: &[u8],
    timeout: Duration,
) -> (Result<Vec<u8>, Failure>, PolicyLogs, Duration) {
    let run = compiled.run(Vec::new(), timeout, |store, instance| {
        for init in ["_initialize", "_start", "wapc_init"] {
            if let Ok(f) = instance.get_typed_func::<(), ()>(&mut *store, init) {
                exit_zero_is_success(f.call(&mut *store, ()))?;
            }
        }
        let w = &mut store.data_mut().protocol;
        w.operation = operation.as_bytes().to_vec();
        w.payload = payload.to_vec();
        let call = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "__guest_call")?;
        call.call(&mut *store, (operation.len() as i32, payload.len() as i32))
    });
    match run {
        Ok(out) => {
            let mut w = out.protocol;
            if w.dropped_logs > 0 {
                w.logs.push((
                    Level::Warning,
                    format!("{} more log lines dropped", w.dropped_logs),
                ));
            }
            let result = if out.value == 1 {
                w.guest_response.ok_or_else(|| {
                    Failure::malformed("the policy reported success without a response")
                })
            } else {
                Err(Failure::new(
                    FailureKind::ModuleError,
                    w.guest_error
                        .unwrap_or_else(|| "No error message set".to_string()),
                ))
            };
            (result, w.logs, out.duration)
        }
        Err(f) => (
            Err(Failure::new(
                f.kind,
                format!("call to {operation} failed: {}", f.message),
            )),
            f.protocol.logs,
            f.duration,
        ),
    }
}

/// Loads a policy: reads its metadata, checks it against the configuration, compiles it, and
/// validates its settings once.
pub fn load(m: &ModuleConfig, bytes: &runtime::ModuleFile) -> Result<Policy, String> {
    let metadata =
        match custom_section(bytes, METADATA_SECTION) {
            None => None,
            Some(raw) => Some(serde_json::from_slice::<Metadata>(raw).map_err(|e| {
                format!("the {METADATA_SECTION} section is not valid metadata: {e}")
            })?),
        };
    let exports = wasm_exports(bytes);
    let exports_guest_call = exports.iter().any(|e| e == "__guest_call");
    let mut mode = if exports_guest_call {
        Mode::Wapc
    } else {
        Mode::Wasi
    };
    if let Some(md) = &metadata {
        mode = match md.execution_mode.as_deref() {
            None | Some("kubewarden-wapc") => Mode::Wapc,
            Some("wasi") => Mode::Wasi,
            Some(other) => {
                return Err(format!(
                    "unsupported execution mode \"{other}\" in the policy's metadata for type: kubewarden (which runs kubewarden-wapc and wasi policies; Rego policies are type: opa or type: gatekeeper)"
                ));
            }
        };
        if let Some(v) = md.protocol_version.as_deref().filter(|v| *v != "v1") {
            return Err(format!(
                "the policy's metadata declares protocolVersion \"{v}\"; only v1 is supported"
            ));
        }
        let configured_mutating = m.admission.as_ref().is_some_and(|a| a.mutating);
        if md.mutating == Some(true) && !configured_mutating {
            return Err("the policy's metadata declares it mutating, but it is configured as validating: set mutating: true".into());
        }
    }
    if exports.iter().any(|e| e.starts_with("opa_")) {
        return Err("unsupported execution mode: the module is an OPA (Rego) policy; configure it as type: opa or type: gatekeeper".into());
    }
    let entry = match mode {
        Mode::Wapc => "__guest_call",
        Mode::Wasi => "_start",
    };
    let compiled = runtime::load(bytes, m.memory_limit, true, &[entry], add_wapc)?;
    let settings = match &m.settings {
        Some(v) => serde_json::to_vec(v).map_err(|e| e.to_string())?,
        None => b"{}".to_vec(),
    };
    let (answer, _logs, _) = guest_call(&compiled, mode, "validate_settings", &settings, m.timeout);
    let answer = answer.map_err(|e| format!("validate_settings failed: {e}"))?;
    #[derive(Deserialize)]
    struct SettingsValidation {
        valid: bool,
        #[serde(default)]
        message: Option<String>,
    }
    let v: SettingsValidation = serde_json::from_slice(&answer)
        .map_err(|e| format!("malformed validate_settings answer: {e}"))?;
    if !v.valid {
        return Err(format!(
            "invalid settings: {}",
            v.message.unwrap_or_else(|| "no message".into())
        ));
    }
    Ok(Policy { compiled, mode })
}

#[derive(Deserialize)]
struct ValidationResponse {
    accepted: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    mutated_object: Option<Value>,
    #[serde(default)]
    audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

/// Runs `validate` on an AdmissionRequest (`request`, the caller's JSON bytes) and maps the
/// ValidationResponse as Kubewarden does. `object` gives the request's object as a DOM; it is
/// only asked for when the policy answers with a `mutated_object` to compare it with.
pub(crate) fn validate<'o>(
    m: &ModuleConfig,
    policy: &Policy,
    settings: Option<&[u8]>,
    request: &[u8],
    object: impl FnOnce() -> &'o Value,
    deadline: Deadline,
    report: &mut Report,
) -> (Result<Verdict, Failure>, Duration) {
    let name = &m.name;
    let timeout = match deadline.limit(m.timeout) {
        Ok(t) => t,
        Err(e) => return (Err(e), Duration::ZERO),
    };
    let payload = validate_payload(request, settings);
    if m.debug {
        report.log(
            Level::Debug,
            name,
            format!("in: {}", String::from_utf8_lossy(&payload)),
        );
    }
    let (answer, logs, took) =
        guest_call(&policy.compiled, policy.mode, "validate", &payload, timeout);
    for (level, line) in logs {
        report.log(level, name, line);
    }
    let verdict = answer.and_then(|bytes| {
        if m.debug {
            report.log(
                Level::Debug,
                name,
                format!("out: {}", String::from_utf8_lossy(&bytes)),
            );
        }
        let r: ValidationResponse = {
            let _timing = timing::span(Part::AnswerParse);
            serde_json::from_slice(&bytes)
                .map_err(|e| Failure::malformed(format!("malformed ValidationResponse: {e}")))?
        };
        let mut object = Some(object);
        let mut original = || object.take().map_or(&Value::Null, |f| f());
        let mutated = r
            .mutated_object
            .filter(|o| r.accepted && !o.is_null())
            .map(|o| (original(), o));
        let object_is_null = mutated.as_ref().map(|(orig, _)| orig.is_null());
        let mutation = mutated
            .filter(|(orig, o)| o != *orig)
            .map(|(_, o)| Mutation::Full(o));
        // Kubewarden's own rules and wording for mutations it refuses.
        if mutation.is_some() {
            if !m.admission.as_ref().is_some_and(|a| a.mutating) {
                return Err(Failure::malformed("The policy attempted to mutate the request, but it is currently configured to not allow mutations (set mutating: true)"));
            }
            if object_is_null == Some(true) {
                return Err(Failure::malformed("Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed"));
            }
        }
        let status = (!r.accepted).then(|| Status {
            code: r.code.filter(|c| *c != 0).unwrap_or(403),
            message: r.message.unwrap_or_default(),
            reason: String::new(),
        });
        Ok(Verdict {
            allowed: r.accepted,
            status,
            mutation,
            warnings: r.warnings.unwrap_or_default(),
            audit_annotations: r.audit_annotations.unwrap_or_default(),
        })
    });
    (
        verdict.map_err(|e| clean_failure(&Redactor::default(), e)),
        took,
    )
}

/// The fields of a JSON object in document order, their values unparsed.
struct TopLevel<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(TopLevel(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Builds `validate`'s payload `{"request": …, "settings": …}` from the caller's request bytes.
/// Kubewarden's SDKs reject `null` in optional fields (`options`, `dryRun`, …): those are
/// omitted, as policy-server does; a null `object` or `oldObject` stays. Only the request's
/// top level is parsed (its values are copied as they are), never the object into a DOM.
fn validate_payload(request: &[u8], settings: Option<&[u8]>) -> Vec<u8> {
    let settings = settings.unwrap_or(b"{}");
    let mut payload = Vec::with_capacity(request.len() + settings.len() + 32);
    payload.extend_from_slice(b"{\"request\":");
    match serde_json::from_slice::<TopLevel<'_>>(request) {
        Ok(TopLevel(fields)) => {
            payload.push(b'{');
            let mut first = true;
            for (key, value) in fields {
                if value.get() == "null" && key != "object" && key != "oldObject" {
                    continue;
                }
                if !first {
                    payload.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut payload, &key).expect("a string serialises");
                payload.push(b':');
                payload.extend_from_slice(value.get().as_bytes());
            }
            payload.push(b'}');
        }
        Err(_) => payload.extend_from_slice(request),
    }
    payload.extend_from_slice(b",\"settings\":");
    payload.extend_from_slice(settings);
    payload.push(b'}');
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_payload_drops_null_optional_fields_only() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                r#"{"uid":"u","options":null,"dryRun":null,"object":null,"oldObject":null}"#,
                None,
                r#"{"request":{"uid":"u","object":null,"oldObject":null},"settings":{}}"#,
            ),
            (
                r#" { "uid" : "u", "object" : {"a": [1, null]} } "#,
                Some(r#"{"k":1}"#),
                r#"{"request":{"uid":"u","object":{"a": [1, null]}},"settings":{"k":1}}"#,
            ),
            (
                r#"{"uid":"u","kind":{"kind":"Pod"},"dryRun":false,"x\"y":null,"x\"z":1}"#,
                None,
                r#"{"request":{"uid":"u","kind":{"kind":"Pod"},"dryRun":false,"x\"z":1},"settings":{}}"#,
            ),
            ("[1]", None, r#"{"request":[1],"settings":{}}"#),
        ];
        for (request, settings, want) in cases {
            let got = validate_payload(request.as_bytes(), settings.map(str::as_bytes));
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{request}");
        }
    }

    #[test]
    fn finds_custom_sections() {
        let wasm =
            wat::parse_str(r#"(module (@custom "io.kubewarden.metadata" "{\"mutating\":true}"))"#)
                .unwrap();
        assert_eq!(
            custom_section(&wasm, METADATA_SECTION),
            Some(&b"{\"mutating\":true}"[..])
        );
        assert_eq!(custom_section(&wasm, "other"), None);
        assert_eq!(custom_section(b"garbage", METADATA_SECTION), None);
    }

    /// A WASI-mode policy calling a refused capability in a loop: the answers appended to its
    /// stdin stop at their bound, and the call fails naming it.
    #[test]
    fn host_call_answers_are_bounded() {
        let wasm = wat::parse_str(
            r#"(module
                (import "host" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1)
                (data (i32.const 0) "kubewardenoci")
                (func (export "_start")
                  (loop $again
                    (drop (call $call (i32.const 0) (i32.const 10) (i32.const 10) (i32.const 3)
                                      (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0)))
                    (br $again))))"#,
        )
        .unwrap();
        let path =
            std::env::temp_dir().join(format!("kubewasm-host-calls-{}.wasm", std::process::id()));
        std::fs::write(&path, wasm).unwrap();
        let file = runtime::ModuleFile::read(runtime::engine().unwrap(), &path, None).unwrap();
        std::fs::remove_file(&path).unwrap();
        let compiled = runtime::load(&file, 64 << 20, true, &["_start"], add_wapc).unwrap();
        let (answer, logs, took) = wasi_call(&compiled, "validate", b"{}", Duration::from_secs(10));
        let err = answer.unwrap_err();
        assert!(
            err.message.contains("bytes of answers in one call"),
            "{err}"
        );
        assert_eq!(err.kind, FailureKind::OutputLimit);
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(logs.len() <= MAX_LOG_LINES, "{}", logs.len());
    }

    #[test]
    fn host_calls() {
        let mut w = WapcState::default();
        assert!(
            host_call(
                &mut w,
                "kubewarden",
                "tracing",
                "log",
                br#"{"level":"warning","message":"hi","k":1}"#
            )
            .is_ok()
        );
        assert_eq!(w.logs, vec![(Level::Warning, "hi k=1".to_string())]);
        let cases = [
            (
                "kubewarden",
                "kubernetes",
                "list_resources_by_namespace",
                "Cannot process Wasm guest request",
            ),
            (
                "kubewarden",
                "net",
                "v1/dns_lookup_host",
                "no host capability kubewarden/net/v1/dns_lookup_host",
            ),
            ("kubewarden", "bogus", "x", "unknown namespace: bogus"),
            ("kubewarden", "tracing", "x", "unknown operation: x"),
            ("other", "a", "b", "unknown binding: other"),
        ];
        for (b, n, o, want) in cases {
            assert!(
                host_call(&mut w, b, n, o, b"{}")
                    .unwrap_err()
                    .contains(want),
                "{b}/{n}/{o}"
            );
        }
    }
}
