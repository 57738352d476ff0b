//! Start-up with and without precompiled modules: generates N distinct modules (the
//! magic-validator fixture with a custom section of a different name appended, so that each
//! has its own sha256 and is compiled and loaded as a module of its own), then measures, each in
//! a fresh child process, `Handle::new` of an admission configuration naming all of them, and
//! the resident memory it adds: first compiling every module, then with a `.cwasm` next to each.
//!
//!     cargo bench --bench precompiled [-- MODULES]      (default 50; `make bench-precompiled`)
//!
//! With `KUBEWASM_BENCH_DIR=DIR` the modules, their `.cwasm` and `admission.yaml` are written to
//! DIR (which must not exist yet) and kept (to time `bin/kubewasm check --kind admission DIR/admission.yaml`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kubewasm::runtime::precompiled;
use kubewasm::{Handle, Kind, Phase};

const CHILD: &str = "KUBEWASM_PRECOMPILED_BENCH_CHILD";

/// Resident memory of this process in KiB: (total, anonymous, file-backed).
fn rss() -> (u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

/// `name`'s bytes with an empty custom section called `section` appended.
fn with_custom_section(wasm: &[u8], section: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(section.len(), &mut payload);
    payload.extend_from_slice(section.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

fn config(n: usize) -> String {
    let mut c = String::from("modules:\n");
    for i in 0..n {
        c.push_str(&format!(
            "- name: v{i}\n  module: v{i}.wasm\n  rules:\n  - operations: [\"CREATE\"]\n    apiGroups: [\"\"]\n    apiVersions: [\"v1\"]\n    resources: [\"configmaps\"]\n"
        ));
    }
    c
}

/// The child: loads the configuration in `dir` and prints one line of numbers.
fn child(dir: &Path) {
    let n = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wasm")
        })
        .count();
    let t = Instant::now();
    kubewasm::runtime::engine().unwrap();
    let engine_ms = t.elapsed().as_secs_f64() * 1e3;
    let before = rss();
    let t = Instant::now();
    let h = Handle::new(Kind::Admission, config(n).as_bytes(), dir).unwrap();
    let init_ms = t.elapsed().as_secs_f64() * 1e3;
    let loaded = rss();
    let logs: serde_json::Value = serde_json::from_slice(h.modules_json()).unwrap();
    let precompiled = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("loaded precompiled")
        })
        .count();
    // One call through every module (a ConfigMap the validator accepts).
    let request = serde_json::json!({
        "uid": "u", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "operation": "CREATE", "namespace": "default", "name": "c",
        "userInfo": {"username": "admin"},
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    });
    let request = serde_json::to_vec(&request).unwrap();
    let ids: Vec<u32> = (0..n as u32).collect();
    let t = Instant::now();
    let result = h.admit(Phase::Validating, &ids, &request, 0).unwrap();
    let call_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        result.allowed,
        "the generated validators accept the ConfigMap"
    );
    let called = rss();
    println!(
        "{n} {precompiled} {engine_ms:.1} {init_ms:.1} {} {} {} {} {} {} {call_ms:.2}",
        loaded.0 - before.0,
        loaded.1 - before.1,
        loaded.2 - before.2,
        called.0 - before.0,
        called.1 - before.1,
        called.2 - before.2,
    );
}

fn run_child(dir: &Path) -> Vec<f64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

fn print(label: &str, v: &[f64]) {
    let n = v[0];
    println!(
        "{label:<22} {:>3}/{:<3} init {:>9.1} ms (engine {:>5.1} ms)   RSS +{:>7.0} KiB (anon +{:>6.0}, file +{:>6.0}) = {:>5.0} KiB/module;   after one call each: anon +{:>6.0} KiB, file +{:>6.0} KiB; {:.2} ms for the {} calls",
        v[1],
        n,
        v[3],
        v[2],
        v[4],
        v[5],
        v[6],
        v[4] / n,
        v[8],
        v[9],
        v[10],
        n
    );
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD) {
        child(Path::new(&dir));
        return;
    }
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/modules/magic-validator.wasm");
    let base = std::fs::read(&fixture).expect("run `make fixtures` first");
    let keep = std::env::var_os("KUBEWASM_BENCH_DIR").map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kubewasm-bench-precompiled-{}", std::process::id()))
    });
    assert!(
        !dir.exists(),
        "{} exists: give KUBEWASM_BENCH_DIR a new directory",
        dir.display()
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("admission.yaml"), config(n)).unwrap();
    for i in 0..n {
        let bytes = with_custom_section(&base, &format!("kubewasm-bench-{i}"));
        std::fs::write(dir.join(format!("v{i}.wasm")), bytes).unwrap();
    }
    println!(
        "{n} distinct modules of {} bytes (magic-validator + a custom section) in {}",
        base.len(),
        dir.display()
    );

    let compiled = run_child(&dir);
    print("compiling (.wasm)", &compiled);

    let t = Instant::now();
    let mut cwasm_bytes = 0;
    for i in 0..n {
        let out = precompiled::compile_file(&dir.join(format!("v{i}.wasm")), None).unwrap();
        cwasm_bytes += std::fs::metadata(out).unwrap().len();
    }
    println!(
        "kubewasm compile of {n} modules: {:.1} s, {} KiB of .cwasm ({} KiB each)",
        t.elapsed().as_secs_f64(),
        cwasm_bytes / 1024,
        cwasm_bytes / 1024 / n as u64
    );
    for _ in 0..3 {
        print("precompiled (.cwasm)", &run_child(&dir));
    }
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
