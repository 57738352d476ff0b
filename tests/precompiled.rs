//! Precompiled modules (`.cwasm`) through the C ABI: `kubewasm_compile` writes them, and
//! `kubewasm_init` loads a valid one instead of compiling, and ignores a stale, foreign,
//! truncated, corrupted or garbage one with a log line naming the file and the reason.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kubewasm::ffi::*;
use kubewasm::runtime::precompiled::{self, TRAILER_LEN};
use serde_json::Value;

/// A fresh directory for one test, holding copies of fixture modules.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str, fixtures_used: &[&str]) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "kubewasm-precompiled-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in fixtures_used {
            let name = format!("{f}.wasm");
            std::fs::copy(fixtures().join(&name), dir.join(&name)).unwrap();
        }
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `kubewasm_compile` through the ABI.
fn compile(wasm: &Path, out: Option<&Path>) -> Result<(), AbiError> {
    let w = wasm.to_str().unwrap();
    let o = out.map_or("", |p| p.to_str().unwrap());
    // SAFETY: valid buffers.
    let err = unsafe { kubewasm_compile(w.as_ptr(), w.len(), o.as_ptr(), o.len()) };
    error_result(err)
}

fn error_result(err: *mut kubewasm_error) -> Result<(), AbiError> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: err is a live error; freed once here.
    unsafe {
        let code = kubewasm_error_code(err);
        let (mut p, mut l) = (std::ptr::null(), 0usize);
        kubewasm_error_message(err, &mut p, &mut l);
        let message = String::from_utf8_lossy(std::slice::from_raw_parts(p, l)).into_owned();
        kubewasm_error_free(err);
        Err(AbiError { code, message })
    }
}

/// An authentication configuration naming one module by absolute path.
fn authn_config(wasm: &Path, sha256: Option<&str>) -> String {
    let mut c = format!(
        "modules:\n- name: authn\n  module: {}\n",
        wasm.to_str().unwrap()
    );
    if let Some(d) = sha256 {
        c.push_str(&format!("  sha256: {d}\n"));
    }
    c
}

/// The init notes of a handle: (level, module, message).
fn notes(h: &H) -> Vec<(String, String, String)> {
    let m = h.modules();
    m["logs"]
        .as_array()
        .expect("modules JSON has logs")
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_string(),
                l["module"].as_str().unwrap().to_string(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Initialises with the module at `wasm`, checks that it still authenticates, and returns the
/// init notes.
fn init_and_authenticate(wasm: &Path) -> Vec<(String, String, String)> {
    let h = init(KUBEWASM_KIND_AUTHENTICATION, &authn_config(wasm, None)).unwrap();
    let r: Value = h.authenticate(&token_review("magic-token")).unwrap();
    assert_eq!(r["status"]["authenticated"], true, "{r}");
    notes(&h)
}

/// Asserts one warning about `cwasm` that contains `reason`.
fn assert_ignored(notes: &[(String, String, String)], cwasm: &Path, reason: &str) {
    assert_eq!(notes.len(), 1, "{notes:?}");
    let (level, module, message) = &notes[0];
    assert_eq!(level, "warning", "{message}");
    assert_eq!(module, "authn");
    assert!(
        message.contains(&format!("ignoring precompiled {}", cwasm.display())),
        "{message}"
    );
    assert!(message.contains(reason), "want {reason:?} in: {message}");
    assert!(message.contains("compiling"), "{message}");
}

#[test]
fn a_valid_cwasm_is_loaded_instead_of_compiling() {
    let d = Dir::new("valid", &["magic-authenticator"]);
    let wasm = d.path("magic-authenticator.wasm");
    let cwasm = d.path("magic-authenticator.cwasm");

    // Without a .cwasm: compiled, no note.
    assert!(init_and_authenticate(&wasm).is_empty());

    compile(&wasm, None).unwrap();
    let bytes = std::fs::read(&cwasm).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "wasmtime's artifact comes first");
    assert_eq!(&bytes[bytes.len() - 8..], b"KUBEWASM");

    let n = init_and_authenticate(&wasm);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].0, "info");
    assert_eq!(n[0].1, "authn");
    assert!(
        n[0].2
            .contains(&format!("loaded precompiled {}", cwasm.display())),
        "{}",
        n[0].2
    );

    // The digest pinned in the configuration still applies to the .wasm.
    let digest = precompiled::hex(&precompiled::sha256(&std::fs::read(&wasm).unwrap()));
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        &authn_config(&wasm, Some(&digest)),
    )
    .unwrap();
    assert_eq!(notes(&h)[0].0, "info");
    let wrong = "ab".repeat(32);
    let err = init(
        KUBEWASM_KIND_AUTHENTICATION,
        &authn_config(&wasm, Some(&wrong)),
    )
    .err()
    .expect("a pinned digest that does not match fails even with a valid .cwasm");
    assert_eq!(err.code, KUBEWASM_ERROR_LOAD);
    assert!(err.message.contains("sha256 mismatch"), "{}", err.message);
}

