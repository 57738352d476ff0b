//! The `opa` and `gatekeeper` protocols: Rego policies compiled with `opa build -t wasm`, run
//! through OPA's WebAssembly ABI (version 1.2 or later), following Kubewarden's conventions.
//!
//! **ABI.** The module imports `env.memory` (see [`memory`]: it is given its own),
//! `env.opa_abort`, `env.opa_println` and `env.opa_builtin0..4`; it exports `opa_malloc`,
//! `opa_json_parse`, `opa_json_dump`, `opa_heap_ptr_get`, `builtins`, `entrypoints` and the
//! one-shot `opa_eval(0, entrypoint, data, input, input_len, heap, format)`, whose answer is the
//! JSON text `[{"result": <value of the entrypoint>}]` (`[]` when it is undefined).
//!
//! **Load.** The memory import is rewritten, the module compiled and linked, then one instance
//! reports its ABI version, the builtins it needs from the host (a name the host lacks fails the
//! load, naming it: see [`builtins`]) and its entrypoints. Entrypoint 0 is evaluated (the first
//! `-e` given to `opa build`), as Kubewarden does.
//!
//! **Call.** A fresh instance per request (as for every module): the data document is parsed
//! into the policy's heap, the input written after it, `opa_eval` run within the module's time
//! and memory limits, its answer read (at most [`MAX_OUTPUT`] bytes).
//! - `opa`: input `{"request": <AdmissionRequest>}`, data = the settings; the entrypoint's value
//!   is an AdmissionReview whose `response` (`allowed`, `status.message`, `status.code`,
//!   `warnings`, `auditAnnotations`) is the decision.
//! - `gatekeeper`: input `{"review": <AdmissionRequest>, "parameters": <settings>}`, data `{}`;
//!   the entrypoint's value is the list of violations `{"msg": ...}`: none allows, any rejects
//!   with every `msg`, sorted, joined by ", ".
//!
//! Neither mutates (configuration refuses `mutating: true`; an answer carrying a patch is
//! malformed).

pub mod builtins;
pub mod memory;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasmtime::{
    AsContext, AsContextMut, Caller, Extern, Instance, Linker, Memory, Store, TypedFunc, Val,
};

use crate::call::{Deadline, Report, clean_failure};
use crate::config::{ModuleConfig, ModuleType};
use crate::decision::{Status, Verdict};
use crate::error::{Failure, FailureKind};
use crate::limits::{BoundExceeded, MAX_LOG_LINES, MAX_MESSAGE, MAX_OUTPUT, sanitize};
use crate::log::{Level, LogLine, Redactor};
use crate::runtime::{self, CallState, Compiled, ModuleFile};

use self::builtins::Builtin;
use self::memory::MEMORY_EXPORT;

/// The exports every compiled policy must have (ABI 1.2 or later).
const REQUIRED_EXPORTS: &[&str] = &[
    "opa_eval",
    "opa_malloc",
    "opa_json_parse",
    "opa_json_dump",
    "opa_heap_ptr_get",
    "builtins",
    "entrypoints",
];

/// Most bytes one builtin call may exchange with the policy (its arguments dumped, its result).
pub const MAX_BUILTIN_BYTES: usize = 1 << 20;

/// The builtins a policy needs from the host, by the ids the policy uses for them.
type BuiltinTable = Arc<HashMap<i32, (String, Builtin)>>;

/// Per-call state of a Rego policy.
#[derive(Default)]
pub struct OpaState {
    builtins: BuiltinTable,
    /// Log lines from `opa_println` and `trace`.
    pub logs: Vec<(Level, String)>,
    dropped_logs: usize,
    /// `time.now_ns` of this call, once read.
    pub(crate) now_ns: Option<i64>,
    /// Why the policy called `opa_abort`, or why a builtin failed.
    failed: Option<String>,
}

impl OpaState {
    fn log(&mut self, level: Level, message: String) {
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push((level, sanitize(&message, MAX_MESSAGE)));
        } else {
            self.dropped_logs += 1;
        }
    }
}

/// A loaded Rego policy.
pub struct Policy {
    compiled: Compiled<OpaState>,
    builtins: BuiltinTable,
    entrypoint: i32,
    style: ModuleType,
}

/// The policy's functions the host calls, found in one instance.
struct Abi {
    memory: Memory,
    malloc: TypedFunc<i32, i32>,
    json_parse: TypedFunc<(i32, i32), i32>,
    json_dump: TypedFunc<i32, i32>,
}

