//! Work moved off the call path, when the operator turns it on (`KUBEWASM_RECYCLE=1`): a
//! background thread that drops finished stores and prepares the next instance of a module.
//!
//! A call still gets a fresh instance that no other call has touched. What moves is when the
//! instance is made and when its store is torn down:
//! - **Dropping a store** resets its pooling slot (the `PAGEMAP_SCAN` scan and the memset of the
//!   dirty pages). A finished call hands its store to this thread instead of dropping it.
//! - **Preparing** instantiates a module ahead of its next call: a module without a wasm `start`
//!   function runs no guest code when instantiated (only its data and element segments are
//!   copied), so an instance made before the request arrives is the same as one made after it.
//!
//! It is off by default. On an idle core it takes about a fifth off the WASM plugin's time inside
//! kube-apiserver; on a loaded machine it gains nothing and lengthens the tail (a call can wait
//! for a lock the preempted thread holds). docs/performance.md has the measurements.
//!
//! Everything here is bounded, and every bound falls back to the call path doing the work itself:
//! at most [`QUEUE`] jobs wait (a full queue means the caller drops its store inline and the
//! refill is skipped), and at most [`MAX_PREPARED`] prepared instances exist at once across the
//! process. The pooling allocator is sized for those on top of the calls in flight
//! ([`RESERVED_INSTANCES`]), so a prepared or dying instance never takes a slot a call needs.
//! If the thread cannot be started, every call does its own work.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};

/// Jobs that may wait for the thread at once.
pub const QUEUE: usize = 64;
/// Prepared instances alive at once across the process (at most one per module).
pub const MAX_PREPARED: usize = 64;
/// Pooling-allocator slots reserved for this thread's instances on top of the calls in flight:
/// every queued job holds at most one store, the job running holds one more, plus the prepared
/// instances.
pub const RESERVED_INSTANCES: u32 = (QUEUE + 1 + MAX_PREPARED) as u32;

/// Set to `1` in the process environment (read once), the background thread runs. Otherwise
/// every call instantiates and drops its own store. The library's unit tests always run it.
pub const RECYCLE_ENV: &str = "KUBEWASM_RECYCLE";

type Job = Box<dyn FnOnce() + Send>;

static SENDER: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
static PREPARED: AtomicUsize = AtomicUsize::new(0);

fn sender() -> Option<&'static SyncSender<Job>> {
    SENDER
        .get_or_init(|| {
            if !(cfg!(test) || crate::config::env_switch(RECYCLE_ENV)) {
                return None;
            }
            let (tx, rx) = sync_channel::<Job>(QUEUE);
            std::thread::Builder::new()
                .name("kubewasm-recycle".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Whether the background thread runs (it is started on first use).
pub fn active() -> bool {
    sender().is_some()
}

/// Drops `value` on the background thread, or here when the queue is full or there is no thread
/// (the job [`spawn`] refuses is dropped unrun, and `value` with it).
pub fn drop_later<T: Send + 'static>(value: T) {
    spawn(move || drop(value));
}

/// Runs `job` on the background thread; returns `false` (and drops `job` unrun) when the queue is
/// full or there is no thread.
pub fn spawn(job: impl FnOnce() + Send + 'static) -> bool {
    sender().is_some_and(|tx| tx.try_send(Box::new(job)).is_ok())
}

/// A claim on one of the [`MAX_PREPARED`] prepared instances, released when dropped.
pub struct PreparedSlot(());

impl PreparedSlot {
    /// Takes a claim, or `None` when all are taken.
    pub fn claim() -> Option<PreparedSlot> {
        PREPARED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PREPARED).then_some(n + 1)
            })
            .ok()
            .map(|_| PreparedSlot(()))
    }
}

impl Drop for PreparedSlot {
    fn drop(&mut self) {
        PREPARED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Prepared instances alive now (for tests).
#[cfg(test)]
pub fn prepared() -> usize {
    PREPARED.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    /// Dropping later drops on the recycle thread (or here when it cannot run), never leaks.
    #[test]
    fn drop_later_drops() {
        struct Tell(std::sync::mpsc::Sender<String>);
        impl Drop for Tell {
            fn drop(&mut self) {
                let name = std::thread::current().name().unwrap_or("").to_string();
                let _ = self.0.send(name);
            }
        }
        let (tx, rx) = channel();
        drop_later(Tell(tx));
        let thread = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(active(), "the unit tests run the thread");
        assert_eq!(thread, "kubewasm-recycle");
    }

    #[test]
    fn prepared_claims_are_bounded_and_released() {
        let _claims = crate::runtime::tests::PREPARED_CLAIMS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Other tests may hold claims: count only what this test takes.
        let mut held = Vec::new();
        while let Some(slot) = PreparedSlot::claim() {
            held.push(slot);
        }
        assert!(held.len() <= MAX_PREPARED);
        assert_eq!(prepared(), MAX_PREPARED);
        assert!(PreparedSlot::claim().is_none());
        held.pop();
        assert!(
            PreparedSlot::claim().is_some(),
            "a released claim can be taken again"
        );
    }
}
