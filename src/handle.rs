//! A [`Handle`]: one loaded configuration (authentication, authorization or admission) with
//! its compiled modules. Safe to share between threads; every call gets fresh instances.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::config::{self, Config, Kind, ModuleConfig, ModuleType};
use crate::error::{Error, ErrorCode};
use crate::limits::{
    MAX_DEBUG_LINE, MAX_IN_FLIGHT_ADMISSION, MAX_IN_FLIGHT_AUTHENTICATION,
    MAX_IN_FLIGHT_AUTHORIZATION, sanitize,
};
use crate::log::{Level, LogLine, Redactor};
use crate::protocol::{kubewarden, wasi};
use crate::runtime::{self, Compiled};

pub(crate) use crate::limits::MAX_MESSAGE;

/// A module loaded and ready to call.
pub(crate) struct LoadedModule {
    pub config: ModuleConfig,
    pub compiled: Compiled,
    /// `settings` serialised once at load.
    pub settings: Option<Vec<u8>>,
    /// Kubewarden policy metadata, for `type: kubewarden`.
    pub kubewarden: Option<kubewarden::Policy>,
}

/// A loaded configuration: the object behind the C ABI's `kubewasm_handle`.
pub struct Handle {
    kind: Kind,
    pub(crate) modules: Vec<LoadedModule>,
    modules_json: Vec<u8>,
}

/// One module call's outcome, for metrics and logs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Module name.
    pub module: String,
    /// What happened (`authenticated`, `allowed`, `rejected`, `error`, ...).
    pub outcome: &'static str,
    /// Wall time of the call in nanoseconds.
    pub duration_nanos: u64,
    /// The failure, when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Outcomes and log lines gathered while serving one request.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// One entry per module called.
    pub outcomes: Vec<Outcome>,
    /// Log lines for the caller to log.
    pub logs: Vec<LogLine>,
}

impl Report {
    /// Adds a log line; its text is sanitised and cut (debug lines, which carry whole
    /// exchanges, to [`MAX_DEBUG_LINE`], others to [`MAX_MESSAGE`]).
    pub(crate) fn log(&mut self, level: Level, module: &str, message: String) {
        let max = if level == Level::Debug {
            MAX_DEBUG_LINE
        } else {
            MAX_MESSAGE
        };
        self.logs.push(LogLine {
            level,
            module: module.to_string(),
            message: sanitize(&message, max),
        });
    }

    pub(crate) fn outcome(
        &mut self,
        module: &str,
        outcome: &'static str,
        duration: Duration,
        error: Option<String>,
    ) {
        if let Some(e) = &error {
            self.log(Level::Error, module, e.clone());
        }
        self.outcomes.push(Outcome {
            module: module.to_string(),
            outcome,
            duration_nanos: duration.as_nanos() as u64,
            error,
        });
    }
}

/// The time left for a request, from the caller's bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline `timeout_ns` from now; 0 means none.
    pub fn after_nanos(timeout_ns: u64) -> Self {
        Deadline((timeout_ns > 0).then(|| Instant::now() + Duration::from_nanos(timeout_ns)))
    }

    /// The earlier of `at` and this deadline.
    pub fn cut(&self, at: Instant) -> Instant {
        self.0.map_or(at, |d| d.min(at))
    }

    /// The time limit of the next call: the module's timeout, cut to the time left.
    pub fn limit(&self, module_timeout: Duration) -> Result<Duration, String> {
        match self.0 {
            None => Ok(module_timeout),
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left.min(module_timeout)),
                _ => Err("the request's deadline passed before the module was called".into()),
            },
        }
    }
}

/// Module calls in flight per access step (see [`crate::limits::MAX_IN_FLIGHT_AUTHENTICATION`]).
static IN_FLIGHT: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

fn share(kind: Kind) -> (&'static AtomicUsize, usize) {
    match kind {
        Kind::Authentication => (&IN_FLIGHT[0], MAX_IN_FLIGHT_AUTHENTICATION),
        Kind::Authorization => (&IN_FLIGHT[1], MAX_IN_FLIGHT_AUTHORIZATION),
        Kind::Admission => (&IN_FLIGHT[2], MAX_IN_FLIGHT_ADMISSION),
    }
}

/// The outcome of a module call refused because its step's share of instances is in use.
pub(crate) const OVERLOADED: &str = "overloaded";

/// A slot in a step's share of module calls; released when dropped.
pub(crate) struct Slot(&'static AtomicUsize);

impl Slot {
    /// Takes a slot of `kind`'s share, or fails at once (never waits) when all are in use.
    pub(crate) fn take(kind: Kind) -> Result<Slot, String> {
        let (count, max) = share(kind);
        let taken = count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        });
        match taken {
            Ok(_) => Ok(Slot(count)),
            Err(_) => Err(format!(
                "{OVERLOADED}: {max} {} module calls are in flight already",
                kind.name()
            )),
        }
    }
}

/// Module calls of `kind` in flight now, across the process.
pub fn calls_in_flight(kind: Kind) -> usize {
    share(kind).0.load(Ordering::Acquire)
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The outcome to record for a failed call: `overloaded` when its step's share was full.
pub(crate) fn failed(error: &str) -> &'static str {
    if error.starts_with(OVERLOADED) {
        OVERLOADED
    } else {
        "error"
    }
}