impl Abi {
    fn of_instance(store: &mut Store<CallState<OpaState>>, i: &Instance) -> wasmtime::Result<Abi> {
        Ok(Abi {
            memory: i
                .get_memory(&mut *store, MEMORY_EXPORT)
                .ok_or_else(|| wasmtime::format_err!("the policy has no memory"))?,
            malloc: i.get_typed_func(&mut *store, "opa_malloc")?,
            json_parse: i.get_typed_func(&mut *store, "opa_json_parse")?,
            json_dump: i.get_typed_func(&mut *store, "opa_json_dump")?,
        })
    }

    fn of_caller(c: &mut Caller<'_, CallState<OpaState>>) -> wasmtime::Result<Abi> {
        let func = |c: &mut Caller<'_, CallState<OpaState>>, name: &str| match c.get_export(name) {
            Some(Extern::Func(f)) => Ok(f),
            _ => Err(wasmtime::format_err!("the policy does not export {name}")),
        };
        let memory = match c.get_export(MEMORY_EXPORT) {
            Some(Extern::Memory(m)) => m,
            _ => return Err(wasmtime::format_err!("the policy has no memory")),
        };
        Ok(Abi {
            memory,
            malloc: func(c, "opa_malloc")?.typed(&*c)?,
            json_parse: func(c, "opa_json_parse")?.typed(&*c)?,
            json_dump: func(c, "opa_json_dump")?.typed(&*c)?,
        })
    }

    /// The NUL-terminated string at `addr`, at most `max` bytes.
    fn read_str(&self, ctx: impl AsContext, addr: i32, max: usize) -> wasmtime::Result<Vec<u8>> {
        let data = self.memory.data(&ctx);
        let start = addr as u32 as usize;
        let rest = data.get(start..).ok_or_else(|| {
            wasmtime::format_err!("the policy returned an address outside its memory")
        })?;
        match rest.iter().take(max + 1).position(|b| *b == 0) {
            Some(len) => Ok(rest[..len].to_vec()),
            None if rest.len() > max => Err(wasmtime::Error::new(BoundExceeded(format!(
                "the policy's answer is larger than {max} bytes"
            )))),
            None => Err(wasmtime::format_err!(
                "the policy returned a string that does not end inside its memory"
            )),
        }
    }

    /// Copies `bytes` into memory the policy allocated, returning its address.
    fn write_bytes(&self, mut ctx: impl AsContextMut, bytes: &[u8]) -> wasmtime::Result<i32> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| wasmtime::format_err!("a value too large for the policy"))?;
        let addr = self.malloc.call(&mut ctx, len)?;
        self.memory.write(&mut ctx, addr as u32 as usize, bytes)?;
        Ok(addr)
    }

    /// Parses JSON text into a value in the policy's heap, returning the value's address.
    fn load_json(&self, mut ctx: impl AsContextMut, json: &[u8]) -> wasmtime::Result<i32> {
        let addr = self.write_bytes(&mut ctx, json)?;
        let value = self.json_parse.call(&mut ctx, (addr, json.len() as i32))?;
        if value == 0 {
            return Err(wasmtime::format_err!(
                "the policy could not parse a JSON value"
            ));
        }
        Ok(value)
    }

    /// The value at `addr` as JSON.
    fn dump(&self, mut ctx: impl AsContextMut, addr: i32, max: usize) -> wasmtime::Result<Value> {
        let text = self.json_dump.call(&mut ctx, addr)?;
        let bytes = self.read_str(&ctx, text, max)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| wasmtime::format_err!("the policy dumped a value that is not JSON: {e}"))
    }
}

/// Calls the builtin `id` with the values at `args`; its result, parsed into the policy's heap.
fn call_builtin(
    c: &mut Caller<'_, CallState<OpaState>>,
    id: i32,
    args: &[i32],
) -> wasmtime::Result<i32> {
    let Some((name, f)) = c.data().protocol.builtins.get(&id).cloned() else {
        let why = format!("the policy called builtin id {id}, which it did not declare");
        c.data_mut().protocol.failed = Some(why.clone());
        return Err(wasmtime::format_err!("{why}"));
    };
    let abi = Abi::of_caller(c)?;
    let mut values = Vec::with_capacity(args.len());
    for &addr in args {
        values.push(abi.dump(&mut *c, addr, MAX_BUILTIN_BYTES)?);
    }
    let result = match f(&mut c.data_mut().protocol, &values) {
        Ok(v) => v,
        Err(e) => {
            let why = builtins::clean_error(&name, &e);
            c.data_mut().protocol.failed = Some(why.clone());
            return Err(wasmtime::format_err!("{why}"));
        }
    };
    let json = serde_json::to_vec(&result)?;
    if json.len() > MAX_BUILTIN_BYTES {
        return Err(wasmtime::Error::new(BoundExceeded(format!(
            "builtin {name} returned more than {MAX_BUILTIN_BYTES} bytes"
        ))));
    }
    abi.load_json(&mut *c, &json)
}

