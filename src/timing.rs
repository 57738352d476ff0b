//! Opt-in timing of the parts of a library call, for finding where the time goes inside a
//! process such as kube-apiserver (docs/performance.md, "The floor"). `KUBEWASM_TIMING=1` in
//! the process's environment turns it on; it is read once. Off, a part costs one load of a
//! flag and no clock reading.
//!
//! On, every [`Part`] measures its wall time and the calling thread's CPU time, and every
//! [`EVERY`] measurements of a part one line goes to stderr:
//!
//! ```text
//! kubewasm timing: teardown: 1000 times, mean wall 9.8 µs, mean thread CPU 9.9 µs
//! ```
//!
//! Wall time well above CPU time means the thread waited (preempted, or blocked); equal times
//! mean the part was working, whatever it cost. The lines carry no request data.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The environment variable that turns timing on (`1`).
pub const TIMING_ENV: &str = "KUBEWASM_TIMING";

/// Measurements of a part per line written.
pub const EVERY: u64 = 1000;

/// A part of a library call (its number indexes [`TOTALS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Part {
    /// One C ABI call (authenticate, authorize or admit), from entry to the result written.
    LibraryCall,
    /// A new store and a fresh instance of the module (not counted when the instance was made
    /// ahead by the recycle thread).
    Instantiate,
    /// The guest's work: the export called, and the host functions it calls.
    Run,
    /// Dropping the store: the pooling allocator resets the instance's slot (not counted when
    /// the recycle thread does it).
    Teardown,
    /// Parsing the module's answer.
    AnswerParse,
}

impl Part {
    /// The part's name in the output.
    pub fn name(self) -> &'static str {
        match self {
            Part::LibraryCall => "library call",
            Part::Instantiate => "instantiate",
            Part::Run => "run",
            Part::Teardown => "teardown",
            Part::AnswerParse => "answer parse",
        }
    }
}

static ENABLED: LazyLock<bool> = LazyLock::new(|| crate::config::env_switch(TIMING_ENV));

/// Sums of one part since its last line.
struct Totals {
    count: AtomicU64,
    wall_nanos: AtomicU64,
    cpu_nanos: AtomicU64,
    /// Whether the thread CPU clock failed once (then only wall time is meaningful).
    no_cpu: AtomicBool,
}

impl Totals {
    const fn new() -> Totals {
        Totals {
            count: AtomicU64::new(0),
            wall_nanos: AtomicU64::new(0),
            cpu_nanos: AtomicU64::new(0),
            no_cpu: AtomicBool::new(false),
        }
    }

    /// Adds one measurement; every `every` measurements returns the line to write and starts
    /// over. Concurrent measurements may land on either side of a line: the means stay means.
    fn add(&self, part: Part, wall: u64, cpu: Option<u64>, every: u64) -> Option<String> {
        self.wall_nanos.fetch_add(wall, Relaxed);
        match cpu {
            Some(cpu) => _ = self.cpu_nanos.fetch_add(cpu, Relaxed),
            None => self.no_cpu.store(true, Relaxed),
        }
        if self.count.fetch_add(1, Relaxed) + 1 < every {
            return None;
        }
        self.count.store(0, Relaxed);
        let wall = self.wall_nanos.swap(0, Relaxed) as f64 / every as f64 / 1e3;
        let cpu = self.cpu_nanos.swap(0, Relaxed) as f64 / every as f64 / 1e3;
        let cpu = if self.no_cpu.swap(false, Relaxed) {
            "thread CPU unavailable".to_owned()
        } else {
            format!("mean thread CPU {cpu:.1} µs")
        };
        Some(format!(
            "kubewasm timing: {}: {every} times, mean wall {wall:.1} µs, {cpu}",
            part.name()
        ))
    }
}

/// One [`Totals`] per [`Part`].
static TOTALS: [Totals; Part::AnswerParse as usize + 1] =
    [const { Totals::new() }; Part::AnswerParse as usize + 1];

/// A part being measured; the measurement ends when it is dropped.
pub struct Span(Option<(Part, Instant, Option<u64>)>);

/// Starts measuring `part` (a no-op unless `KUBEWASM_TIMING=1`).
pub fn span(part: Part) -> Span {
    if !*ENABLED {
        return Span(None);
    }
    Span(Some((part, Instant::now(), thread_cpu_nanos())))
}

impl Drop for Span {
    fn drop(&mut self) {
        let Some((part, started, cpu_started)) = self.0.take() else {
            return;
        };
        let wall = started.elapsed().as_nanos() as u64;
        let cpu = cpu_started
            .zip(thread_cpu_nanos())
            .map(|(a, b)| b.saturating_sub(a));
        if let Some(line) = TOTALS[part as usize].add(part, wall, cpu, EVERY) {
            eprintln!("{line}");
        }
    }
}

/// The CPU time the calling thread has used, in nanoseconds.
#[cfg(target_os = "linux")]
fn thread_cpu_nanos() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    /// `CLOCK_THREAD_CPUTIME_ID` on Linux.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec (two longs on 64-bit Linux, the only
    // platform this library is built for).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The CPU time the calling thread has used: unavailable on this platform.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_nanos() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_every_n_measurements_with_the_means() {
        let t = Totals::new();
        assert_eq!(t.add(Part::Run, 1_000, Some(500), 3), None);
        assert_eq!(t.add(Part::Run, 2_000, Some(1_500), 3), None);
        assert_eq!(
            t.add(Part::Run, 6_000, Some(1_000), 3).as_deref(),
            Some("kubewasm timing: run: 3 times, mean wall 3.0 µs, mean thread CPU 1.0 µs")
        );
        // The sums start over after a line.
        assert_eq!(t.add(Part::Teardown, 9_000, None, 2), None);
        assert_eq!(
            t.add(Part::Teardown, 3_000, None, 2).as_deref(),
            Some("kubewasm timing: teardown: 2 times, mean wall 6.0 µs, thread CPU unavailable")
        );
    }

    #[test]
    fn every_part_has_its_own_totals() {
        let parts = [
            Part::LibraryCall,
            Part::Instantiate,
            Part::Run,
            Part::Teardown,
            Part::AnswerParse,
        ];
        assert_eq!(parts.len(), TOTALS.len());
        for (i, part) in parts.iter().enumerate() {
            assert_eq!(*part as usize, i);
            assert!(!part.name().is_empty());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_thread_cpu_clock_counts_work() {
        let before = thread_cpu_nanos().expect("CLOCK_THREAD_CPUTIME_ID");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = thread_cpu_nanos().expect("CLOCK_THREAD_CPUTIME_ID");
        assert!(after > before, "{before} -> {after}");
    }
}
