//! `floor-validator` (export `validate`): the least a `wasi` validating module can do, for
//! measuring what the host's mechanism costs on its own (a fresh instance, the envelope in and
//! out, the host's parsing of the answer) against a policy's real work. Not a policy: it never
//! parses its input. It copies `request.uid` (the first `"uid":"…"` of the envelope; an
//! AdmissionRequest writes it first) and rejects, with magic-validator's message and code 403,
//! when the bytes `"not-allowed-value":` occur anywhere in the input; otherwise it allows. No
//! serde, no allocator of its own: 0 dependencies.
//!
//! `make bench-compare FLOOR=1` runs it in the API server as the `wasm-floor` column;
//! `cargo bench --bench calls` runs it in the library (docs/performance.md, "The floor").

use std::io::{Read, Write};

/// The bytes whose presence rejects: magic-validator's forbidden `data` key, as a JSON key.
const NEEDLE: &[u8] = b"\"not-allowed-value\":";
/// Where the uid starts.
const UID: &[u8] = b"\"uid\":\"";

/// kubewasm `wasi` entry point: the envelope in on stdin, the answer on stdout.
#[unsafe(no_mangle)]
pub extern "C" fn validate() {
    let mut input = Vec::new();
    let answer = match std::io::stdin().read_to_end(&mut input) {
        Ok(_) => answer(&input),
        Err(e) => {
            format!("{{\"response\":null,\"error\":\"cannot read stdin: {e}\"}}").into_bytes()
        }
    };
    // Stdout is buffered and a reactor module never exits: flush. A failed write leaves the
    // host without an answer, which it reports as an error.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&answer).and_then(|()| stdout.flush());
}

/// The envelope answering `input`.
fn answer(input: &[u8]) -> Vec<u8> {
    let Some(uid) = find(input, UID).map(|at| &input[at + UID.len()..]) else {
        return b"{\"response\":null,\"error\":\"no request.uid in the input\"}".to_vec();
    };
    let uid = &uid[..uid.iter().position(|&b| b == b'"').unwrap_or(0)];
    let verdict: &[u8] = if find(input, NEEDLE).is_some() {
        b"false,\"status\":{\"message\":\"value 'not-allowed-value' not allowed in configmap\",\"code\":403}"
    } else {
        b"true"
    };
    let mut out = Vec::with_capacity(160 + uid.len());
    out.extend_from_slice(
        b"{\"response\":{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"",
    );
    // A uid with a backslash escape is cut at its first quote; request uids are UUIDs.
    out.extend_from_slice(uid);
    out.extend_from_slice(b"\",\"allowed\":");
    out.extend_from_slice(verdict);
    out.extend_from_slice(b"}}}");
    out
}

/// The offset of the first occurrence of `needle` (at least two bytes) in `haystack`. The
/// first two bytes are compared before the rest, so that the scan stays a tight loop.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (a, b) = (needle[0], needle[1]);
    (0..haystack.len().checked_sub(needle.len())? + 1)
        .find(|&i| haystack[i] == a && haystack[i + 1] == b && haystack[i..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn answers() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"request":{"request":{"uid":"u-1","object":{"data":{"a":"b"}}}}}"#,
                r#"{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":true}}}"#,
            ),
            (
                r#"{"request":{"request":{"uid":"u-2","object":{"data":{"not-allowed-value":"x"}}}}}"#,
                r#"{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-2","allowed":false,"status":{"message":"value 'not-allowed-value' not allowed in configmap","code":403}}}}"#,
            ),
            (
                r#"{"request":{}}"#,
                r#"{"response":null,"error":"no request.uid in the input"}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(answer(input.as_bytes())).unwrap(),
                *want,
                "{input}"
            );
        }
    }
}
