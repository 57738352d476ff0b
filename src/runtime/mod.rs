//! The wasmtime runtime: one engine per process, each module compiled once at init, a fresh
//! instance per call from an `InstancePre`, and per-call limits on time (epoch interruption),
//! memory (a resource limiter) and output (a capped stdout).

pub mod precompiled;
pub mod wasi_p1;

pub use precompiled::ModuleFile;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Enabled, Engine, ExternType, Instance, InstanceAllocationStrategy, InstancePre, Linker,
    Memory, PoolingAllocationConfig, ProfilingStrategy, ResourceLimiter, Store, Trap,
};

use crate::error::FailureKind;
use crate::limits::MAX_TABLE_ELEMENTS;
pub use crate::limits::{EPOCH_TICK, MAX_INPUT, MAX_INSTANCES, MAX_OUTPUT, MAX_STDERR};

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Set to `1` in the process environment, the engine writes `/tmp/perf-<pid>.map` so that
/// `perf report` names the modules' compiled functions instead of showing bare `[JIT]`
/// addresses. Off by default: the map grows with every module loaded.
pub const PERF_MAP_ENV: &str = "KUBEWASM_PERF_MAP";

fn perf_map_requested(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

fn new_engine() -> Result<Engine, String> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(MAX_INSTANCES)
        .total_memories(MAX_INSTANCES)
        .total_tables(MAX_INSTANCES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(crate::config::MAX_MEMORY_LIMIT as usize)
        .max_core_instance_size(4 << 20)
        // Reset small memories with memset instead of madvise: the largest lever for
        // instance-per-call (see reference/wasmtime-performance.md §1.4).
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .max_unused_warm_slots(64)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(8));
    if perf_map_requested(std::env::var_os(PERF_MAP_ENV).as_deref()) {
        // For profiling only (docs/performance.md): not part of the precompiled-module
        // compatibility hash, so `.cwasm` files stay valid.
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine =
        Engine::new(&config).map_err(|e| format!("cannot create the wasmtime engine: {e}"))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("kubewasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
    Ok(engine)
}

/// The process-wide engine, created on first use.
pub fn engine() -> Result<&'static Engine, String> {
    ENGINE
        .get_or_init(new_engine)
        .as_ref()
        .map_err(Clone::clone)
}

/// Per-call host state: the guest's stdio, its limits, and the state `P` of the protocol the
/// module speaks (the runtime knows nothing about protocols: `P` is to it what `T` is to
/// wasmtime's `Store<T>`).
pub struct CallState<P = ()> {
    /// Command-line arguments: the module's name for `wasi` modules, the command for
    /// Kubewarden's WASI execution mode, none otherwise.
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) stdin: Vec<u8>,
    pub(crate) stdin_pos: usize,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stdout_cap: usize,
    pub(crate) stderr: Vec<u8>,
    pub(crate) stderr_cap: usize,
    /// Whether the guest may read the clock.
    pub(crate) clock: bool,
    pub(crate) started: Instant,
    /// Nanoseconds the fake clock of a module not granted the real one has moved: one tick
    /// per reading, plus every timeout the module waited for in `poll_oneoff`.
    pub(crate) fake_elapsed: u64,
    rng: u64,
    /// The instance's exported `memory`, looked up once after instantiation so that host
    /// functions do not look it up by name on every call (`None` during instantiation, or
    /// when the module exports no memory by that name).
    pub(crate) memory: Option<Memory>,
    memory_limit: u64,
    memory_exceeded: Option<usize>,
    /// The protocol's per-call state.
    pub(crate) protocol: P,
}

