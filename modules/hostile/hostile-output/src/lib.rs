//! `hostile-output` (exports `authn`, `authz`, `validate`): writes 1 GiB to stdout in
//! 64 KiB `fd_write` calls (a JSON-looking prefix, then spaces), then returns normally. When
//! a write fails (the host's output cap) it stops writing and returns normally, so the host
//! must itself notice that the output was cut.

use std::io::Write;

use kubewasm_guest::hostile::Entry;

const CHUNK: usize = 64 << 10;
const TOTAL: usize = 1 << 30;

/// Floods stdout.
pub fn flood(_entry: Entry) {
    let mut chunk = vec![b' '; CHUNK];
    let prefix = b"{\"response\": ";
    chunk[..prefix.len()].copy_from_slice(prefix);
    let mut out = std::io::stdout().lock();
    let mut written = 0;
    while written < TOTAL {
        if out.write_all(&chunk).is_err() {
            return;
        }
        chunk[..prefix.len()].fill(b' ');
        written += CHUNK;
    }
    let _ = out.flush();
}

kubewasm_guest::hostile!(flood);