/// Adds the policy's imports: `opa_abort`, `opa_println`, `opa_builtin0..4`.
fn add_opa(linker: &mut Linker<CallState<OpaState>>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "opa_abort",
        |mut c: Caller<'_, CallState<OpaState>>, addr: i32| -> wasmtime::Result<()> {
            let text = Abi::of_caller(&mut c)
                .and_then(|abi| abi.read_str(&c, addr, MAX_MESSAGE))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|_| "no message".into());
            let why = format!("the policy aborted: {}", sanitize(&text, MAX_MESSAGE));
            c.data_mut().protocol.failed = Some(why.clone());
            Err(wasmtime::format_err!("{why}"))
        },
    )?;
    linker.func_wrap(
        "env",
        "opa_println",
        |mut c: Caller<'_, CallState<OpaState>>, addr: i32| -> wasmtime::Result<()> {
            let abi = Abi::of_caller(&mut c)?;
            let bytes = abi.read_str(&c, addr, MAX_MESSAGE).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            c.data_mut().protocol.log(Level::Info, text);
            Ok(())
        },
    )?;
    type C<'a> = Caller<'a, CallState<OpaState>>;
    linker.func_wrap("env", "opa_builtin0", |mut c: C<'_>, id: i32, _ctx: i32| {
        call_builtin(&mut c, id, &[])
    })?;
    linker.func_wrap(
        "env",
        "opa_builtin1",
        |mut c: C<'_>, id: i32, _ctx: i32, a: i32| call_builtin(&mut c, id, &[a]),
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin2",
        |mut c: C<'_>, id: i32, _ctx: i32, a: i32, b: i32| call_builtin(&mut c, id, &[a, b]),
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin3",
        |mut c: C<'_>, id: i32, _ctx: i32, a: i32, b: i32, d: i32| {
            call_builtin(&mut c, id, &[a, b, d])
        },
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin4",
        |mut c: C<'_>, id: i32, _ctx: i32, a: i32, b: i32, d: i32, e: i32| {
            call_builtin(&mut c, id, &[a, b, d, e])
        },
    )?;
    Ok(())
}

fn global_i32(store: &mut Store<CallState<OpaState>>, i: &Instance, name: &str) -> Option<i32> {
    match i.get_global(&mut *store, name)?.get(&mut *store) {
        Val::I32(v) => Some(v),
        _ => None,
    }
}

/// Reads a `{name: id}` map the policy exports (`builtins`, `entrypoints`).
fn id_map(v: &Value, what: &str) -> Result<Vec<(String, i32)>, String> {
    let map = v
        .as_object()
        .ok_or_else(|| format!("the policy's {what} are not a JSON object"))?;
    map.iter()
        .map(|(k, id)| {
            id.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .map(|i| (k.clone(), i))
                .ok_or_else(|| format!("the policy's {what} give {k} a bad id {id}"))
        })
        .collect()
}

