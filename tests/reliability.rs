//! Rows of the reliability matrix (`reference/reliability.md` §6) that need a module written for
//! the case: each test is named after its row. The modules are WebAssembly text assembled here
//! (the `wat` crate), written to a temporary folder and loaded through the C ABI.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use kubewasm::ffi::*;
use kubewasm::limits::MAX_INPUT;
use serde_json::{Value, json};

/// Writes `wat` as `name.wasm` into a folder of this test process and returns its path.
fn module(name: &str, wat: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubewasm-reliability-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

/// Row 4: a module whose initial memory or tables exceed the limits, or that declares more
/// memories or tables than an instance may have, fails at load naming the module.
#[test]
fn row04_oversized_or_too_many_memories_and_tables_fail_at_load() {
    let cases = [
        (
            "initial-memory",
            r#"(module (memory (export "memory") 2048) (func (export "authn")))"#,
            "memory limit of 67108864 bytes exceeded",
        ),
        (
            "two-memories",
            r#"(module (memory 1) (memory 1) (func (export "authn")))"#,
            "",
        ),
        (
            "five-tables",
            r#"(module (table 1 funcref) (table 1 funcref) (table 1 funcref) (table 1 funcref)
                       (table 1 funcref) (func (export "authn")))"#,
            "",
        ),
        (
            "huge-table",
            r#"(module (table 200000 funcref) (func (export "authn")))"#,
            "",
        ),
    ];
    for (name, wat, want) in cases {
        let path = module(name, wat);
        let config = format!(
            "modules:\n- name: {name}\n  module: {}\n  memoryLimit: 64Mi\n",
            path.display()
        );
        let err = match init(KUBEWASM_KIND_AUTHENTICATION, &config) {
            Ok(_) => panic!("{name}: loaded"),
            Err(e) => e,
        };
        assert_eq!(err.code, KUBEWASM_ERROR_LOAD, "{name}: {err:?}");
        assert!(
            err.message.contains(&format!("\"{name}\"")),
            "{name}: {}",
            err.message
        );
        assert!(err.message.contains(want), "{name}: {}", err.message);
    }
}

/// A module that remembers, in a global and in its memory, that it was called, and answers
/// "authenticated as leaked" when it finds either set.
const REMEMBERS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $called (mut i32) (i32.const 0))
  (data (i32.const 64) "{\"response\":null}")
  (data (i32.const 128) "{\"response\":{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"leaked\"}}}}")
  (func (export "authn")
    (if (i32.or (global.get $called) (i32.load (i32.const 1024)))
      (then (i32.store (i32.const 0) (i32.const 128)) (i32.store (i32.const 4) (i32.const 75)))
      (else (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 17))))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (global.set $called (i32.const 1))
    (i32.store (i32.const 1024) (i32.const 0x5ec7e7))))"#;

/// Row 21: what one request leaves in a module's globals or memory, the next never sees (a
/// fresh instance per call; the pooling allocator's reused slots are reset).
#[test]
fn row21_no_state_survives_between_requests() {
    let path = module("remembers", REMEMBERS);
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        &format!("modules:\n- module: {}\n", path.display()),
    )
    .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let r = h.authenticate(&token_review("t")).unwrap();
                    assert_eq!(r["status"]["authenticated"], false, "{r}");
                    assert_eq!(r["outcomes"][0]["outcome"], "unauthenticated", "{r}");
                }
            });
        }
    });
}

/// Row 23: a request above the input cap is refused before any module runs, with a clear
/// error; a large request below it (10,000 labels) completes within the module's time.
#[test]
fn row23_input_at_the_limits() {
    let h = init(
        KUBEWASM_KIND_ADMISSION,
        "modules:\n- module: magic-validator.wasm\n  timeout: 5s\n  rules:\n  - {operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [configmaps]}\n",
    )
    .unwrap();
    let too_big = vec![b' '; MAX_INPUT + 1];
    let err = h
        .admit_raw(KUBEWASM_PHASE_VALIDATING, &[0], &too_big, 0)
        .unwrap_err();
    assert_eq!(err.code, KUBEWASM_ERROR_BAD_REQUEST, "{err:?}");
    assert!(
        err.message
            .contains("more than the 33554432 bytes accepted"),
        "{err:?}"
    );

    let mut request = configmap_request(json!({"a": "b"}));
    let labels: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("label-{i}"), json!(format!("value-{i}"))))
        .collect();
    request["object"]["metadata"]["labels"] = Value::Object(labels);
    let started = Instant::now();
    let r = h.admit(KUBEWASM_PHASE_VALIDATING, &[0], &request).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r["outcomes"][0]["outcome"], "allowed", "{r}");
}

