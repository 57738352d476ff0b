//! The wasmtime runtime: one engine per process, each module compiled once at init, a fresh
//! instance per call from an `InstancePre` (made ahead of the call and torn down after it by
//! [`recycle`]'s thread when the operator turns it on), and per-call limits on time (epoch
//! interruption), memory (a resource limiter) and output (a capped stdout).

pub mod precompiled;
pub mod recycle;
pub mod wasi_p1;

pub use precompiled::ModuleFile;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Enabled, Engine, ExternType, Instance, InstanceAllocationStrategy, InstancePre, Linker,
    Memory, PoolingAllocationConfig, ProfilingStrategy, ResourceLimiter, Store, Trap,
};

use crate::error::FailureKind;
use crate::limits::MAX_TABLE_ELEMENTS;
pub use crate::limits::{EPOCH_TICK, MAX_INPUT, MAX_INSTANCES, MAX_OUTPUT, MAX_STDERR};
use crate::timing::{self, Part};

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Set to `1` in the process environment, the engine writes `/tmp/perf-<pid>.map` so that
/// `perf report` names the modules' compiled functions instead of showing bare `[JIT]`
/// addresses. Off by default: the map grows with every module loaded.
pub const PERF_MAP_ENV: &str = "KUBEWASM_PERF_MAP";

fn new_engine() -> Result<Engine, String> {
    // The calls in flight, plus the instances the recycle thread holds (prepared or dying).
    let slots = MAX_INSTANCES + recycle::RESERVED_INSTANCES;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
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
    if crate::config::env_switch(PERF_MAP_ENV) {
        // For profiling only (docs/performance.md): not part of the precompiled-module
        // compatibility hash, so `.cwasm` files stay valid.
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine =
        Engine::new(&config).map_err(|e| format!("cannot create the wasmtime engine: {e}"))?;
    let ticker = engine.weak();
    let start = *EPOCH_START;
    std::thread::Builder::new()
        .name("kubewasm-epoch".into())
        .spawn(move || {
            // The epoch follows the wall clock, not this thread's wake-ups: on a saturated
            // machine it may sleep through several ticks at once, and one increment per wake-up
            // stretched every call's timeout by as much (a 30 s limit took ~340 s with 250
            // calls spinning on two cores).
            while let Some(engine) = ticker.upgrade() {
                let due = ticks_due(start.elapsed());
                while EPOCH_TICKS.load(Ordering::Acquire) < due {
                    engine.increment_epoch();
                    EPOCH_TICKS.fetch_add(1, Ordering::Release);
                }
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
    Ok(engine)
}

/// When the epoch's clock started (at the engine's creation, or at an earlier deadline):
/// tick `n` of the engine's epoch is due `n - 1` whole [`EPOCH_TICK`]s after it.
static EPOCH_START: LazyLock<Instant> = LazyLock::new(Instant::now);
/// How many times the epoch thread has advanced the engine's epoch (the only writer): the
/// engine's epoch, or one less while an increment is being counted.
static EPOCH_TICKS: AtomicU64 = AtomicU64::new(0);

/// How many ticks are due once `elapsed` has passed since the epoch thread started: one at
/// the start, then one per whole [`EPOCH_TICK`].
fn ticks_due(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos() / EPOCH_TICK.as_nanos())
        .map_or(u64::MAX, |t| t.saturating_add(1))
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
pub struct Compiled<P: 'static = ()> {
    shared: Arc<Shared<P>>,
}

struct Shared<P: 'static> {
    pre: InstancePre<CallState<P>>,
    memory_limit: u64,
    clock: bool,
    /// Whether instances may be made ahead of a call: the module has no wasm `start` function,
    /// so instantiating it runs no guest code (see [`recycle`]).
    preparable: bool,
    /// The instance made for the next call, if any.
    prepared: Mutex<Option<Prepared<P>>>,
    /// A job making the next instance is queued or running.
    preparing: AtomicBool,
}

/// An instance made ahead of its call. It holds one of [`recycle::MAX_PREPARED`] claims.
struct Prepared<P: 'static> {
    store: Store<CallState<P>>,
    instance: Instance,
    _slot: recycle::PreparedSlot,
}

/// Whether a module has a wasm `start` function (which instantiation would run), reading only
/// the sections before its code. Unreadable bytes count as having one.
fn has_start_function(wasm: &[u8]) -> bool {
    use wasmtime::wasmparser::{Parser, Payload};
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::StartSection { .. }) | Err(_) => return true,
            // The start section comes before these, when there is one.
            Ok(Payload::ElementSection(_))
            | Ok(Payload::DataCountSection { .. })
            | Ok(Payload::CodeSectionStart { .. })
            | Ok(Payload::DataSection(_))
            | Ok(Payload::End(_)) => return false,
            Ok(_) => {}
        }
    }
    false
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
        shared: Arc::new(Shared {
            pre,
            memory_limit,
            clock,
            preparable: !has_start_function(file),
            prepared: Mutex::new(None),
            preparing: AtomicBool::new(false),
        }),
    };
    // One trial instantiation: an initial memory above the limit fails here, not on a request.
    // It prepares nothing: instances are made ahead only for modules that are called.
    compiled
        .call(Vec::new(), Duration::from_secs(5), false, |_, _| Ok(()))
        .map_err(|f| format!("the module cannot be instantiated: {}", f.message))?;
    Ok(compiled)
}

