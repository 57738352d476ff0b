//! A minimal WASI preview 1 host: what ordinary guests call, over in-memory stdio.
//!
//! stdin is the request, stdout is the answer (capped), stderr is kept for error messages
//! (capped, silently truncated). There are no files, no environment, no network; the arguments
//! are what the protocol sets (a `wasi` module's name, Kubewarden's WASI-mode command);
//! random numbers are deterministic; the real clock exists only for protocols that grant it
//! (Kubewarden policies expect one), other modules read a fake, deterministic one.
//! `poll_oneoff` never blocks: clock subscriptions expire at once (on the fake clock, the time
//! waited for passes), file descriptors cannot be polled. Any other WASI function a module
//! imports is linked to a stub that fails the call with a clear message if the module ever
//! calls it.

use wasmtime::{Caller, Extern, Linker, Memory, Module};

use super::CallState;
use crate::limits::{MAX_IOVECS, MAX_POLL_SUBSCRIPTIONS, MAX_RANDOM_BYTES};

/// The WASI preview 1 import module name.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values used here.
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const NOSYS: i32 = 52;
    pub const NOTSUP: i32 = 58;
    pub const SPIPE: i32 = 70;
}

/// A guest's `proc_exit`: ends the call with this exit code.
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exited with code {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// The guest wrote more to stdout than the output cap allows.
#[derive(Debug)]
pub struct OutputTooLarge(pub usize);

impl std::fmt::Display for OutputTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "output too large: more than {} bytes written to stdout",
            self.0
        )
    }
}

impl std::error::Error for OutputTooLarge {}

