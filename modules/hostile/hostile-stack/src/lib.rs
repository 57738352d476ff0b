//! `hostile-stack` (exports `authn`, `authz`, `validate`): recurses without end. Each frame
//! keeps a value alive across the recursive call (not a tail call, so it cannot become a
//! loop), overflowing the engine's wasm stack (`max_wasm_stack`), or the guest's shadow
//! stack in linear memory (then an out-of-bounds trap), whichever comes first.

use core::hint::black_box;
use kubewasm_guest::hostile::Entry;

/// Recurses forever; `black_box` hides the termination condition from the optimiser.
#[inline(never)]
pub fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    let below = recurse(depth + 1);
    black_box(below ^ depth)
}

/// Overflows the stack.
pub fn overflow(_entry: Entry) {
    black_box(recurse(0));
}

kubewasm_guest::hostile!(overflow);
