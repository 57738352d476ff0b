//! `hostile-garbage` (exports `authn`, `authz`, `validate`): writes text that is not JSON
//! to stdout and returns normally (exit status 0).

use kubewasm_guest::hostile::Entry;

/// What goes to stdout.
pub const GARBAGE: &[u8] = b"this is not JSON {\"response\": \x01\xff<<<\n";

/// Writes garbage.
pub fn garbage(_entry: Entry) {
    kubewasm_guest::write_output(GARBAGE);
}

kubewasm_guest::hostile!(garbage);