/// Loads a Rego policy for `m` (type `opa` or `gatekeeper`); load-time notes go to `logs`.
pub fn load(
    m: &ModuleConfig,
    file: &ModuleFile,
    logs: &mut Vec<LogLine>,
) -> Result<Policy, String> {
    let exports = super::kubewarden::wasm_exports(file);
    if !exports.iter().any(|e| e.starts_with("opa_")) {
        return Err(format!(
            "the module is not a Rego policy compiled with `opa build -t wasm` (it exports no opa_* function), but it is configured as type: {}",
            m.module_type.as_str()
        ));
    }
    if !exports.iter().any(|e| e == "opa_eval") {
        return Err("the policy was built for an OPA Wasm ABI older than 1.2 (it does not export opa_eval): rebuild it with a newer opa".into());
    }
    if let Some(raw) = super::kubewarden::custom_section(file, super::kubewarden::METADATA_SECTION)
        && let Ok(md) = serde_json::from_slice::<super::kubewarden::Metadata>(raw)
        && let Some(mode) = md.execution_mode.as_deref()
        && mode != m.module_type.as_str()
    {
        return Err(format!(
            "the policy's metadata declares executionMode \"{mode}\", but it is configured as type: {}",
            m.module_type.as_str()
        ));
    }
    if file.precompiled().is_some() {
        logs.push(LogLine {
            level: Level::Info,
            module: m.name.clone(),
            message: "a .cwasm is not used for Rego policies: the policy is compiled from its .wasm (its memory import is rewritten first)".into(),
        });
    }
    let own = ModuleFile::from_bytes(memory::own_memory(file)?);
    let compiled = runtime::load(&own, m.memory_limit, true, REQUIRED_EXPORTS, add_opa)?;
    let inspected = compiled.run(Vec::new(), m.timeout, |store, instance| {
        let version = global_i32(store, instance, "opa_wasm_abi_version");
        let minor = global_i32(store, instance, "opa_wasm_abi_minor_version");
        let abi = Abi::of_instance(store, instance)?;
        let addr = instance
            .get_typed_func::<(), i32>(&mut *store, "builtins")?
            .call(&mut *store, ())?;
        let builtins = abi.dump(&mut *store, addr, MAX_BUILTIN_BYTES)?;
        let addr = instance
            .get_typed_func::<(), i32>(&mut *store, "entrypoints")?
            .call(&mut *store, ())?;
        let entrypoints = abi.dump(&mut *store, addr, MAX_BUILTIN_BYTES)?;
        Ok((version, minor, builtins, entrypoints))
    });
    let (version, minor, needed, entrypoints) = inspected
        .map_err(|f| {
            format!(
                "cannot read the policy's builtins and entrypoints: {}",
                f.message
            )
        })?
        .value;
    if version != Some(1) || minor.is_none_or(|m| m < 2) {
        return Err(format!(
            "the policy needs OPA Wasm ABI {}.{}; kubewasm runs ABI 1.2 and later 1.x",
            version.map_or("?".into(), |v| v.to_string()),
            minor.map_or("?".into(), |v| v.to_string())
        ));
    }
    let mut table = HashMap::new();
    let mut missing = Vec::new();
    for (name, id) in id_map(&needed, "builtins")? {
        match builtins::lookup(&name) {
            Some(f) => {
                table.insert(id, (name, f));
            }
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        let provided: Vec<&str> = builtins::SUPPORTED.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "the policy needs builtins the host does not provide: {} (the host provides {}; the others are compiled into the policy)",
            missing.join(", "),
            provided.join(", ")
        ));
    }
    let entrypoints = id_map(&entrypoints, "entrypoints")?;
    let Some((entry_name, entrypoint)) = entrypoints.iter().find(|(_, id)| *id == 0).cloned()
    else {
        return Err(
            "the policy has no entrypoint 0 (build it with opa build -t wasm -e <package/rule>)"
                .into(),
        );
    };
    logs.push(LogLine {
        level: Level::Debug,
        module: m.name.clone(),
        message: format!(
            "Rego policy (OPA Wasm ABI 1.{}), type {}, entrypoint {entry_name}",
            minor.unwrap_or(0),
            m.module_type.as_str()
        ),
    });
    Ok(Policy {
        compiled,
        builtins: Arc::new(table),
        entrypoint,
        style: m.module_type,
    })
}

/// The policy's input and data documents for `request` (the AdmissionRequest, serialised).
fn documents(style: ModuleType, request: &[u8], settings: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let settings = settings.unwrap_or(b"{}");
    let mut input = Vec::with_capacity(request.len() + settings.len() + 32);
    if style == ModuleType::Gatekeeper {
        input.extend_from_slice(b"{\"review\":");
        input.extend_from_slice(request);
        input.extend_from_slice(b",\"parameters\":");
        input.extend_from_slice(settings);
        input.push(b'}');
        (input, b"{}".to_vec())
    } else {
        input.extend_from_slice(b"{\"request\":");
        input.extend_from_slice(request);
        input.push(b'}');
        (input, settings.to_vec())
    }
}

/// Log lines a policy emitted during a call.
type PolicyLogs = Vec<(Level, String)>;

