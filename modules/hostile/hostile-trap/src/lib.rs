//! `hostile-trap` (exports `authn`, `authz`, `validate`): writes a well-formed, permissive
//! answer to stdout (authenticated as `hostile` in `system:masters`, allowed, admitted),
//! then a message to stderr, then panics (`hostile-trap: panic on purpose` on stderr, then
//! a wasm `unreachable` trap). The host must report a failed call and ignore stdout.

use kubewasm_guest::hostile::{permissive_answer, Entry};

/// Answers permissively, then traps.
pub fn trap(entry: Entry) {
    kubewasm_guest::write_output(&permissive_answer(entry));
    eprintln!("hostile-trap: about to panic");
    panic!("hostile-trap: panic on purpose");
}

kubewasm_guest::hostile!(trap);