impl<P: Default + Send + 'static> Compiled<P> {
    /// Runs `body` on a fresh instance of the module, with `stdin` as its input, within
    /// `timeout`. Any trap, limit or `proc_exit` the body does not handle fails the call.
    ///
    /// The instance is one no call has used: made for this call, or ahead of it by the recycle
    /// thread (when it runs) if the module has no `start` function. Its store is torn down
    /// after the call, on that thread when it runs.
    pub fn run<T>(
        &self,
        stdin: Vec<u8>,
        timeout: Duration,
        body: impl FnOnce(&mut Store<CallState<P>>, &Instance) -> wasmtime::Result<T>,
    ) -> Result<CallOutput<T, P>, CallFailure<P>> {
        self.call(stdin, timeout, true, body)
    }

    fn call<T>(
        &self,
        stdin: Vec<u8>,
        timeout: Duration,
        recycle: bool,
        body: impl FnOnce(&mut Store<CallState<P>>, &Instance) -> wasmtime::Result<T>,
    ) -> Result<CallOutput<T, P>, CallFailure<P>> {
        let started = Instant::now();
        let shared = &*self.shared;
        let recycle = recycle && recycle::active();
        // `try_lock`: a call never waits for the recycle thread (preempted while it holds the
        // lock, it would make the call wait a whole time slice); it instantiates for itself.
        let prepared = if recycle && shared.preparable {
            shared.prepared.try_lock().ok().and_then(|mut p| p.take())
        } else {
            None
        };
        let (mut store, instance) = match prepared {
            Some(Prepared {
                mut store,
                instance,
                _slot,
            }) => {
                // Instantiation ran no guest code: the state is as new, but for the memory
                // found then. Start it over for this call all the same.
                let memory = store.data().memory;
                *store.data_mut() = shared.new_state(stdin);
                store.data_mut().memory = memory;
                store.set_epoch_deadline(deadline_ticks(timeout));
                (store, Ok(instance))
            }
            None => {
                let _timing = timing::span(Part::Instantiate);
                let mut store = shared.new_store(stdin, timeout);
                let instance = shared.instantiate(&mut store);
                (store, instance)
            }
        };
        let result = {
            let _timing = timing::span(Part::Run);
            instance.and_then(|instance| body(&mut store, &instance))
        };
        let duration = started.elapsed();
        let state = if recycle {
            let state = std::mem::replace(store.data_mut(), shared.new_state(Vec::new()));
            recycle::drop_later(store);
            if shared.preparable {
                self.prepare_next(timeout);
            }
            state
        } else {
            let _timing = timing::span(Part::Teardown);
            store.into_data()
        };
        finish(result, state, duration, timeout)
    }

    /// Asks the recycle thread to make the instance for the next call, unless one is made or
    /// being made.
    fn prepare_next(&self, timeout: Duration) {
        let shared = &self.shared;
        if shared.preparing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Shared<P>> = Arc::downgrade(shared);
        let queued = recycle::spawn(move || {
            // The module may have been unloaded (a reload) while the job waited.
            if let Some(shared) = weak.upgrade() {
                shared.prepare(timeout);
                shared.preparing.store(false, Ordering::Release);
            }
        });
        if !queued {
            shared.preparing.store(false, Ordering::Release);
        }
    }
}