#[test]
fn compile_writes_elsewhere_and_loads_kubewarden_policies() {
    let d = Dir::new("elsewhere", &["safe-annotations"]);
    let wasm = d.path("safe-annotations.wasm");
    std::fs::create_dir(d.path("out")).unwrap();
    let out = d.path("out/x.cwasm");
    compile(&wasm, Some(&out)).unwrap();
    assert!(out.exists() && !d.path("safe-annotations.cwasm").exists());
    std::fs::rename(&out, d.path("safe-annotations.cwasm")).unwrap();
    let config = format!(
        "modules:\n- name: safe\n  type: kubewarden\n  module: {}\n  rules:\n  - operations: [\"CREATE\"]\n    apiGroups: [\"\"]\n    apiVersions: [\"v1\"]\n    resources: [\"configmaps\"]\n",
        wasm.display()
    );
    let h = init(KUBEWASM_KIND_ADMISSION, &config).unwrap();
    let n = notes(&h);
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(
        (n[0].0.as_str(), n[0].1.as_str()),
        ("info", "safe"),
        "{n:?}"
    );
}

#[test]
fn a_cwasm_from_another_engine_configuration_is_stale() {
    let d = Dir::new("stale", &["magic-authenticator"]);
    let wasm = d.path("magic-authenticator.wasm");
    let cwasm = d.path("magic-authenticator.cwasm");
    let bytes = std::fs::read(&wasm).unwrap();

    // A test-only engine that differs from the library's in one setting.
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(false);
    let other = wasmtime::Engine::new(&config).unwrap();
    let foreign_engine = precompiled::precompile(&other, &bytes).unwrap();
    std::fs::write(&cwasm, &foreign_engine).unwrap();
    assert_ignored(&init_and_authenticate(&wasm), &cwasm, "stale");

    // The same file with its trailer claiming this engine: wasmtime's own check refuses it.
    let engine = kubewasm::runtime::engine().unwrap();
    let mut forged = foreign_engine.clone();
    let t = forged.len() - TRAILER_LEN;
    forged[t + 48..t + 80].copy_from_slice(&precompiled::engine_hash(engine));
    std::fs::write(&cwasm, &forged).unwrap();
    assert_ignored(&init_and_authenticate(&wasm), &cwasm, "wasmtime refused it");

    // A valid file whose recorded compatibility hash was mangled.
    compile(&wasm, None).unwrap();
    let mut mangled = std::fs::read(&cwasm).unwrap();
    let t = mangled.len() - TRAILER_LEN;
    mangled[t + 60] ^= 0xff;
    std::fs::write(&cwasm, &mangled).unwrap();
    assert_ignored(&init_and_authenticate(&wasm), &cwasm, "stale");
}

#[test]
fn the_cwasm_of_another_module_is_foreign() {
    let d = Dir::new("foreign", &["magic-authenticator", "magic-authorizer"]);
    compile(&d.path("magic-authorizer.wasm"), None).unwrap();
    let cwasm = d.path("magic-authenticator.cwasm");
    std::fs::rename(d.path("magic-authorizer.cwasm"), &cwasm).unwrap();
    assert_ignored(
        &init_and_authenticate(&d.path("magic-authenticator.wasm")),
        &cwasm,
        "compiled from another module",
    );
}

