//! [`OneShot`], a bump allocator for modules that serve one call per instance.
//!
//! kubewasm runs every call in a fresh instance and throws its memory away afterwards, so a
//! module's allocator never needs to give memory back for reuse. `OneShot` hands out memory by
//! moving a pointer forward and growing the linear memory when it runs out; freeing or
//! resizing the most recent allocation is done in place (a growing `Vec` or `String` stays
//! where it is), and any other free is a no-op. Memory comes from the system allocator (the C
//! library's malloc) in chunks of 32 KiB, so the module's memory is not grown before the memory
//! it already has is used. Compared with the default allocator of `wasm32-wasip1` (dlmalloc)
//! this is a few instructions per allocation instead of a few hundred: magic-validator runs 17%
//! fewer wasm instructions per call with it (docs/performance.md). The price: memory freed in the middle of a call is not reused, so a module that
//! allocates and frees much more than it keeps can reach its memory limit sooner
//! (docs/modules-rust.md).
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: kubewasm_guest::alloc::OneShot = kubewasm_guest::alloc::OneShot::new();
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Bytes taken from the system allocator at a time.
const CHUNK: usize = 32 << 10;

/// A bump allocator for one call per instance (see the module documentation).
pub struct OneShot {
    /// The next free byte of the current chunk.
    next: Cell<usize>,
    /// The end of the current chunk.
    end: Cell<usize>,
}

// SAFETY: wasm32-wasip1 modules run on one thread; the host never shares an instance.
unsafe impl Sync for OneShot {}

impl OneShot {
    /// An allocator that holds no memory yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> OneShot {
        OneShot {
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// Takes a new chunk from the system allocator (the C library's malloc, which serves it
    /// from the memory the module already has before growing it) big enough for `layout`;
    /// the rest of the current chunk is given up.
    fn refill(&self, layout: Layout) -> Option<usize> {
        let size = layout.size().checked_add(layout.align())?.max(CHUNK);
        // SAFETY: `size` is not zero, and 16 is a valid alignment.
        let chunk = unsafe { System.alloc(Layout::from_size_align(size, 16).ok()?) };
        if chunk.is_null() {
            return None;
        }
        self.end.set(chunk as usize + size);
        align_up(chunk as usize, layout.align())
    }
}

fn align_up(at: usize, align: usize) -> Option<usize> {
    Some(at.checked_add(align - 1)? & !(align - 1))
}

// SAFETY: every block handed out lies in a chunk this allocator took from the system allocator
// and never gave back, and is not handed out twice while live: `next` only moves back over the
// block being freed or shrunk, which is the most recent one.
unsafe impl GlobalAlloc for OneShot {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let fits = align_up(self.next.get(), layout.align())
            .filter(|start| self.end.get() - start >= layout.size() && self.end.get() != 0);
        let Some(start) = fits.or_else(|| self.refill(layout)) else {
            return std::ptr::null_mut();
        };
        self.next.set(start + layout.size());
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let at = ptr as usize;
        if at + layout.size() == self.next.get() && self.end.get() - at >= new_size {
            // The most recent block: grow or shrink it in place.
            self.next.set(at + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller guarantees that `layout.align()` is valid and `new_size` does not
        // overflow when rounded up to it.
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the old one has `layout.size()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_and_disjoint() {
        let a = OneShot::new();
        let mut blocks = Vec::new();
        for (i, (size, align)) in [(1, 1), (7, 8), (64, 64), (3, 2), (40_000, 16), (5, 4)]
            .into_iter()
            .enumerate()
        {
            let p = unsafe { a.alloc(layout(size, align)) } as usize;
            assert!(p != 0 && p.is_multiple_of(align), "block {i}");
            unsafe { std::ptr::write_bytes(p as *mut u8, i as u8, size) };
            blocks.push((p, size, i as u8));
        }
        for &(p, size, fill) in &blocks {
            let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
            assert!(
                bytes.iter().all(|&b| b == fill),
                "block {fill} was overwritten"
            );
        }
    }

    #[test]
    fn the_last_block_grows_and_frees_in_place() {
        let a = OneShot::new();
        let l = layout(16, 8);
        let p = unsafe { a.alloc(l) };
        let q = unsafe { a.realloc(p, l, 1024) };
        assert_eq!(p, q, "the most recent block grows in place");
        unsafe { a.dealloc(q, layout(1024, 8)) };
        let r = unsafe { a.alloc(l) };
        assert_eq!(p, r, "freeing the most recent block gives its memory back");
    }

    #[test]
    fn an_older_block_moves_with_its_bytes() {
        let a = OneShot::new();
        let l = layout(4, 1);
        let p = unsafe { a.alloc(l) };
        unsafe { std::ptr::copy_nonoverlapping(b"kube".as_ptr(), p, 4) };
        let _newer = unsafe { a.alloc(l) };
        let q = unsafe { a.realloc(p, l, 64 << 10) };
        assert_ne!(p, q);
        assert_eq!(unsafe { std::slice::from_raw_parts(q, 4) }, b"kube");
        assert_eq!(
            unsafe { a.realloc(q, layout(64 << 10, 1), 2) },
            q,
            "shrinking stays"
        );
    }
}
