//! `hostile-memory` (exports `authn`, `authz`, `validate`): allocates 1 MiB chunks without
//! end, writing to every page of each, until `memory.grow` fails (the allocator then aborts:
//! a message on stderr and a trap) or the host stops it.

use core::hint::black_box;
use kubewasm_guest::hostile::Entry;

const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;

/// Allocates and touches memory until the call is stopped.
pub fn hoard(_entry: Entry) {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        chunk.resize(CHUNK, 0xA5u8);
        for i in (0..CHUNK).step_by(PAGE) {
            chunk[i] = black_box(i as u8);
        }
        chunks.push(black_box(chunk));
    }
}

kubewasm_guest::hostile!(hoard);
