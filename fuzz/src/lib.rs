//! Shared pieces of the kubewasm fuzz targets: the guest modules (written in WAT, compiled once
//! per process into a temporary folder), the handles that load them, and the requests that carry
//! the fuzz input to the guest.
//!
//! The guests read the fuzz input back from the request: the harness writes `!` followed by the
//! input in hexadecimal into a string field of the request, and the guest decodes it (see
//! `guests/*.wat`). That way every target goes through the library's public entry points, exactly
//! as the API server calls them, while the fuzzer controls what the module answers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kubewasm::{Handle, Kind};

/// The `wasi` echo guest: answers with the bytes after `!` in its input.
pub const ECHO_WAT: &str = include_str!("../guests/echo.wat");
/// The Kubewarden interpreter guest: runs the program after `!` in its input.
pub const INTERP_WAT: &str = include_str!("../guests/interp.wat");

/// The request objects the admission targets choose from (by the input's first byte).
pub const OBJECTS: [&str; 3] = [
    r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default","labels":{"app":"x"}},"data":{"a":"1","b":"2"}}"#,
    r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c","image":"busybox","args":["a","b"]}]}}"#,
    "null",
];

/// A folder of this process's own, holding the compiled guests.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kubewasm-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz work folder");
        dir
    })
}

/// Compiles `wat` and writes it as `name` into the work folder; returns the folder.
pub fn write_guest(name: &str, wat: &str) -> &'static Path {
    let wasm = wat::parse_str(wat).unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::write(work_dir().join(name), wasm).expect("write a guest module");
    work_dir()
}

/// Loads a configuration whose module paths are relative to the work folder; panics on error
/// (the harness's configurations are fixed and must load).
pub fn handle(kind: Kind, config: &str) -> Handle {
    Handle::new(kind, config.as_bytes(), work_dir())
        .unwrap_or_else(|e| panic!("the harness configuration does not load: {}", e.message))
}

/// `!` and the hexadecimal form of `bytes`, as a JSON string body (no escaping needed).
pub fn marker(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(1 + 2 * bytes.len());
    s.push('!');
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// An AdmissionRequest (JSON) for `object` (an [`OBJECTS`] entry) carrying `payload` for the guest.
pub fn admission_request(object: &str, payload: &[u8]) -> Vec<u8> {
    let operation = if object == "null" { "DELETE" } else { "CREATE" };
    format!(
        r#"{{"uid":"fuzz-uid","kind":{{"group":"","version":"v1","kind":"ConfigMap"}},"resource":{{"group":"","version":"v1","resource":"configmaps"}},"name":"cm","namespace":"default","operation":"{operation}","userInfo":{{"username":"alice"}},"object":{object},"fuzz":"{}"}}"#,
        marker(payload)
    )
    .into_bytes()
}