impl<P: Default> CallState<P> {
    fn new(stdin: Vec<u8>, memory_limit: u64, clock: bool) -> Self {
        CallState {
            args: Vec::new(),
            stdin,
            stdin_pos: 0,
            stdout: Vec::new(),
            stdout_cap: MAX_OUTPUT,
            stderr: Vec::new(),
            stderr_cap: MAX_STDERR,
            clock,
            started: Instant::now(),
            fake_elapsed: 0,
            rng: 0x853c_49e6_748f_ea9b,
            memory: None,
            memory_limit,
            memory_exceeded: None,
            protocol: Default::default(),
        }
    }
}

impl<P> CallState<P> {
    /// Deterministic pseudo-random bytes (a module gets no entropy it could leak or depend on).
    pub(crate) fn next_random(&mut self) -> u8 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 24) as u8
    }
}

/// The guest tried to grow its memory past the configured limit.
#[derive(Debug)]
struct MemoryLimitExceeded {
    limit: u64,
    desired: usize,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit of {} bytes exceeded (the module asked for {} bytes)",
            self.limit, self.desired
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl<P: Send> ResourceLimiter for CallState<P> {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_limit {
            self.memory_exceeded = Some(desired);
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.memory_limit,
                desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// A compiled module ready to be instantiated once per call, for a protocol whose per-call
/// state is `P`.
pub struct Compiled<P = ()> {
    pre: InstancePre<CallState<P>>,
    memory_limit: u64,
    clock: bool,
}

/// What a successful call leaves behind.
pub struct CallOutput<T, P = ()> {
    /// The protocol function's own result.
    pub value: T,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// The first bytes written to stderr.
    pub stderr: Vec<u8>,
    /// Protocol state after the call.
    pub protocol: P,
    /// Wall time of the call, instantiation included.
    pub duration: Duration,
}

/// A failed call: trap, timeout, limit, or exit with a non-zero code.
#[derive(Debug)]
pub struct CallFailure<P = ()> {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong, with the module's stderr when it wrote any.
    pub message: String,
    /// Wall time of the call.
    pub duration: Duration,
    /// Protocol state after the failure (log lines a policy emitted before failing).
    pub protocol: Box<P>,
}

/// Reads a module file, checks its digest when one is pinned, and loads the valid `.cwasm`
/// next to it, if any (see [`precompiled`]).
pub fn read_module(path: &Path, sha256: Option<&str>) -> Result<ModuleFile, String> {
    ModuleFile::read(engine()?, path, sha256)
}

/// Compiles a module (or takes its precompiled form), links it with the WASI host plus
/// `add_protocol`'s imports, checks that it exports the functions in `required_exports`, and
/// instantiates it once to check that it fits its limits.
pub fn load<P: Default + Send + 'static>(
    file: &ModuleFile,
    memory_limit: u64,
    clock: bool,
    required_exports: &[&str],
    add_protocol: impl FnOnce(&mut Linker<CallState<P>>) -> wasmtime::Result<()>,
) -> Result<Compiled<P>, String> {
    let engine = engine()?;
    let module = file.module(engine)?;
    for name in required_exports {
        match module.get_export(name) {
            Some(ExternType::Func(_)) => {}
            Some(_) => return Err(format!("export \"{name}\" is not a function")),
            None => {
                return Err(format!(
                    "the module does not export the function \"{name}\" that this step needs"
                ));
            }
        }
    }
    let mut linker = Linker::new(engine);
    wasi_p1::add_to_linker(&mut linker).map_err(|e| format!("internal error linking WASI: {e}"))?;
    add_protocol(&mut linker).map_err(|e| format!("internal error linking the protocol: {e}"))?;
    wasi_p1::stub_missing(&mut linker, &module)
        .map_err(|e| format!("internal error linking WASI stubs: {e}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| format!("the module needs an import the host does not provide: {e}"))?;
    let compiled = Compiled {
        pre,
        memory_limit,
        clock,
    };
    // One trial instantiation: an initial memory above the limit fails here, not on a request.
    compiled
        .run(Vec::new(), Duration::from_secs(5), |_, _| Ok(()))
        .map_err(|f| format!("the module cannot be instantiated: {}", f.message))?;
    Ok(compiled)
}

impl<P: Default + Send + 'static> Compiled<P> {
    /// Instantiates the module in a fresh store with `stdin` as its input and runs `body` on it
    /// within `timeout`. Any trap, limit or `proc_exit` the body does not handle fails the call.
    pub fn run<T>(
        &self,
        stdin: Vec<u8>,
        timeout: Duration,
        body: impl FnOnce(&mut Store<CallState<P>>, &Instance) -> wasmtime::Result<T>,
    ) -> Result<CallOutput<T, P>, CallFailure<P>> {
        let started = Instant::now();
        let engine = self.pre.module().engine();
        let mut store = Store::new(
            engine,
            CallState::<P>::new(stdin, self.memory_limit, self.clock),
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        let result = self.pre.instantiate(&mut store).and_then(|instance| {
            store.data_mut().memory = instance.get_memory(&mut store, "memory");
            body(&mut store, &instance)
        });
        let duration = started.elapsed();
        let state = store.into_data();
        match result {
            Ok(value) => Ok(CallOutput {
                value,
                stdout: state.stdout,
                stderr: state.stderr,
                protocol: state.protocol,
                duration,
            }),
            Err(err) => {
                let (mut kind, mut message) = describe(&err, timeout);
                if let Some(desired) = state.memory_exceeded {
                    kind = FailureKind::MemoryLimit;
                    message = MemoryLimitExceeded {
                        limit: state.memory_limit,
                        desired,
                    }
                    .to_string();
                }
                let stderr = String::from_utf8_lossy(&state.stderr);
                let stderr = stderr.trim();
                if !stderr.is_empty() {
                    message = format!("{message}; stderr: {stderr}");
                }
                Err(CallFailure {
                    kind,
                    message,
                    duration,
                    protocol: Box::new(state.protocol),
                })
            }
        }
    }
}

/// Turns a wasmtime error into its failure kind and a short, operator-facing message.
fn describe(err: &wasmtime::Error, timeout: Duration) -> (FailureKind, String) {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => (
                FailureKind::Timeout,
                format!(
                    "timed out after {}",
                    crate::config::format_duration(timeout)
                ),
            ),
            Trap::StackOverflow => (
                FailureKind::Trap,
                "wasm trap: call stack exhausted".to_string(),
            ),
            other => (FailureKind::Trap, format!("wasm trap: {other}")),
        };
    }
    if let Some(exit) = err.downcast_ref::<wasi_p1::Exit>() {
        return (FailureKind::ModuleError, exit.to_string());
    }
    if let Some(e) = err.downcast_ref::<wasi_p1::OutputTooLarge>() {
        return (FailureKind::OutputLimit, e.to_string());
    }
    if let Some(e) = err.downcast_ref::<MemoryLimitExceeded>() {
        return (FailureKind::MemoryLimit, e.to_string());
    }
    if let Some(e) = err.downcast_ref::<crate::limits::BoundExceeded>() {
        return (FailureKind::OutputLimit, e.to_string());
    }
    // Anything else (a missing export, a host function's own error) is the host's failure.
    (FailureKind::HostError, format!("{err}"))
}

/// Treats a guest's `proc_exit(0)` as a normal return.
pub fn exit_zero_is_success(result: wasmtime::Result<()>) -> wasmtime::Result<()> {
    match result {
        Err(e) if matches!(e.downcast_ref::<wasi_p1::Exit>(), Some(wasi_p1::Exit(0))) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::perf_map_requested;
    use std::ffi::OsStr;

    #[test]
    fn perf_map_only_on_one() {
        assert!(perf_map_requested(Some(OsStr::new("1"))));
        for off in ["", "0", "true", "yes", " 1"] {
            assert!(!perf_map_requested(Some(OsStr::new(off))), "{off:?}");
        }
        assert!(!perf_map_requested(None));
    }
}
