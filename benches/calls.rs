//! Per-call latency of the library through its public Rust API (the C ABI adds one copy of the
//! result). `make bench` runs it; it prints the median and p99 of many calls per case, the time
//! to init a configuration of four modules, and the validator's throughput on two threads. The
//! `floor-validator` case is the host's mechanism alone: a module that does not parse its input.
//!
//!     cargo bench --bench calls [-- ITERATIONS]
//!
//! Environment: `KUBEWASM_MODULES=DIR` takes the modules from DIR instead of `build/modules`
//! (to compare two builds of the same modules with one library); `KUBEWASM_BENCH_SWEEP=MIB`
//! writes MIB mebibytes between two calls, outside the timed part, to measure the calls with
//! the caches as cold as they are inside kube-apiserver, where other work runs between two
//! admission calls (docs/performance.md); `KUBEWASM_BENCH_CASES=TEXT` runs only the cases
//! whose name contains TEXT (e.g. to profile one of them); `KUBEWASM_BENCH_GAP_US=N` sleeps N µs
//! between two timed calls, as admission calls are spaced inside kube-apiserver (where the gaps
//! leave the library's recycle thread, turned on by `KUBEWASM_RECYCLE=1`, time to work).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubewasm::{Handle, Kind, Phase};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("KUBEWASM_MODULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/modules"),
        PathBuf::from,
    );
    assert!(
        dir.join("magic-validator.wasm").exists(),
        "run `make fixtures` first"
    );
    dir
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:<44} n={:<6} median {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e6,
        pick(0.9).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6
    );
}

/// A buffer written between two timed calls when `KUBEWASM_BENCH_SWEEP` asks for one.
struct Sweep(Vec<u8>);

impl Sweep {
    fn from_env() -> Sweep {
        let mib: usize = std::env::var("KUBEWASM_BENCH_SWEEP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Sweep(vec![0; mib << 20])
    }

    /// Touches every cache line of the buffer, evicting what the last call left in the caches.
    fn run(&mut self, round: usize) {
        for line in self.0.chunks_mut(64) {
            line[0] = line[0].wrapping_add(round as u8);
        }
        std::hint::black_box(&self.0);
    }
}

/// Whether `KUBEWASM_BENCH_CASES` selects the case `name`.
fn selected(name: &str) -> bool {
    std::env::var("KUBEWASM_BENCH_CASES").map_or(true, |only| name.contains(&only))
}

fn measure(name: &str, n: usize, mut f: impl FnMut()) {
    if !selected(name) {
        return;
    }
    let mut sweep = Sweep::from_env();
    let gap = Duration::from_micros(
        std::env::var("KUBEWASM_BENCH_GAP_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    for _ in 0..n / 10 {
        f();
    }
    let samples = (0..n)
        .map(|round| {
            sweep.run(round);
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    let mut name = match sweep.0.len() >> 20 {
        0 => name.to_owned(),
        mib => format!("{name}, {mib} MiB swept"),
    };
    if !gap.is_zero() {
        name = format!("{name}, {} µs apart", gap.as_micros());
    }
    report(&name, samples);
}

/// Calls per second of `threads` threads calling `f` for `secs` seconds.
fn throughput(name: &str, threads: usize, secs: f64, f: impl Fn() + Sync) {
    if !selected(name) {
        return;
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let calls: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut calls = 0;
                    while Instant::now() < until {
                        f();
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!(
        "{name:<44} {threads} threads: {:.0} calls/s",
        calls as f64 / started.elapsed().as_secs_f64()
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = fixtures();
    let four = "modules:\n- {module: magic-mutator.wasm, mutating: true}\n- {module: magic-validator.wasm}\n- {module: json-patch-mutator.wasm, mutating: true}\n- {module: settings-admitter.wasm}\n";
    let init = "init: admission config of 4 wasi modules";
    if selected(init) {
        let inits: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                Handle::new(Kind::Admission, four.as_bytes(), &dir).unwrap();
                t.elapsed()
            })
            .collect();
        report(init, inits);
    }
    let safe = "modules:\n- {name: safe-annotations, type: kubewarden, module: safe-annotations.wasm, settings: {mandatory_annotations: [puzzle.ch/owner]}}\n";

    let admission = Handle::new(Kind::Admission, four.as_bytes(), &dir).unwrap();
    let request = serde_json::to_vec(&serde_json::json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "name": "cm", "namespace": "default", "operation": "CREATE",
        "userInfo": {"username": "admin", "groups": ["system:masters", "system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default", "annotations": {"puzzle.ch/owner": "me"}},
                   "data": {"key": "value", "other": "something longer than the first"}},
        "oldObject": null, "dryRun": false
    }))
    .unwrap();
    let validate = || {
        let r = admission
            .admit(Phase::Validating, &[1], &request, 0)
            .unwrap();
        assert!(r.allowed);
    };
    measure("admit: magic-validator (wasi), ConfigMap", n, validate);
    throughput("admit: magic-validator (wasi), ConfigMap", 1, 2.0, validate);
    throughput("admit: magic-validator (wasi), ConfigMap", 2, 2.0, validate);
    // The host's mechanism alone: a module that does not parse its input (floor-validator).
    let floor = Handle::new(
        Kind::Admission,
        b"modules:\n- module: floor-validator.wasm\n",
        &dir,
    )
    .unwrap();
    measure("admit: floor-validator (wasi), ConfigMap", n, || {
        let r = floor.admit(Phase::Validating, &[0], &request, 0).unwrap();
        assert!(r.allowed, "{:?}", r.error);
    });
    measure("admit: magic-mutator (wasi, Full patch)", n, || {
        let r = admission.admit(Phase::Mutating, &[0], &request, 0).unwrap();
        assert!(r.patch.is_some());
    });
    if let Ok(kw) = Handle::new(Kind::Admission, safe.as_bytes(), &dir) {
        measure("admit: safe-annotations (kubewarden)", n, || {
            let r = kw.admit(Phase::Validating, &[0], &request, 0).unwrap();
            assert!(r.allowed, "{:?}", r.error);
        });
    }
    let authn = Handle::new(
        Kind::Authentication,
        b"modules:\n- module: magic-authenticator.wasm\n",
        &dir,
    )
    .unwrap();
    let review = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}"#;
    measure("authenticate: magic-authenticator", n, || {
        authn.authenticate(review, 0).unwrap();
    });
    let authz = Handle::new(
        Kind::Authorization,
        b"modules:\n- module: magic-authorizer.wasm\n",
        &dir,
    )
    .unwrap();
    let sar = br#"{"spec":{"user":"magic-user","groups":["magic-group"],"resourceAttributes":{"verb":"list","version":"v1","resource":"configmaps"}}}"#;
    measure("authorize: magic-authorizer", n, || {
        authz.authorize(sar, 0).unwrap();
    });
    println!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );
}