fn memory<P>(caller: &mut Caller<'_, CallState<P>>) -> Option<Memory> {
    if let Some(m) = caller.data().memory {
        return Some(m);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

fn read_u32(mem: &[u8], at: u32) -> Option<u32> {
    let at = at as usize;
    mem.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn write_bytes(mem: &mut [u8], at: u32, bytes: &[u8]) -> bool {
    let at = at as usize;
    match at
        .checked_add(bytes.len())
        .and_then(|end| mem.get_mut(at..end))
    {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

/// Collects the (offset, length) pairs of an iovec array; `None` when the array lies outside
/// memory or has more than [`MAX_IOVECS`] entries (the guest chooses the count: it must not
/// choose the size of a host allocation).
fn iovecs(mem: &[u8], iovs: u32, count: u32) -> Option<Vec<(usize, usize)>> {
    if count > MAX_IOVECS {
        return None;
    }
    (0..count)
        .map(|i| {
            let base = iovs.checked_add(i.checked_mul(8)?)?;
            Some((
                read_u32(mem, base)? as usize,
                read_u32(mem, base.checked_add(4)?)? as usize,
            ))
        })
        .collect()
}

/// `args_sizes_get`: the number of arguments and the size of their NUL-terminated strings.
fn args_sizes<P>(mut caller: Caller<'_, CallState<P>>, count: u32, size: u32) -> i32 {
    let n = caller.data().args.len() as u32;
    let bytes: usize = caller.data().args.iter().map(|a| a.len() + 1).sum();
    let Some(mem) = memory(&mut caller) else {
        return errno::FAULT;
    };
    let data = mem.data_mut(&mut caller);
    if write_bytes(data, count, &n.to_le_bytes())
        && write_bytes(data, size, &(bytes as u32).to_le_bytes())
    {
        errno::SUCCESS
    } else {
        errno::FAULT
    }
}

/// `args_get`: pointers at `argv`, NUL-terminated strings at `buf`.
fn args_get<P>(mut caller: Caller<'_, CallState<P>>, argv: u32, buf: u32) -> i32 {
    let Some(mem) = memory(&mut caller) else {
        return errno::FAULT;
    };
    let (data, state) = mem.data_and_store_mut(&mut caller);
    let mut at = buf;
    for (i, arg) in state.args.iter().enumerate() {
        let slot = argv.wrapping_add(4 * i as u32);
        let mut s = arg.clone();
        s.push(0);
        if !write_bytes(data, slot, &at.to_le_bytes()) || !write_bytes(data, at, &s) {
            return errno::FAULT;
        }
        at = at.wrapping_add(s.len() as u32);
    }
    errno::SUCCESS
}

/// Writes two zero u32 counts (no environment).
fn zero_counts<P>(mut caller: Caller<'_, CallState<P>>, a: u32, b: u32) -> i32 {
    let Some(mem) = memory(&mut caller) else {
        return errno::FAULT;
    };
    let data = mem.data_mut(&mut caller);
    if write_bytes(data, a, &0u32.to_le_bytes()) && write_bytes(data, b, &0u32.to_le_bytes()) {
        errno::SUCCESS
    } else {
        errno::FAULT
    }
}

/// The fake clock's start for `CLOCK_REALTIME`: 2022-01-01T00:00:00Z, in nanoseconds.
const FAKE_EPOCH: u64 = 1_640_995_200_000_000_000;
/// How far the fake clock moves on each reading: 1 ms.
const FAKE_TICK: u64 = 1_000_000;

/// The fake clock `id` (0 realtime, 1 monotonic) after `elapsed` nanoseconds of fake time.
fn fake_now(elapsed: u64, id: u32) -> u64 {
    if id == 0 {
        FAKE_EPOCH.saturating_add(elapsed)
    } else {
        elapsed
    }
}

/// The clock of a module that is not granted one (as wazero's defaults, which the original
/// host used): it tells nothing about real time and is the same in every call, yet moves
/// forward on each reading, so that guests whose runtime needs a clock to start (Go's
/// `wasip1`) run, and a runtime waiting for time to pass does not spin forever.
fn fake_clock<P>(state: &mut CallState<P>, id: u32) -> u64 {
    state.fake_elapsed = state.fake_elapsed.saturating_add(FAKE_TICK);
    fake_now(state.fake_elapsed, id)
}

/// The real clock `id` (0 realtime, 1 monotonic since the call started), for modules granted it.
fn real_now<P>(state: &CallState<P>, id: u32) -> u64 {
    if id == 0 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    } else {
        state.started.elapsed().as_nanos() as u64
    }
}

/// Size of a WASI `subscription` and of an `event`.
const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
/// `eventtype` values.
const EVENT_CLOCK: u8 = 0;
const EVENT_FD_READ: u8 = 1;
const EVENT_FD_WRITE: u8 = 2;
/// `subclockflags::subscription_clock_abstime`.
const ABSTIME: u16 = 1;

/// The events of a `poll_oneoff` call and the nanoseconds waited for, or the errno of the call.
type PollAnswer = Result<(Vec<Event>, u64), i32>;

/// One `event` of a `poll_oneoff` answer.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    userdata: u64,
    error: u16,
    kind: u8,
}

impl Event {
    fn bytes(&self) -> [u8; EVENT_SIZE] {
        let mut b = [0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&self.error.to_le_bytes());
        b[10] = self.kind;
        b
    }
}

/// Answers `poll_oneoff` for the subscriptions in `subs` (`SUBSCRIPTION_SIZE` bytes each)
/// without waiting. File descriptors cannot be polled: each fd subscription is an event with
/// `ENOTSUP`, ready at once. Otherwise the clock subscription(s) expiring first fire at once;
/// `now(id)` reads clock `id` without moving it, and the time waited for is returned so that the
/// caller can let that much fake time pass (a real clock is not moved: the module sees that no
/// time passed and may poll again, within its call's deadline). Returns the errno of the whole
/// call for a subscription of an unknown type.
fn poll(subs: &[u8], now: impl Fn(u32) -> u64) -> PollAnswer {
    let mut ready = Vec::new();
    let mut clocks = Vec::new();
    for sub in subs.chunks_exact(SUBSCRIPTION_SIZE) {
        let userdata = u64::from_le_bytes(sub[0..8].try_into().expect("8 bytes"));
        match sub[8] {
            EVENT_CLOCK => {
                let id = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
                let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
                let flags = u16::from_le_bytes(sub[40..42].try_into().expect("2 bytes"));
                if id > 1 {
                    ready.push(Event {
                        userdata,
                        error: errno::INVAL as u16,
                        kind: EVENT_CLOCK,
                    });
                    continue;
                }
                let wait = if flags & ABSTIME != 0 {
                    timeout.saturating_sub(now(id))
                } else {
                    timeout
                };
                clocks.push((userdata, wait));
            }
            kind @ (EVENT_FD_READ | EVENT_FD_WRITE) => ready.push(Event {
                userdata,
                error: errno::NOTSUP as u16,
                kind,
            }),
            _ => return Err(errno::INVAL),
        }
    }
    let first = clocks.iter().map(|&(_, wait)| wait).min();
    let waited = match first {
        // Something is ready without waiting: only clocks already expired fire with it.
        Some(_) if !ready.is_empty() => 0,
        Some(wait) => wait,
        None => 0,
    };
    ready.extend(
        clocks
            .iter()
            .filter(|&&(_, wait)| wait <= waited)
            .map(|&(userdata, _)| Event {
                userdata,
                error: 0,
                kind: EVENT_CLOCK,
            }),
    );
    Ok((ready, waited))
}

/// Adds the preview 1 functions this host implements to `linker`.
pub fn add_to_linker<P: Send + 'static>(linker: &mut Linker<CallState<P>>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI_MODULE, "args_sizes_get", args_sizes::<P>)?;
    linker.func_wrap(WASI_MODULE, "environ_sizes_get", zero_counts::<P>)?;
    linker.func_wrap(WASI_MODULE, "args_get", args_get::<P>)?;
    linker.func_wrap(
        WASI_MODULE,
        "environ_get",
        |_: Caller<'_, CallState<P>>, _: u32, _: u32| errno::SUCCESS,
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_write",
        |mut caller: Caller<'_, CallState<P>>,
         fd: i32,
         iovs: u32,
         count: u32,
         nwritten: u32|
         -> wasmtime::Result<i32> {
            let Some(mem) = memory(&mut caller) else {
                return Ok(errno::FAULT);
            };
            if count > MAX_IOVECS {
                return Ok(errno::INVAL);
            }
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let Some(vecs) = iovecs(data, iovs, count) else {
                return Ok(errno::FAULT);
            };
            let mut total = 0usize;
            for (off, len) in vecs {
                let Some(chunk) = off.checked_add(len).and_then(|end| data.get(off..end)) else {
                    return Ok(errno::FAULT);
                };
                match fd {
                    1 => {
                        if state.stdout.len() + chunk.len() > state.stdout_cap {
                            return Err(wasmtime::Error::new(OutputTooLarge(state.stdout_cap)));
                        }
                        state.stdout.extend_from_slice(chunk);
                    }
                    2 => {
                        let room = state.stderr_cap.saturating_sub(state.stderr.len());
                        state
                            .stderr
                            .extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    _ => return Ok(errno::BADF),
                }
                total += len;
            }
            let written = u32::try_from(total).unwrap_or(u32::MAX);
            Ok(if write_bytes(data, nwritten, &written.to_le_bytes()) {
                errno::SUCCESS
            } else {
                errno::FAULT
            })
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_read",
        |mut caller: Caller<'_, CallState<P>>, fd: i32, iovs: u32, count: u32, nread: u32| -> i32 {
            if fd != 0 {
                return errno::BADF;
            }
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            if count > MAX_IOVECS {
                return errno::INVAL;
            }
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let Some(vecs) = iovecs(data, iovs, count) else {
                return errno::FAULT;
            };
            let mut total = 0usize;
            for (off, len) in vecs {
                let remaining = &state.stdin[state.stdin_pos..];
                let n = len.min(remaining.len());
                let Some(dst) = off.checked_add(n).and_then(|end| data.get_mut(off..end)) else {
                    return errno::FAULT;
                };
                dst.copy_from_slice(&remaining[..n]);
                state.stdin_pos += n;
                total += n;
                if n < len {
                    break;
                }
            }
            let read = u32::try_from(total).unwrap_or(u32::MAX);
            if write_bytes(data, nread, &read.to_le_bytes()) {
                errno::SUCCESS
            } else {
                errno::FAULT
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "proc_exit",
        |_: Caller<'_, CallState<P>>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(Exit(code)))
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_close",
        |_: Caller<'_, CallState<P>>, fd: i32| {
            if (0..=2).contains(&fd) {
                errno::SUCCESS
            } else {
                errno::BADF
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_fdstat_get",
        |mut caller: Caller<'_, CallState<P>>, fd: i32, buf: u32| -> i32 {
            if !(0..=2).contains(&fd) {
                return errno::BADF;
            }
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            // fdstat: filetype u8 (2 = character device), flags u16, rights base u64, inheriting u64.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            let rights: u64 = if fd == 0 { 1 << 1 } else { 1 << 6 }; // fd_read / fd_write
            stat[8..16].copy_from_slice(&rights.to_le_bytes());
            if write_bytes(mem.data_mut(&mut caller), buf, &stat) {
                errno::SUCCESS
            } else {
                errno::FAULT
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_seek",
        |_: Caller<'_, CallState<P>>, fd: i32, _: i64, _: i32, _: u32| {
            if (0..=2).contains(&fd) {
                errno::SPIPE
            } else {
                errno::BADF
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_prestat_get",
        |_: Caller<'_, CallState<P>>, _: i32, _: u32| errno::BADF,
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_prestat_dir_name",
        |_: Caller<'_, CallState<P>>, _: i32, _: u32, _: u32| errno::BADF,
    )?;
    linker.func_wrap(WASI_MODULE, "sched_yield", |_: Caller<'_, CallState<P>>| {
        errno::SUCCESS
    })?;
    linker.func_wrap(
        WASI_MODULE,
        "random_get",
        |mut caller: Caller<'_, CallState<P>>, buf: u32, len: u32| -> i32 {
            // The host fills the buffer byte by byte and epochs do not interrupt host calls: the
            // guest may not choose how long this takes.
            if len > MAX_RANDOM_BYTES {
                return errno::INVAL;
            }
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let start = buf as usize;
            let Some(dst) = start
                .checked_add(len as usize)
                .and_then(|end| data.get_mut(start..end))
            else {
                return errno::FAULT;
            };
            for b in dst {
                *b = state.next_random();
            }
            errno::SUCCESS
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, CallState<P>>, id: i32, _precision: i64, out: u32| -> i32 {
            let Ok(id @ 0..=1) = u32::try_from(id) else {
                return errno::INVAL;
            };
            let now = if caller.data().clock {
                real_now(caller.data(), id)
            } else {
                fake_clock(caller.data_mut(), id)
            };
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            if write_bytes(mem.data_mut(&mut caller), out, &now.to_le_bytes()) {
                errno::SUCCESS
            } else {
                errno::FAULT
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "poll_oneoff",
        |mut caller: Caller<'_, CallState<P>>,
         subs: u32,
         events: u32,
         count: u32,
         nevents: u32|
         -> i32 {
            // The guest chooses the count: it must not choose the size of a host allocation.
            if count == 0 || count > MAX_POLL_SUBSCRIPTIONS {
                return errno::INVAL;
            }
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            let (data, state) = mem.data_and_store_mut(&mut caller);
            let start = subs as usize;
            let Some(input) = start
                .checked_add(count as usize * SUBSCRIPTION_SIZE)
                .and_then(|end| data.get(start..end))
            else {
                return errno::FAULT;
            };
            let answer = if state.clock {
                poll(input, |id| real_now(state, id))
            } else {
                let elapsed = state.fake_elapsed;
                poll(input, |id| fake_now(elapsed, id))
            };
            let (ready, waited) = match answer {
                Ok(a) => a,
                Err(e) => return e,
            };
            let bytes: Vec<u8> = ready.iter().flat_map(|e| e.bytes()).collect();
            if !write_bytes(data, events, &bytes)
                || !write_bytes(data, nevents, &(ready.len() as u32).to_le_bytes())
            {
                return errno::FAULT;
            }
            if !state.clock {
                state.fake_elapsed = state.fake_elapsed.saturating_add(waited);
            }
            errno::SUCCESS
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "clock_res_get",
        |mut caller: Caller<'_, CallState<P>>, id: i32, out: u32| -> i32 {
            if !(0..=1).contains(&id) {
                return errno::INVAL;
            }
            let resolution: u64 = if caller.data().clock { 1 } else { FAKE_TICK };
            let Some(mem) = memory(&mut caller) else {
                return errno::FAULT;
            };
            if write_bytes(mem.data_mut(&mut caller), out, &resolution.to_le_bytes()) {
                errno::SUCCESS
            } else {
                errno::FAULT
            }
        },
    )?;
    Ok(())
}

/// Links every WASI preview 1 function `module` imports that this host does not implement to a
/// stub that returns `ENOSYS` when its signature returns an errno, and fails the call otherwise.
pub fn stub_missing<P: Default + Send + 'static>(
    linker: &mut Linker<CallState<P>>,
    module: &Module,
) -> wasmtime::Result<()> {
    // A throwaway store, only to ask the linker what it already defines (load time only).
    let mut store =
        wasmtime::Store::new(linker.engine(), CallState::<P>::new(Vec::new(), 0, false));
    for import in module.imports() {
        if import.module() != WASI_MODULE
            || linker.get(&mut store, WASI_MODULE, import.name()).is_ok()
        {
            continue;
        }
        let name = import.name().to_string();
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let returns_errno =
            ty.results().len() == 1 && matches!(ty.results().next(), Some(wasmtime::ValType::I32));
        let label = name.clone();
        linker.func_new(WASI_MODULE, &name, ty, move |_, _, results| {
            if returns_errno {
                results[0] = wasmtime::Val::I32(errno::NOSYS);
                Ok(())
            } else {
                Err(wasmtime::format_err!(
                    "WASI function {label} is not available to modules"
                ))
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock subscription, as a guest lays it out.
    fn clock(userdata: u64, id: u32, timeout: u64, flags: u16) -> [u8; SUBSCRIPTION_SIZE] {
        let mut b = [0u8; SUBSCRIPTION_SIZE];
        b[0..8].copy_from_slice(&userdata.to_le_bytes());
        b[8] = EVENT_CLOCK;
        b[16..20].copy_from_slice(&id.to_le_bytes());
        b[24..32].copy_from_slice(&timeout.to_le_bytes());
        b[40..42].copy_from_slice(&flags.to_le_bytes());
        b
    }

    /// An fd subscription of `kind`.
    fn fd(userdata: u64, kind: u8, fd: u32) -> [u8; SUBSCRIPTION_SIZE] {
        let mut b = [0u8; SUBSCRIPTION_SIZE];
        b[0..8].copy_from_slice(&userdata.to_le_bytes());
        b[8] = kind;
        b[16..20].copy_from_slice(&fd.to_le_bytes());
        b
    }

    fn ok(userdata: u64) -> Event {
        Event {
            userdata,
            error: 0,
            kind: EVENT_CLOCK,
        }
    }

    #[test]
    fn poll_never_waits() {
        let now = |id: u32| fake_now(5_000, id);
        let notsup = |userdata, kind| Event {
            userdata,
            error: errno::NOTSUP as u16,
            kind,
        };
        let cases: Vec<(&str, Vec<[u8; SUBSCRIPTION_SIZE]>, PollAnswer)> = vec![
            (
                "relative monotonic",
                vec![clock(1, 1, 1_000_000_000, 0)],
                Ok((vec![ok(1)], 1_000_000_000)),
            ),
            (
                "the first of two clocks fires",
                vec![clock(1, 1, 30, 0), clock(2, 0, 20, 0)],
                Ok((vec![ok(2)], 20)),
            ),
            (
                "equal timeouts fire together",
                vec![clock(1, 1, 20, 0), clock(2, 1, 20, 0)],
                Ok((vec![ok(1), ok(2)], 20)),
            ),
            (
                "absolute monotonic: the rest of the wait",
                vec![clock(3, 1, 7_000, ABSTIME)],
                Ok((vec![ok(3)], 2_000)),
            ),
            (
                "absolute realtime in the past",
                vec![clock(3, 0, 1, ABSTIME)],
                Ok((vec![ok(3)], 0)),
            ),
            (
                "unknown clock",
                vec![clock(4, 2, 1, 0)],
                Ok((
                    vec![Event {
                        userdata: 4,
                        error: errno::INVAL as u16,
                        kind: EVENT_CLOCK,
                    }],
                    0,
                )),
            ),
            (
                "fds cannot be polled, and no time passes",
                vec![
                    fd(5, EVENT_FD_READ, 0),
                    clock(6, 1, 10, 0),
                    fd(7, EVENT_FD_WRITE, 1),
                ],
                Ok((vec![notsup(5, EVENT_FD_READ), notsup(7, EVENT_FD_WRITE)], 0)),
            ),
            (
                "an expired clock fires with the fds",
                vec![fd(5, EVENT_FD_READ, 0), clock(6, 1, 0, 0)],
                Ok((vec![notsup(5, EVENT_FD_READ), ok(6)], 0)),
            ),
            ("unknown event type", vec![fd(8, 3, 0)], Err(errno::INVAL)),
        ];
        for (name, subs, want) in cases {
            let bytes: Vec<u8> = subs.concat();
            assert_eq!(poll(&bytes, now), want, "{name}");
        }
    }

    #[test]
    fn event_layout() {
        let b = Event {
            userdata: 0x0102_0304_0506_0708,
            error: 58,
            kind: EVENT_FD_WRITE,
        }
        .bytes();
        assert_eq!(&b[0..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[8..10], &58u16.to_le_bytes());
        assert_eq!(b[10], 2);
        assert!(b[11..].iter().all(|&x| x == 0));
    }
}
