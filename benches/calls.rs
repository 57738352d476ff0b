//! Per-call latency of the library through its public Rust API (the C ABI adds one copy of the
//! result). `make bench` runs it; it prints the median and p99 of many calls per case, and the
//! time to init a configuration of four modules.
//!
//!     cargo bench --bench calls [-- ITERATIONS]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubewasm::{Handle, Kind, Phase};

fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/modules");
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

fn measure(name: &str, n: usize, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let samples = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    report(name, samples);
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = fixtures();
    let four = "modules:\n- {module: magic-mutator.wasm, mutating: true}\n- {module: magic-validator.wasm}\n- {module: json-patch-mutator.wasm, mutating: true}\n- {module: settings-admitter.wasm}\n";
    let inits: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            Handle::new(Kind::Admission, four.as_bytes(), &dir).unwrap();
            t.elapsed()
        })
        .collect();
    report("init: admission config of 4 wasi modules", inits);
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
    measure("admit: magic-validator (wasi), ConfigMap", n, || {
        let r = admission
            .admit(Phase::Validating, &[1], &request, 0)
            .unwrap();
        assert!(r.allowed);
    });
    measure("admit: magic-mutator (wasi, Full patch)", n, || {
        let r = admission.admit(Phase::Mutating, &[0], &request, 0).unwrap();
        assert!(r.patch.is_some());
    });
    if let Ok(kw) = Handle::new(Kind::Admission, safe.as_bytes(), &dir) {
        measure("admit: safe-annotations (kubewarden)", n, || {
            let r = kw.admit(Phase::Validating, &[0], &request, 0).unwrap();
            assert!(r.allowed, "{:?}", r.status);
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