/// Checks an input buffer against the size cap.
pub(crate) fn check_input(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > runtime::MAX_INPUT {
        return Err(Error::bad_request(format!(
            "the request is {} bytes, more than the {} bytes accepted",
            bytes.len(),
            runtime::MAX_INPUT
        )));
    }
    Ok(())
}

impl Handle {
    /// Parses `config` (YAML or JSON) for `kind`, then loads and compiles every module. All
    /// configuration problems are reported at once; so are all load problems.
    pub fn new(kind: Kind, config: &[u8], base_dir: &Path) -> Result<Handle, Error> {
        let Config { kind, modules } = config::parse(kind, config, base_dir)?;
        let mut loaded = Vec::with_capacity(modules.len());
        let mut problems = Vec::new();
        // Load-time notes (a .cwasm used or ignored), returned in modules_json's "logs".
        let mut logs: Vec<LogLine> = Vec::new();
        for m in &modules {
            match load_module(kind, m, &mut logs) {
                Ok(l) => loaded.push(l),
                Err(e) => problems.push(format!(
                    "modules[{}] \"{}\" ({}): {e}",
                    m.id,
                    m.name,
                    m.module.display()
                )),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            let mut message = format!("cannot load {n} module{}:", if n == 1 { "" } else { "s" });
            for p in problems {
                message.push_str("\n- ");
                message.push_str(&p);
            }
            return Err(Error::new(ErrorCode::Load, message));
        }
        let modules_json = serde_json::to_vec(
            &serde_json::json!({ "kind": kind, "modules": modules, "logs": logs }),
        )
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        Ok(Handle {
            kind,
            modules: loaded,
            modules_json,
        })
    }

    /// The access step this handle serves.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The configuration with defaults applied, as JSON: `{"kind": ..., "modules": [...],
    /// "logs": [...]}`; `logs` are load-time notes for the caller to log (a `.cwasm` used or
    /// ignored).
    pub fn modules_json(&self) -> &[u8] {
        &self.modules_json
    }

    pub(crate) fn expect_kind(&self, kind: Kind) -> Result<(), Error> {
        if self.kind != kind {
            return Err(Error::invalid_argument(format!(
                "this handle was initialised for {:?}, not {:?}",
                self.kind, kind
            )));
        }
        Ok(())
    }

    /// Calls a `wasi` module with `request` and returns its `response`, logging the exchange
    /// when the module has `debug: true`. Failures come back as text, redacted and truncated.
    pub(crate) fn call_wasi(
        &self,
        m: &LoadedModule,
        request: &[u8],
        deadline: Deadline,
        redactor: &Redactor,
        report: &mut Report,
    ) -> (Result<Option<Value>, String>, Duration) {
        let name = &m.config.name;
        let timeout = match deadline.limit(m.config.timeout) {
            Ok(t) => t,
            Err(e) => return (Err(e), Duration::ZERO),
        };
        let _slot = match Slot::take(self.kind) {
            Ok(slot) => slot,
            Err(e) => return (Err(e), Duration::ZERO),
        };
        let stdin = wasi::envelope(request, m.settings.as_deref());
        if m.config.debug {
            report.log(
                Level::Debug,
                name,
                format!("in: {}", redactor.apply(&String::from_utf8_lossy(&stdin))),
            );
        }
        let export = wasi::export_for(self.kind);
        match wasi::call(&m.compiled, export, stdin, timeout) {
            Ok(out) => {
                if m.config.debug {
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
                let parsed = wasi::parse_output(&out.stdout).map_err(|e| clean(redactor, e));
                (parsed, out.duration)
            }
            Err(f) => (
                Err(clean(
                    redactor,
                    format!("call to {export} failed: {}", f.message),
                )),
                f.duration,
            ),
        }
    }
}

/// Redacts module-provided text, replaces its control characters and cuts it to
/// [`MAX_MESSAGE`].
pub(crate) fn clean(redactor: &Redactor, text: String) -> String {
    sanitize(&redactor.apply(&text), MAX_MESSAGE)
}

fn load_module(
    kind: Kind,
    m: &ModuleConfig,
    logs: &mut Vec<LogLine>,
) -> Result<LoadedModule, String> {
    let settings = match &m.settings {
        Some(v) => {
            Some(serde_json::to_vec(v).map_err(|e| format!("cannot serialise settings: {e}"))?)
        }
        None => None,
    };
    match m.module_type {
        ModuleType::Wasi => {
            let bytes = runtime::read_module(&m.module, m.sha256.as_deref())?;
            logs.extend(bytes.notes(&m.name));
            let compiled = runtime::load(
                &bytes,
                m.memory_limit,
                false,
                &[wasi::export_for(kind)],
                |_| Ok(()),
            )?;
            Ok(LoadedModule {
                config: m.clone(),
                compiled,
                settings,
                kubewarden: None,
            })
        }
        ModuleType::Kubewarden => {
            let bytes = runtime::read_module(&m.module, m.sha256.as_deref())?;
            logs.extend(bytes.notes(&m.name));
            let (compiled, policy) = kubewarden::load(m, &bytes)?;
            Ok(LoadedModule {
                config: m.clone(),
                compiled,
                settings,
                kubewarden: Some(policy),
            })
        }
    }
}
