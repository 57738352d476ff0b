//! `hostile-answer` (exports `authn`, `authz`, `validate`): a module whose *answer* is the
//! attack — well-formed JSON that would make the host do unbounded work or pass unbounded
//! text on. Each attack is chosen by the settings' `attack` field; the host must turn every one
//! into one bounded, failed call (or cut text) naming the bound.
//!
//! | `attack` | answer |
//! |---|---|
//! | `patch-copies` | a JSONPatch: `add` of a 1 KiB string under `/data`, then `copies` (default 20) `copy` operations of `/data` into new keys of `/data` (each doubles the object) |
//! | `patch-depth` | a JSONPatch of `ops` (default 200) `copy` operations of `/data` into `/data/d` (each nests one level deeper) |
//! | `patch-operations` | a JSONPatch of `ops` (default 20000) `test` operations |
//! | `patch-huge` | a JSONPatch: `add` of a `size`-byte string (default 5 MiB) under `/data`, then one `copy` of it (the object outgrows the host's object bound) |
//! | `warnings` | `count` (default 1000) warnings of `size` (default 10) bytes |
//! | `annotations` | `count` (default 1000) audit annotations |
//! | `text` | a rejection whose message is `size` (default 1 MiB) bytes with terminal escapes and newlines |
//! | `user-token` | (authn) authenticated, the user name is the token itself |
//! | `user-huge` | (authn) authenticated, with `count` (default 100000) groups |
//! | `iovecs` | calls WASI `fd_write` with 2^30 iovecs, answers with the errno it got |
//! | `random` | calls WASI `random_get` for 64 MiB, answers with the errno it got |
//! | `contradiction` | (authz) allowed and denied at once |
//! | `deep` | an answer nesting 100,000 arrays deep |
//! | `capabilities` | asks for the clock, a file, a socket, the environment and random bytes, and answers with what it got |
//! | `sleep` | reads its arguments, the monotonic clock, sleeps an hour through `poll_oneoff` (a clock subscription), reads the clock again, polls stdin (an fd subscription), and answers with what it got |
//! | `oob` | loads from an address past its memory (a trap the host sees as a fault signal) |

use std::io::Read;

use base64::Engine as _;
use kubewasm_guest::hostile::Entry;
use serde::Deserialize;
use serde_json::{json, Value};

/// The module's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    attack: String,
    #[serde(default)]
    copies: Option<usize>,
    #[serde(default)]
    ops: Option<usize>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    size: Option<usize>,
}

#[derive(Deserialize)]
struct Input {
    request: Value,
    #[serde(default)]
    settings: Option<Settings>,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_write(fd: i32, iovs: i32, count: i32, nwritten: i32) -> i32;
    fn random_get(buf: i32, len: i32) -> i32;
    fn clock_time_get(id: i32, precision: i64, out: i32) -> i32;
    fn environ_sizes_get(count: i32, size: i32) -> i32;
    fn path_open(
        fd: i32,
        dirflags: i32,
        path: i32,
        path_len: i32,
        oflags: i32,
        rights: i64,
        inheriting: i64,
        fdflags: i32,
        out: i32,
    ) -> i32;
    fn sock_accept(fd: i32, flags: i32, out: i32) -> i32;
    fn args_sizes_get(count: i32, size: i32) -> i32;
    fn args_get(argv: i32, buf: i32) -> i32;
    fn poll_oneoff(subs: i32, events: i32, count: i32, nevents: i32) -> i32;
}

/// Polls one WASI subscription of `kind` (0 clock, 1 fd read) with `body` at its offset 16,
/// returning (errno, number of events, first event's error).
fn poll_one(kind: u8, body: &[u8]) -> (i32, u32, u16) {
    let mut sub = [0u8; 48];
    sub[0..8].copy_from_slice(&7u64.to_le_bytes());
    sub[8] = kind;
    sub[16..16 + body.len()].copy_from_slice(body);
    let mut event = [0u8; 32];
    let mut n = 0u32;
    // SAFETY: WASI import; the buffers are live and sized as the ABI says.
    let errno = unsafe {
        poll_oneoff(
            sub.as_ptr() as i32,
            event.as_mut_ptr() as i32,
            1,
            &mut n as *mut u32 as i32,
        )
    };
    (errno, n, u16::from_le_bytes([event[8], event[9]]))
}