impl<P: Default + Send + 'static> Shared<P> {
    fn new_state(&self, stdin: Vec<u8>) -> CallState<P> {
        CallState::new(stdin, self.memory_limit, self.clock)
    }

    fn new_store(&self, stdin: Vec<u8>, timeout: Duration) -> Store<CallState<P>> {
        let mut store = Store::new(self.pre.module().engine(), self.new_state(stdin));
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store.set_epoch_deadline(deadline_ticks(timeout));
        store
    }

    fn instantiate(&self, store: &mut Store<CallState<P>>) -> wasmtime::Result<Instance> {
        let instance = self.pre.instantiate(&mut *store)?;
        store.data_mut().memory = instance.get_memory(&mut *store, "memory");
        Ok(instance)
    }

    /// Makes the instance for the next call (on the recycle thread). A failure leaves nothing
    /// prepared: the next call instantiates for itself and reports the failure as its own.
    fn prepare(&self, timeout: Duration) {
        if self.prepared.lock().map_or(true, |p| p.is_some()) {
            return;
        }
        let Some(slot) = recycle::PreparedSlot::claim() else {
            return;
        };
        let mut store = self.new_store(Vec::new(), timeout);
        let Ok(instance) = self.instantiate(&mut store) else {
            return;
        };
        let Ok(mut prepared) = self.prepared.lock() else {
            return;
        };
        if prepared.is_none() {
            *prepared = Some(Prepared {
                store,
                instance,
                _slot: slot,
            });
        }
    }
}

/// The epoch deadline, in ticks from now, of a call limited to `timeout`: the call traps
/// once the epoch thread has counted the tick due one [`EPOCH_TICK`] after `timeout` from now.
/// Never earlier: the count never runs ahead of the wall clock, even when it lags behind it.
fn deadline_ticks(timeout: Duration) -> u64 {
    deadline_after(
        EPOCH_START.elapsed(),
        EPOCH_TICKS.load(Ordering::Acquire),
        timeout,
    )
}

/// [`deadline_ticks`] at `elapsed` since the epoch thread started, with `counted` ticks
/// counted so far: the ticks between `counted` and the one due one tick after `timeout`.
fn deadline_after(elapsed: Duration, counted: u64, timeout: Duration) -> u64 {
    ticks_due(elapsed.saturating_add(timeout))
        .saturating_sub(counted)
        .saturating_add(1)
}