#[test]
fn truncated_corrupted_and_garbage_files_are_ignored() {
    let d = Dir::new("damaged", &["magic-authenticator"]);
    let wasm = d.path("magic-authenticator.wasm");
    let cwasm = d.path("magic-authenticator.cwasm");
    compile(&wasm, None).unwrap();
    let good = std::fs::read(&cwasm).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "too short"),
        ("tiny", good[..10].to_vec(), "too short"),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "kubewasm trailer",
        ),
        (
            "truncated by one byte",
            good[..good.len() - 1].to_vec(),
            "kubewasm trailer",
        ),
        (
            "spliced",
            [&good[..100], &good[..]].concat(),
            "truncated or spliced",
        ),
        (
            "corrupted",
            {
                let mut c = good.clone();
                c[good.len() / 3] ^= 0x5a;
                c
            },
            "corrupted",
        ),
        (
            "garbage",
            (0..200_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "kubewasm trailer",
        ),
        (
            "the .wasm itself",
            std::fs::read(&wasm).unwrap(),
            "kubewasm trailer",
        ),
    ];
    for (name, bytes, reason) in cases {
        std::fs::write(&cwasm, &bytes).unwrap();
        let n = init_and_authenticate(&wasm);
        eprintln!("{name}: {n:?}");
        assert_ignored(&n, &cwasm, reason);
    }

    // A directory where the .cwasm should be.
    std::fs::remove_file(&cwasm).unwrap();
    std::fs::create_dir(&cwasm).unwrap();
    assert_ignored(&init_and_authenticate(&wasm), &cwasm, "not a regular file");

    // A FIFO: opening it would block init until a writer came.
    std::fs::remove_dir(&cwasm).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&cwasm)
        .status()
        .unwrap();
    assert!(status.success());
    assert_ignored(&init_and_authenticate(&wasm), &cwasm, "not a regular file");
}

#[test]
fn compile_reports_errors() {
    let d = Dir::new("errors", &["magic-authenticator"]);
    let missing = compile(&d.path("nope.wasm"), None).unwrap_err();
    assert_eq!(missing.code, KUBEWASM_ERROR_LOAD);
    assert!(missing.message.contains("nope.wasm"), "{}", missing.message);

    let junk = d.path("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let e = compile(&junk, None).unwrap_err();
    assert_eq!(e.code, KUBEWASM_ERROR_LOAD);
    assert!(
        e.message.contains("not a valid WebAssembly module"),
        "{}",
        e.message
    );
    assert!(!d.path("junk.cwasm").exists());

    // Compiling a .cwasm again is refused.
    let wasm = d.path("magic-authenticator.wasm");
    compile(&wasm, None).unwrap();
    let cwasm = d.path("magic-authenticator.cwasm");
    let e = compile(&cwasm, Some(&d.path("again.cwasm"))).unwrap_err();
    assert!(
        e.message.contains("already a precompiled module"),
        "{}",
        e.message
    );
    let e = compile(&cwasm, None).unwrap_err();
    assert!(
        e.message.contains("overwrite its own input"),
        "{}",
        e.message
    );

    let e = compile(&wasm, Some(&d.path("no/such/dir/x.cwasm"))).unwrap_err();
    assert_eq!(e.code, KUBEWASM_ERROR_LOAD);
    assert!(e.message.contains("cannot write"), "{}", e.message);

    // SAFETY: NULL with a non-zero length is rejected, not read.
    let err = unsafe { kubewasm_compile(std::ptr::null(), 5, std::ptr::null(), 0) };
    assert_eq!(
        error_result(err).unwrap_err().code,
        KUBEWASM_ERROR_INVALID_ARGUMENT
    );
    // SAFETY: an empty path is rejected.
    let err = unsafe { kubewasm_compile(std::ptr::null(), 0, std::ptr::null(), 0) };
    assert_eq!(
        error_result(err).unwrap_err().code,
        KUBEWASM_ERROR_INVALID_ARGUMENT
    );
}

/// Reliability row 12: a `.cwasm` that every user can write is never mapped (its bytes would
/// become code anyone on the node chose); the module is compiled instead.
#[test]
fn a_cwasm_writable_by_every_user_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new("world-writable", &["magic-authenticator"]);
    let wasm = d.path("magic-authenticator.wasm");
    let cwasm = d.path("magic-authenticator.cwasm");
    compile(&wasm, None).unwrap();
    std::fs::set_permissions(&cwasm, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_ignored(
        &init_and_authenticate(&wasm),
        &cwasm,
        "writable by every user (mode 666)",
    );
}