/// Reads the monotonic clock.
fn monotonic() -> u64 {
    let mut t = 0u64;
    // SAFETY: WASI import with a live out-pointer.
    unsafe { clock_time_get(1, 1, &mut t as *mut u64 as i32) };
    t
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).expect("serialises"))
}

fn review(response: Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

fn json_patch(uid: &Value, ops: Vec<Value>) -> Value {
    review(
        json!({"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": b64(&Value::Array(ops))}),
    )
}

/// The answer for `attack`, or an error message.
fn answer(entry: Entry, request: &Value, s: &Settings) -> Result<Value, String> {
    let uid = request
        .pointer("/request/uid")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(match s.attack.as_str() {
        "patch-copies" => {
            let mut ops = vec![json!({"op": "add", "path": "/data/k0", "value": "x".repeat(1024)})];
            for i in 1..=s.copies.unwrap_or(20) {
                ops.push(json!({"op": "copy", "from": "/data", "path": format!("/data/k{i}")}));
            }
            json_patch(&uid, ops)
        }
        "patch-depth" => json_patch(
            &uid,
            (0..s.ops.unwrap_or(200))
                .map(|_| json!({"op": "copy", "from": "/data", "path": "/data/d"}))
                .collect(),
        ),
        "patch-operations" => json_patch(
            &uid,
            (0..s.ops.unwrap_or(20_000))
                .map(|_| json!({"op": "test", "path": "/kind", "value": "ConfigMap"}))
                .collect(),
        ),
        "patch-huge" => json_patch(
            &uid,
            vec![
                json!({"op": "add", "path": "/data/a", "value": "y".repeat(s.size.unwrap_or(5 << 20))}),
                json!({"op": "copy", "from": "/data/a", "path": "/data/b"}),
            ],
        ),
        "warnings" => {
            let w: Vec<String> = (0..s.count.unwrap_or(1000))
                .map(|i| format!("{i:0width$}", width = s.size.unwrap_or(10)))
                .collect();
            review(json!({"uid": uid, "allowed": true, "warnings": w}))
        }
        "annotations" => {
            let a: serde_json::Map<String, Value> = (0..s.count.unwrap_or(1000))
                .map(|i| (format!("key-{i}"), json!("value")))
                .collect();
            review(json!({"uid": uid, "allowed": true, "auditAnnotations": a}))
        }
        "text" => {
            let unit = "\u{1b}[31mred\u{1b}[0m\nforged: log line\r\0";
            let message = unit.repeat(s.size.unwrap_or(1 << 20) / unit.len() + 1);
            match entry {
                Entry::Authz => {
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "status": {"allowed": false, "denied": true, "reason": message}})
                }
                _ => review(json!({"uid": uid, "allowed": false,
                    "status": {"code": 403, "message": message, "reason": message}})),
            }
        }
        "user-token" => {
            let token = request
                .pointer("/spec/token")
                .cloned()
                .unwrap_or(Value::Null);
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "status": {"authenticated": true, "user": {"username": token}}})
        }
        "user-huge" => {
            let groups: Vec<String> = (0..s.count.unwrap_or(100_000))
                .map(|i| format!("group-{i}"))
                .collect();
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "status": {"authenticated": true, "user": {"username": "someone", "groups": groups}}})
        }
        "iovecs" => {
            // One valid iovec at offset 0 of a small buffer; the count claims a billion.
            let iov = [0u32; 2];
            let mut written = 0u32;
            // SAFETY: a WASI import; the host validates every pointer it is given.
            let errno = unsafe {
                fd_write(
                    1,
                    iov.as_ptr() as i32,
                    1 << 30,
                    &mut written as *mut u32 as i32,
                )
            };
            return Err(format!("fd_write returned errno {errno}"));
        }
        "random" => {
            let buf = [0u8; 16];
            // SAFETY: as above; the length is the attack.
            let errno = unsafe { random_get(buf.as_ptr() as i32, 64 << 20) };
            return Err(format!("random_get returned errno {errno}"));
        }
        "contradiction" => {
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "status": {"allowed": true, "denied": true}})
        }
        "deep" => {
            let mut out = b"{\"response\":".to_vec();
            out.extend(std::iter::repeat_n(b'[', 100_000));
            out.extend(std::iter::repeat_n(b']', 100_000));
            out.push(b'}');
            kubewasm_guest::write_output(&out);
            std::process::exit(0);
        }
        "capabilities" => {
            let mut time = 0u64;
            let (mut count, mut size) = (7u32, 7u32);
            let mut fd = 0u32;
            let mut random = [0u8; 8];
            let path = b"/etc/passwd";
            // SAFETY: WASI imports; the host validates every pointer it is given.
            let got = unsafe {
                [
                    clock_time_get(0, 1, &mut time as *mut u64 as i32),
                    environ_sizes_get(&mut count as *mut u32 as i32, &mut size as *mut u32 as i32),
                    path_open(
                        3,
                        0,
                        path.as_ptr() as i32,
                        path.len() as i32,
                        0,
                        1,
                        1,
                        0,
                        &mut fd as *mut u32 as i32,
                    ),
                    sock_accept(3, 0, &mut fd as *mut u32 as i32),
                    random_get(random.as_mut_ptr() as i32, 8),
                ]
            };
            return Err(format!(
                "clock {} environ {} ({count} variables) path_open {} sock_accept {} random {} {random:?}",
                got[0], got[1], got[2], got[3], got[4]
            ));
        }
        "sleep" => {
            let (mut count, mut size) = (0u32, 0u32);
            // SAFETY: WASI imports with live out-pointers and a buffer of the size the host gave.
            let args = unsafe {
                args_sizes_get(&mut count as *mut u32 as i32, &mut size as *mut u32 as i32);
                let mut argv = vec![0u32; count as usize];
                let mut buf = vec![0u8; size as usize];
                args_get(argv.as_mut_ptr() as i32, buf.as_mut_ptr() as i32);
                buf.split(|&b| b == 0)
                    .take(count as usize)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            };
            let before = monotonic();
            let mut clock = [0u8; 32];
            clock[0..4].copy_from_slice(&1u32.to_le_bytes()); // monotonic
            clock[8..16].copy_from_slice(&3_600_000_000_000u64.to_le_bytes()); // one hour
            let slept = poll_one(0, &clock);
            let after = monotonic();
            let fd = poll_one(1, &0u32.to_le_bytes());
            return Err(format!(
                "args {args:?} slept {slept:?} for {} s fd {fd:?}",
                (after - before) / 1_000_000_000
            ));
        }
        "oob" => {
            // SAFETY: not safe, on purpose: the address is past the module's memory.
            let byte = unsafe { core::ptr::read_volatile(0xffff_fff0usize as *const u8) };
            return Err(format!("read {byte} past the end of memory"));
        }
        other => return Err(format!("unknown attack {other:?}")),
    })
}

/// Answers with the attack the settings name.
pub fn attack(entry: Entry) {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).expect("stdin");
    let out = match serde_json::from_slice::<Input>(&bytes) {
        Ok(input) => match answer(entry, &input.request, &input.settings.unwrap_or_default()) {
            Ok(response) => json!({ "response": response }),
            Err(e) => json!({ "response": null, "error": e }),
        },
        Err(e) => json!({ "response": null, "error": format!("invalid input: {e}") }),
    };
    kubewasm_guest::write_output(&serde_json::to_vec(&out).expect("serialises"));
}

kubewasm_guest::hostile!(attack);
