//! `hostile-exit` (exports `authn`, `authz`, `validate`): writes a well-formed, permissive
//! answer to stdout (authenticated as `hostile` in `system:masters`, allowed, admitted),
//! `hostile-exit: exiting with status 3` to stderr, then calls `proc_exit(3)`. The host must
//! report a failed call and ignore stdout.

use kubewasm_guest::hostile::{permissive_answer, Entry};

/// Answers permissively, then exits with status 3.
pub fn exit(entry: Entry) {
    kubewasm_guest::write_output(&permissive_answer(entry));
    eprintln!("hostile-exit: exiting with status 3");
    std::process::exit(3);
}

kubewasm_guest::hostile!(exit);
