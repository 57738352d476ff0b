//! Every bound the host puts on a call, in one place: the work a module's answer can make the
//! host do (patches, diffs, host calls, WASI buffers) and everything a module's text can put in
//! front of an operator (messages, warnings, audit annotations, log lines).
//!
//! A module that goes over a bound that guards the host's time or memory gets a failed call that
//! names the bound (its `failurePolicy` applies); text longer than its cap is cut and marked, and
//! control characters in it are replaced, so a module cannot forge log lines or terminal escapes.
//! This module depends on nothing else in the crate: every layer may use it.

use std::time::Duration;

/// How often the epoch advances; a call overruns its time limit by at most about one tick. The
/// epoch counts ticks of the wall clock, so a starved epoch thread (a saturated machine) delays
/// the end of a call by its own wake-up delay, not by that delay for every tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Largest request accepted from the caller.
pub const MAX_INPUT: usize = 32 << 20;
/// Largest answer a module may write to stdout (or hand over through waPC) in one call.
pub const MAX_OUTPUT: usize = 8 << 20;
/// How much of a module's stderr is kept for error messages.
pub const MAX_STDERR: usize = 16 << 10;
/// Instances alive at once across the process (calls in flight); the pooling allocator's size.
pub const MAX_INSTANCES: u32 = 1000;
/// Module calls in flight at once per access step, across the process. Each step has its own
/// share of the [`MAX_INSTANCES`] instances, so a flood into one (junk tokens into a slow
/// authentication module: authentication runs before priority-and-fairness) cannot take the
/// instances the others need. A call beyond its step's share fails at once ("overloaded").
pub const MAX_IN_FLIGHT_AUTHENTICATION: usize = 250;
/// See [`MAX_IN_FLIGHT_AUTHENTICATION`].
pub const MAX_IN_FLIGHT_AUTHORIZATION: usize = 250;
/// See [`MAX_IN_FLIGHT_AUTHENTICATION`].
pub const MAX_IN_FLIGHT_ADMISSION: usize = 500;
/// Largest table a module may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Most iovec entries one WASI `fd_read`/`fd_write` may pass (Linux's `IOV_MAX`).
pub const MAX_IOVECS: u32 = 1024;
/// Most subscriptions one WASI `poll_oneoff` may pass.
pub const MAX_POLL_SUBSCRIPTIONS: u32 = 1024;
/// Most bytes one WASI `random_get` may ask for.
pub const MAX_RANDOM_BYTES: u32 = 1 << 20;
/// Most bytes of host-call answers appended to a Kubewarden WASI-mode policy's stdin per call.
pub const MAX_HOST_CALL_ANSWERS: usize = 1 << 20;

/// Most operations in one JSONPatch answer.
pub const MAX_PATCH_OPERATIONS: usize = 10_000;
/// Most bytes the `copy` operations of one JSONPatch may copy in total (the bound Kubernetes'
/// json-patch library calls the accumulated copy size limit).
pub const MAX_PATCH_COPY_BYTES: usize = 8 << 20;
/// Largest object (serialised) a mutation may produce.
pub const MAX_OBJECT_BYTES: usize = 8 << 20;
/// Deepest nesting of objects and arrays a mutation may produce.
pub const MAX_JSON_DEPTH: usize = 100;

/// Longest module-provided text (status message, reason, error, stderr, log line) passed on.
pub const MAX_MESSAGE: usize = 4 << 10;
/// Longest debug log line (a module's whole input or output with `debug: true`).
pub const MAX_DEBUG_LINE: usize = 64 << 10;
/// Most warnings one module may return for one request.
pub const MAX_WARNINGS: usize = 50;
/// Longest warning passed on.
pub const MAX_WARNING: usize = 1 << 10;
/// Most audit annotations one module may return for one request.
pub const MAX_AUDIT_ANNOTATIONS: usize = 50;
/// Longest audit annotation key (a qualified name).
pub const MAX_AUDIT_KEY: usize = 253;
/// Longest audit annotation value passed on.
pub const MAX_AUDIT_VALUE: usize = 4 << 10;
/// Most log lines kept from one module call; later ones are counted, not kept.
pub const MAX_LOG_LINES: usize = 100;
/// Largest user (name, uid, groups, extra; serialised) an authentication module may return.
pub const MAX_USER_INFO: usize = 64 << 10;

/// A host function refused to go on because a bound was reached; the call fails with this
/// message (a wasmtime error the runtime recognises and reports as it is).
#[derive(Debug)]
pub struct BoundExceeded(pub String);

impl std::fmt::Display for BoundExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BoundExceeded {}

/// Replaces control characters (newlines, escapes, NUL, ...) with spaces and cuts the text to
/// at most `max` bytes on a character boundary, marking the cut.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > max {
            out.push_str("… (truncated)");
            return out;
        }
        out.push(c);
    }
    out
}

/// Shortens `text` to at most `max` bytes (on a character boundary), marking the cut; unlike
/// [`sanitize`] it keeps line breaks (for multi-line operator messages).
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("… (truncated)");
    }
    text
}

/// How deep `value` nests (a scalar is 0, `[]` and `{}` are 1), without recursion.
pub fn json_depth(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(depth + 1);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(fields) => {
                deepest = deepest.max(depth + 1);
                stack.extend(fields.values().map(|i| (i, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The serialised size of `value` if it is at most `max` bytes; `None` when it is larger (the
/// count stops as soon as it passes `max`).
pub fn json_size_within(value: &serde_json::Value, max: usize) -> Option<usize> {
    struct Counter {
        n: usize,
        max: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.max {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { n: 0, max };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitize_replaces_controls_and_cuts() {
        let cases = [
            ("plain", 100, "plain"),
            ("a\nb\r\tc", 100, "a b  c"),
            ("\u{1b}[31mred\u{1b}[0m", 100, " [31mred [0m"),
            ("nul\0byte", 100, "nul byte"),
            ("abcdef", 3, "abc… (truncated)"),
            ("ééé", 3, "é… (truncated)"),
        ];
        for (input, max, want) in cases {
            assert_eq!(sanitize(input, max), want, "{input:?}");
        }
    }

    #[test]
    fn truncate_keeps_lines() {
        assert_eq!(truncate("a\nb".into(), 10), "a\nb");
        assert_eq!(truncate("ééé".into(), 3), "é… (truncated)");
    }

    #[test]
    fn depth_and_size() {
        assert_eq!(json_depth(&json!(1)), 0);
        assert_eq!(json_depth(&json!({"a": [1, {"b": {}}]})), 4);
        let v = json!({"a": "xyz"});
        assert_eq!(json_size_within(&v, 100), Some(11));
        assert_eq!(json_size_within(&v, 10), None);
    }
}
