//! `hostile-loop` (exports `authn`, `authz`, `validate`): spins forever without calling
//! the host. Only an interruption (epoch deadline, timeout) ends the call.

use core::hint::black_box;
use kubewasm_guest::hostile::Entry;

/// Loops forever; `black_box` keeps the optimiser from proving the loop side-effect free.
pub fn spin(_entry: Entry) {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter).wrapping_add(1);
    }
}

kubewasm_guest::hostile!(spin);