/// Evaluates the policy's entrypoint with `input` and `data`: the entrypoint's value, or
/// `None` when it is undefined.
fn evaluate(
    policy: &Policy,
    input: &[u8],
    data: &[u8],
    timeout: Duration,
) -> (Result<Option<Value>, Failure>, PolicyLogs, Duration) {
    let entrypoint = policy.entrypoint;
    let run = policy.compiled.run(Vec::new(), timeout, |store, instance| {
        store.data_mut().protocol.builtins = policy.builtins.clone();
        let abi = Abi::of_instance(store, instance)?;
        let data_addr = abi.load_json(&mut *store, data)?;
        let heap_get = instance.get_typed_func::<(), i32>(&mut *store, "opa_heap_ptr_get")?;
        let input_addr = heap_get.call(&mut *store, ())? as u32 as usize;
        let end = input_addr + input.len();
        let size = abi.memory.data_size(&*store);
        if end > size {
            let pages = (end - size).div_ceil(1 << 16) as u64;
            abi.memory.grow(&mut *store, pages)?;
        }
        abi.memory.write(&mut *store, input_addr, input)?;
        let eval = instance
            .get_typed_func::<(i32, i32, i32, i32, i32, i32, i32), i32>(&mut *store, "opa_eval")?;
        let answer = eval.call(
            &mut *store,
            (
                0,
                entrypoint,
                data_addr,
                input_addr as i32,
                input.len() as i32,
                end as i32,
                0,
            ),
        )?;
        abi.read_str(&*store, answer, MAX_OUTPUT)
    });
    match run {
        Ok(out) => {
            let mut state = out.protocol;
            if state.dropped_logs > 0 {
                state.logs.push((
                    Level::Warning,
                    format!("{} more log lines dropped", state.dropped_logs),
                ));
            }
            let value = serde_json::from_slice::<Value>(&out.value)
                .map_err(|e| Failure::malformed(format!("the policy's answer is not JSON: {e}")))
                .and_then(|v| match v {
                    Value::Array(mut results) if results.len() <= 1 => Ok(results
                        .pop()
                        .map(|mut r| r.get_mut("result").map(Value::take).unwrap_or(Value::Null))),
                    _ => Err(Failure::malformed(
                        "the policy's answer is not a list of at most one result",
                    )),
                });
            (value, state.logs, out.duration)
        }
        Err(f) => {
            let failure = match &f.protocol.failed {
                Some(why) => Failure::new(FailureKind::ModuleError, why.clone()),
                None => Failure::new(f.kind, format!("evaluation failed: {}", f.message)),
            };
            (Err(failure), f.protocol.logs, f.duration)
        }
    }
}

/// Turns the value of an `opa` policy's entrypoint (an AdmissionReview) into a verdict.
fn opa_verdict(value: Option<Value>) -> Result<Verdict, Failure> {
    let value = value.ok_or_else(|| {
        Failure::malformed(
            "the policy's entrypoint is undefined for this request (no AdmissionReview)",
        )
    })?;
    let response = value
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| Failure::malformed("the policy's answer has no response object (an opa policy returns an AdmissionReview)"))?;
    let allowed = response
        .get("allowed")
        .and_then(Value::as_bool)
        .ok_or_else(|| Failure::malformed("the policy's response has no boolean allowed"))?;
    if response.get("patch").is_some_and(|p| !p.is_null()) {
        return Err(Failure::malformed(
            "the policy's response carries a patch: opa policies only validate",
        ));
    }
    let status = response.get("status");
    let text = |k: &str| {
        status
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let audit_annotations = response
        .get("auditAnnotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Verdict {
        allowed,
        status: (!allowed).then(|| Status {
            code: status
                .and_then(|s| s.get("code"))
                .and_then(Value::as_i64)
                .filter(|c| *c != 0)
                .unwrap_or(403),
            message: text("message"),
            reason: text("reason"),
        }),
        mutation: None,
        warnings,
        audit_annotations,
    })
}

