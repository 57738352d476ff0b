//! The library's Rust heap. By default the library's own allocations (requests, answers, JSON
//! values, wasmtime's per-call bookkeeping) go to mimalloc, not to the C library's malloc: in
//! kube-apiserver every Go OS thread that calls a module gets its own glibc arena and tcache,
//! which the rest of a request's work has evicted from the CPU caches by the next call, and
//! glibc's `malloc_consolidate` then runs on the request path (docs/performance.md has the
//! profile). mimalloc's per-thread free lists are cheap to reuse when cold.
//!
//! `KUBEWASM_ALLOCATOR=system` in the process environment selects the C library's allocator
//! instead: the sanitizer builds use it (ASan and LSan only see malloc), and it allows an A/B
//! comparison with one binary. The choice is read once, at the library's first allocation
//! (with `getenv`, which does not allocate), and never changes, so that every block is freed by
//! the allocator that made it. Only the library's Rust code is affected: Go's heap, the C
//! library's own calls and the modules' linear memories are not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

/// The environment variable that selects the allocator: `system` or `mimalloc` (the default;
/// any other value is the default too).
pub const ALLOCATOR_ENV: &str = "KUBEWASM_ALLOCATOR";

const ALLOCATOR_ENV_C: &CStr = c"KUBEWASM_ALLOCATOR";

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

unsafe extern "C" {
    fn getenv(name: *const c_char) -> *const c_char;
}

/// Which allocator a value of [`ALLOCATOR_ENV`] selects.
fn choice_for(value: Option<&[u8]>) -> u8 {
    match value {
        Some(b"system") => SYSTEM,
        _ => MIMALLOC,
    }
}

#[inline]
fn choice() -> u8 {
    let c = CHOICE.load(Ordering::Relaxed);
    if c != UNDECIDED {
        return c;
    }
    // SAFETY: getenv reads the environment without allocating; the pointer it returns is valid
    // until the environment changes, and it is copied out (compared) at once.
    let value = unsafe {
        let p = getenv(ALLOCATOR_ENV_C.as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes())
    };
    let c = choice_for(value);
    // Threads racing on the first allocation compute the same value.
    CHOICE.store(c, Ordering::Relaxed);
    c
}

/// The name of the allocator in use: `mimalloc` or `system`.
pub fn name() -> &'static str {
    if choice() == SYSTEM {
        "system"
    } else {
        "mimalloc"
    }
}

/// Dispatches every allocation to the allocator chosen at the first one.
pub struct Dispatch;

// SAFETY: every method forwards to one of two allocators that uphold GlobalAlloc's contract,
// and the choice between them never changes after the first allocation, so a block is always
// reallocated and freed by the allocator that made it.
unsafe impl GlobalAlloc for Dispatch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if choice() == SYSTEM {
            unsafe { System.alloc(layout) }
        } else {
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if choice() == SYSTEM {
            unsafe { System.alloc_zeroed(layout) }
        } else {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if choice() == SYSTEM {
            unsafe { System.dealloc(ptr, layout) }
        } else {
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if choice() == SYSTEM {
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[global_allocator]
static GLOBAL: Dispatch = Dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_system_selects_the_system_allocator() {
        assert_eq!(choice_for(Some(b"system")), SYSTEM);
        for other in [
            None,
            Some(&b"mimalloc"[..]),
            Some(b""),
            Some(b"System"),
            Some(b"system "),
        ] {
            assert_eq!(choice_for(other), MIMALLOC, "{other:?}");
        }
    }

    #[test]
    fn the_choice_is_made_and_kept() {
        let first = name();
        let v: Vec<u64> = (0..1000).collect();
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        assert_eq!(name(), first);
        let want = if std::env::var(ALLOCATOR_ENV).as_deref() == Ok("system") {
            "system"
        } else {
            "mimalloc"
        };
        assert_eq!(first, want);
    }
}