/// Row 26: a fault in host code is not swallowed by wasmtime's signal handlers: with the engine
/// running (handlers installed, a module called on this thread), a deliberate segfault in Rust
/// still kills the process with SIGSEGV. The test runs itself again as a child process.
#[test]
fn row26_a_host_segfault_is_a_crash_not_a_silent_result() {
    const CHILD: &str = "KUBEWASM_TEST_HOST_SEGFAULT";
    if std::env::var_os(CHILD).is_some() {
        let h = init(
            KUBEWASM_KIND_AUTHENTICATION,
            "modules:\n- module: magic-authenticator.wasm\n",
        )
        .unwrap();
        h.authenticate(&token_review("magic-token")).unwrap();
        // SAFETY: not safe at all, on purpose: the child must die of this.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
        unreachable!("the write above must kill the process");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "row26_a_host_segfault_is_a_crash_not_a_silent_result",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(11),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Row 8: an answer nesting 100,000 levels deep is a malformed answer (the parser's recursion
/// limit), a failed call in bounded time, never an allow.
#[test]
fn row08_a_deeply_nested_answer_is_a_failed_call() {
    let h = init(
        KUBEWASM_KIND_AUTHORIZATION,
        "modules:\n- module: hostile-answer.wasm\n  settings: {attack: deep}\n  failurePolicy: Deny\n",
    )
    .unwrap();
    let r = h.authorize(&sar(&["system:masters"], "secrets")).unwrap();
    assert_eq!(r["status"]["allowed"], false, "{r}");
    assert_eq!(r["status"]["denied"], true, "{r}");
    assert_eq!(r["outcomes"][0]["outcome"], "error", "{r}");
    let error = r["outcomes"][0]["error"].as_str().unwrap();
    assert!(error.contains("recursion limit exceeded"), "{error}");
}

/// Row 22: a module asking for the clock, a file, a socket or the environment gets nothing
/// real (a fake clock, `ENOSYS`, an empty environment); its random bytes and its clock readings
/// are the same every call.
#[test]
fn row22_no_clock_files_sockets_or_environment() {
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        "modules:\n- module: hostile-answer.wasm\n  settings: {attack: capabilities}\n",
    )
    .unwrap();
    let call = || {
        let r = h.authenticate(&token_review("some-token")).unwrap();
        r["outcomes"][0]["error"].as_str().unwrap().to_string()
    };
    let first = call();
    for want in [
        "clock 0",
        "environ 0 (0 variables)",
        "path_open 52",
        "sock_accept 52",
        "random 0",
    ] {
        assert!(first.contains(want), "{want}: {first}");
    }
    assert_eq!(
        call(),
        first,
        "the same answer every call (deterministic random and clock)"
    );
}

/// Row 22, waiting: a `wasi` module's one argument is its name; `poll_oneoff` on a clock never
/// blocks, and on the fake clock the time waited for passes (an hour, at once); an fd cannot be
/// polled (`ENOTSUP`, at once). Go's runtime needs all three.
#[test]
fn row22_sleeping_moves_the_fake_clock_without_waiting() {
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        "modules:\n- name: sleeper\n  module: hostile-answer.wasm\n  settings: {attack: sleep}\n",
    )
    .unwrap();
    let started = Instant::now();
    let r = h.authenticate(&token_review("some-token")).unwrap();
    let error = r["outcomes"][0]["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(r#"args ["sleeper"] slept (0, 1, 0) for 3600 s fd (0, 1, 58)"#),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Row 9: allowed and denied together is a failed call (never an allow); with
/// `failurePolicy: NoOpinion` the next module decides.
#[test]
fn row09_allowed_and_denied_together_is_a_failed_call() {
    let h = init(
        KUBEWASM_KIND_AUTHORIZATION,
        "modules:\n- module: hostile-answer.wasm\n  settings: {attack: contradiction}\n- module: magic-authorizer.wasm\n",
    )
    .unwrap();
    let r = h.authorize(&sar(&["someone-else"], "pods")).unwrap();
    assert_eq!(r["outcomes"][0]["outcome"], "error", "{r}");
    assert_eq!(r["outcomes"][0]["failure"], "malformed", "{r}");
    assert!(
        r["outcomes"][0]["error"]
            .as_str()
            .unwrap()
            .contains("both allow and deny"),
        "{r}"
    );
    assert_eq!(r["status"]["allowed"], false, "{r}");
    assert_eq!(r["outcomes"].as_array().unwrap().len(), 2, "{r}");
}

/// Row 12: module files the API server must not trust are load errors naming the module and the
/// file, before any byte is compiled: a file every user can write, a file in a directory every
/// user can write (without the sticky bit), something that is not a regular file (a FIFO would
/// block init). A symbolic link to a file that passes is followed (kubelet's volumes publish
/// files through links); a link to one that does not is refused like the file.
#[test]
fn row12_module_files_others_can_write_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir().join(format!("kubewasm-row12-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (good, open, sticky) = (base.join("good"), base.join("open"), base.join("sticky"));
    for (dir, mode) in [(&good, 0o755), (&open, 0o777), (&sticky, 0o1777)] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let fixture = fixtures().join("magic-authenticator.wasm");
    let copy = |dir: &PathBuf, name: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::copy(&fixture, &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let private = copy(&good, "private.wasm", 0o644);
    let everyone = copy(&good, "everyone.wasm", 0o666);
    let in_open_dir = copy(&open, "in-open-dir.wasm", 0o644);
    let in_sticky_dir = copy(&sticky, "in-sticky-dir.wasm", 0o644);
    let link_to_private = good.join("link-to-private.wasm");
    std::os::unix::fs::symlink(&private, &link_to_private).unwrap();
    let link_to_everyone = good.join("link-to-everyone.wasm");
    std::os::unix::fs::symlink(&everyone, &link_to_everyone).unwrap();
    let fifo = good.join("fifo.wasm");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());

    let loads = |path: &PathBuf| -> Result<(), AbiError> {
        let config = format!("modules:\n- name: m\n  module: {}\n", path.display());
        init(KUBEWASM_KIND_AUTHENTICATION, &config).map(|h| {
            let r = h.authenticate(&token_review("magic-token")).unwrap();
            assert_eq!(r["status"]["authenticated"], true, "{r}");
        })
    };
    for ok in [&private, &in_sticky_dir, &link_to_private] {
        loads(ok).unwrap_or_else(|e| panic!("{}: {e:?}", ok.display()));
    }
    let refused = [
        (&everyone, "writable by every user (mode 666)"),
        (&link_to_everyone, "writable by every user (mode 666)"),
        (
            &in_open_dir,
            "is writable by every user (mode 777), so anyone could replace it",
        ),
        (&fifo, "it is not a regular file"),
    ];
    for (path, want) in refused {
        let err = loads(path).expect_err(&path.display().to_string());
        assert_eq!(err.code, KUBEWASM_ERROR_LOAD, "{err:?}");
        for part in ["\"m\"", &path.display().to_string(), want] {
            assert!(
                err.message.contains(part),
                "want {part:?} in: {}",
                err.message
            );
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Row 3: bulk memory operations over a module's whole memory are bounded by its memory cap
/// (the memory cannot grow past it) and by its timeout (a loop of `memory.fill`/`memory.copy`
/// over 64 MiB is interrupted at a loop header like any loop). The process's resident memory
/// grows by at most the cap: measured in a child process of this test, so that the other tests'
/// allocations do not count.
#[test]
fn row03_bulk_memory_over_the_whole_cap_is_bounded() {
    const CHILD: &str = "KUBEWASM_TEST_BULK_MEMORY";
    const CAP: u64 = 64 << 20;
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "row03_bulk_memory_over_the_whole_cap_is_bounded",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "child: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // Grows to the cap (1023 more pages of 64 KiB; one page more is refused, the hostile-memory
    // fixture's case), then fills and copies the whole memory for ever.
    let path = module(
        "bulk-memory",
        r#"(module
  (memory (export "memory") 1)
  (func (export "authn")
    (if (i32.eq (memory.grow (i32.const 1023)) (i32.const -1)) (then unreachable))
    (loop $forever
      (memory.fill (i32.const 0) (i32.const 0xab) (i32.const 0x4000000))
      (memory.copy (i32.const 0) (i32.const 0x2000000) (i32.const 0x2000000))
      (br $forever))))"#,
    );
    let h = init(
        KUBEWASM_KIND_AUTHENTICATION,
        &format!(
            "modules:\n- name: bulk\n  module: {}\n  memoryLimit: 64Mi\n  timeout: 1s\n",
            path.display()
        ),
    )
    .unwrap();
    let before = resident_bytes();
    for _ in 0..3 {
        let started = Instant::now();
        let r = h.authenticate(&token_review("bulk-token")).unwrap();
        let took = started.elapsed();
        assert_eq!(r["status"]["authenticated"], false, "{r}");
        assert_eq!(r["outcomes"][0]["failure"], "timeout", "{r}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
    let grown = resident_bytes().saturating_sub(before);
    println!("row 3: resident memory grew by {} KiB", grown >> 10);
    assert!(
        grown <= CAP + (8 << 20),
        "resident memory grew by {grown} bytes, more than the 64 MiB cap"
    );
}

/// This process's resident memory (VmRSS), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}