/// Turns a `gatekeeper` policy's violations into a verdict: none allows, any rejects with every
/// `msg` (sorted) joined by ", " (Kubewarden's wording).
fn gatekeeper_verdict(value: Option<Value>) -> Result<Verdict, Failure> {
    let violations = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(v)) => v,
        Some(_) => {
            return Err(Failure::malformed(
                "the policy's violations are not a list (build it with -e <package>/violation)",
            ));
        }
    };
    if violations.is_empty() {
        return Ok(Verdict {
            allowed: true,
            status: None,
            mutation: None,
            warnings: Vec::new(),
            audit_annotations: Default::default(),
        });
    }
    // Sorted: a set's order in the policy's answer depends on the compiler, the list should not.
    let mut messages: Vec<String> = violations
        .iter()
        .map(|v| match v.get("msg") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => v.to_string(),
        })
        .collect();
    messages.sort();
    Ok(Verdict {
        allowed: false,
        status: Some(Status {
            code: 403,
            message: messages.join(", "),
            reason: String::new(),
        }),
        mutation: None,
        warnings: Vec::new(),
        audit_annotations: Default::default(),
    })
}

/// Evaluates the policy on an AdmissionRequest (`request`, its JSON bytes) and maps the answer
/// to a verdict as Kubewarden does for the policy's type.
pub(crate) fn validate(
    m: &ModuleConfig,
    policy: &Policy,
    settings: Option<&[u8]>,
    request: &[u8],
    deadline: Deadline,
    report: &mut Report,
) -> (Result<Verdict, Failure>, Duration) {
    let name = &m.name;
    let timeout = match deadline.limit(m.timeout) {
        Ok(t) => t,
        Err(e) => return (Err(e), Duration::ZERO),
    };
    let (input, data) = documents(policy.style, request, settings);
    if m.debug {
        report.log(
            Level::Debug,
            name,
            format!(
                "input: {} data: {}",
                String::from_utf8_lossy(&input),
                String::from_utf8_lossy(&data)
            ),
        );
    }
    let (value, logs, took) = evaluate(policy, &input, &data, timeout);
    for (level, line) in logs {
        report.log(level, name, line);
    }
    let verdict = value.and_then(|v| {
        if m.debug {
            report.log(
                Level::Debug,
                name,
                format!(
                    "result: {}",
                    v.as_ref().map_or("undefined".into(), Value::to_string)
                ),
            );
        }
        if policy.style == ModuleType::Gatekeeper {
            gatekeeper_verdict(v)
        } else {
            opa_verdict(v)
        }
    });
    (
        verdict.map_err(|e| clean_failure(&Redactor::default(), e)),
        took,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_follow_kubewarden() {
        let (input, data) = documents(ModuleType::Opa, br#"{"uid":"u"}"#, Some(br#"{"a":1}"#));
        assert_eq!(input, br#"{"request":{"uid":"u"}}"#);
        assert_eq!(data, br#"{"a":1}"#);
        let (input, data) = documents(ModuleType::Gatekeeper, br#"{"uid":"u"}"#, None);
        assert_eq!(input, br#"{"review":{"uid":"u"},"parameters":{}}"#);
        assert_eq!(data, b"{}");
    }

    #[test]
    fn opa_answers() {
        let ok = opa_verdict(Some(
            json!({"response": {"allowed": true, "warnings": ["w"]}}),
        ))
        .unwrap();
        assert!(ok.allowed && ok.status.is_none());
        assert_eq!(ok.warnings, vec!["w".to_string()]);
        let no = opa_verdict(Some(
            json!({"response": {"allowed": false, "status": {"message": "m", "code": 400}}}),
        ))
        .unwrap();
        let status = no.status.unwrap();
        assert_eq!((status.code, status.message.as_str()), (400, "m"));
        let cases = [
            (None, "undefined"),
            (Some(json!(true)), "no response object"),
            (Some(json!({"response": {}})), "no boolean allowed"),
            (
                Some(json!({"response": {"allowed": true, "patch": "W10="}})),
                "only validate",
            ),
        ];
        for (value, want) in cases {
            let err = opa_verdict(value.clone()).unwrap_err();
            assert_eq!(err.kind, FailureKind::Malformed, "{value:?}");
            assert!(err.message.contains(want), "{value:?}: {}", err.message);
        }
    }

    #[test]
    fn gatekeeper_answers() {
        assert!(gatekeeper_verdict(Some(json!([]))).unwrap().allowed);
        assert!(gatekeeper_verdict(None).unwrap().allowed);
        let no =
            gatekeeper_verdict(Some(json!([{"msg": "b", "details": {}}, {"msg": "a"}]))).unwrap();
        assert_eq!(no.status.unwrap().message, "a, b");
        assert!(gatekeeper_verdict(Some(json!({"msg": "a"}))).is_err());
    }
}