/// A call's outcome from its body's result and the state it left.
fn finish<T, P>(
    result: wasmtime::Result<T>,
    state: CallState<P>,
    duration: Duration,
    timeout: Duration,
) -> Result<CallOutput<T, P>, CallFailure<P>> {
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
pub(crate) mod tests {
    use super::*;

    /// Serialises the tests that need a prepared-instance claim against the one that takes them
    /// all (`recycle::tests` runs in another module: it takes the same lock).
    pub(crate) static PREPARED_CLAIMS: Mutex<()> = Mutex::new(());

    /// `echo` counts its calls in memory and in a global, and writes both counts (as digits)
    /// followed by its stdin; `spin` never returns.
    const COUNTER: &str = r#"(module
      (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (global $calls (mut i32) (i32.const 0))
      (func (export "echo")
        (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (i32.store8 (i32.const 62) (i32.add (i32.const 48) (i32.load8_u (i32.const 0))))
        (i32.store8 (i32.const 63) (i32.add (i32.const 48) (global.get $calls)))
        (i32.store (i32.const 8) (i32.const 64))
        (i32.store (i32.const 12) (i32.const 1000))
        (drop (call $read (i32.const 0) (i32.const 8) (i32.const 1) (i32.const 16)))
        (i32.store (i32.const 24) (i32.const 62))
        (i32.store (i32.const 28) (i32.add (i32.const 2) (i32.load (i32.const 16))))
        (drop (call $write (i32.const 1) (i32.const 24) (i32.const 1) (i32.const 32))))
      (func (export "spin") (loop (br 0))))"#;

    #[test]
    fn ticks_follow_the_wall_clock() {
        let t = EPOCH_TICK;
        for (elapsed, due) in [
            (Duration::ZERO, 1),
            (t - Duration::from_nanos(1), 1),
            (t, 2),
            (t * 10 + Duration::from_nanos(1), 11),
            (Duration::MAX, u64::MAX),
        ] {
            assert_eq!(ticks_due(elapsed), due, "{elapsed:?}");
        }
    }

    /// The tick that traps a call is due no earlier than its timeout, and at most two ticks
    /// after it, whether the epoch thread is on time or behind (it never runs ahead).
    #[test]
    fn a_deadline_is_the_wall_time_of_the_timeout() {
        let t = EPOCH_TICK;
        let ms = Duration::from_millis;
        for (elapsed, behind, timeout) in [
            (Duration::ZERO, 0, ms(30_000)),
            (ms(1), 0, ms(1)),
            (t * 7, 0, t * 3),
            (t * 7 + ms(2), 0, ms(10_000)),
            (Duration::ZERO, 0, Duration::ZERO),
            // Starved: the thread has not counted the last 60 ticks yet.
            (t * 1000, 60, ms(30_000)),
            (t * 1000 + ms(3), 999, ms(1)),
        ] {
            let counted = ticks_due(elapsed) - behind;
            let deadline = deadline_after(elapsed, counted, timeout);
            // The call traps when the epoch reaches `counted + deadline`: that tick's due time.
            let fires = t * u32::try_from(counted + deadline - 1).unwrap();
            let case = format!("{elapsed:?} behind {behind} timeout {timeout:?}: {fires:?}");
            assert!(fires >= elapsed + timeout, "early: {case}");
            assert!(fires <= elapsed + timeout + 2 * t, "late: {case}");
        }
        // The old formula's deadline when the thread is on time.
        assert_eq!(deadline_after(Duration::ZERO, 1, ms(30_000)), 6001);
    }

    fn load_wat(wat: &str, exports: &[&str]) -> Compiled {
        let file = ModuleFile::from_bytes(::wat::parse_str(wat).unwrap());
        load(&file, 16 << 20, false, exports, |_| Ok(())).unwrap()
    }

    fn call_export(compiled: &Compiled, name: &str, stdin: &[u8]) -> Result<Vec<u8>, CallFailure> {
        compiled
            .run(
                stdin.to_vec(),
                Duration::from_millis(200),
                |store, instance| {
                    let f = instance.get_typed_func::<(), ()>(&mut *store, name)?;
                    f.call(&mut *store, ())
                },
            )
            .map(|out| out.stdout)
    }

    /// Waits until the recycle thread has made `compiled`'s next instance.
    fn wait_prepared(compiled: &Compiled) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while compiled.shared.prepared.lock().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no instance was prepared");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn every_call_gets_a_fresh_instance_prepared_or_not() {
        let _claims = PREPARED_CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
        let compiled = load_wat(COUNTER, &["echo", "spin"]);
        assert!(compiled.shared.preparable);
        assert!(
            compiled.shared.prepared.lock().unwrap().is_none(),
            "loading prepares nothing"
        );
        assert_eq!(
            call_export(&compiled, "echo", b"first").unwrap(),
            b"11first"
        );
        assert!(recycle::active(), "the unit tests run the recycle thread");
        for input in [&b"second"[..], b"", b"third"] {
            wait_prepared(&compiled);
            let mut want = b"11".to_vec();
            want.extend_from_slice(input);
            assert_eq!(call_export(&compiled, "echo", input).unwrap(), want);
        }
        // The time limit holds on a prepared instance: its deadline is set when the call starts.
        wait_prepared(&compiled);
        let failure = call_export(&compiled, "spin", b"").unwrap_err();
        assert_eq!(failure.kind, FailureKind::Timeout, "{}", failure.message);
        // A prepared instance older than the time limit still gets the whole limit.
        wait_prepared(&compiled);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            call_export(&compiled, "echo", b"after").unwrap(),
            b"11after"
        );
    }

    #[test]
    fn a_start_function_is_never_run_ahead() {
        let wat = r#"(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
            (func $init (global.set $g (i32.const 1))) (start $init) (func (export "f")))"#;
        let compiled = load_wat(wat, &["f"]);
        assert!(!compiled.shared.preparable);
        call_export(&compiled, "f", b"").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(compiled.shared.prepared.lock().unwrap().is_none());
    }

    #[test]
    fn start_functions_are_found() {
        let cases = [
            ("empty module", "(module)", false),
            (
                "no start",
                r#"(module (func (export "f")) (data (memory 0) (i32.const 0) "x") (memory 1))"#,
                false,
            ),
            ("start", "(module (func $s) (start $s))", true),
            (
                "start and code",
                r#"(module (func $s) (start $s) (func (export "f")))"#,
                true,
            ),
        ];
        for (name, wat, want) in cases {
            assert_eq!(
                has_start_function(&::wat::parse_str(wat).unwrap()),
                want,
                "{name}"
            );
        }
        assert!(
            has_start_function(b"not wasm"),
            "unreadable bytes count as a start"
        );
    }
}
