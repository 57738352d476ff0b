//! Soak: many calls mixing good and hostile fixture modules from several threads through the
//! public Rust API, sampling the process's resident memory (VmRSS), open file descriptors and
//! threads as the calls go. `make soak` runs a million calls; `make test` a short run with
//! `--check`, which fails when, after warm-up, resident memory, descriptors or threads grow past
//! a generous bound of the warm-up value (a leak check, not a timing assertion), or when a call's
//! outcome is not the one its module must produce.
//!
//!     cargo bench --bench soak -- [--calls N] [--threads T] [--samples S] [--check]
//!
//! Every call's outcome is checked: good modules answer (authenticated, allowed, mutated,
//! rejected as their fixture does); hostile ones are failed calls that follow failurePolicy.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kubewasm::{Handle, Kind, Phase};

/// One measurement of the process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    calls: u64,
    seconds: f64,
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

/// A field of /proc/self/status (`VmRSS`, `Threads`), as a number (kB for sizes).
fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn sample(calls: u64, started: Instant) -> Sample {
    Sample {
        calls,
        seconds: started.elapsed().as_secs_f64(),
        rss_kib: status_field("VmRSS"),
        // The directory handle read_dir opens is one of the entries; it is not counted.
        fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64 - 1),
        threads: status_field("Threads"),
    }
}

/// The command line: `--calls N`, `--threads T`, `--samples S`, `--check`.
struct Options {
    calls: u64,
    threads: usize,
    samples: u64,
    check: bool,
}

fn options() -> Options {
    let mut o = Options {
        calls: 1_000_000,
        threads: 8,
        samples: 20,
        check: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || -> u64 {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} needs a number", args[i]))
        };
        match args[i].as_str() {
            "--calls" => o.calls = value(),
            "--threads" => o.threads = value() as usize,
            "--samples" => o.samples = value().max(2),
            "--check" => {
                o.check = true;
                i += 1;
                continue;
            }
            // `cargo bench` passes --bench to every bench binary.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

struct Handles {
    /// The hostile authenticators, then magic-authenticator.
    authn: Handle,
    /// magic-authenticator alone.
    magic_authn: Handle,
    authz: Handle,
    admission: Handle,
}

const HOSTILE: [&str; 7] = [
    "hostile-trap",
    "hostile-loop",
    "hostile-memory",
    "hostile-stack",
    "hostile-output",
    "hostile-garbage",
    "hostile-exit",
];

fn handles(dir: &std::path::Path) -> Handles {
    // Hostile modules run with a short timeout and a small memory limit; the admission handle
    // has both failure policies. Module ids: 0 magic-mutator, 1 json-patch-mutator, 2
    // magic-validator, then 3.. the hostile modules with Fail, then 10.. with Ignore.
    let mut admission = String::from(
        "modules:\n\
         - {name: magic-mutator, module: magic-mutator.wasm, mutating: true}\n\
         - {name: json-patch, module: json-patch-mutator.wasm, mutating: true, settings: {labels: {soak: x}}}\n\
         - {name: magic-validator, module: magic-validator.wasm}\n",
    );
    for policy in ["Fail", "Ignore"] {
        for h in HOSTILE {
            admission.push_str(&format!(
                "- {{name: {h}-{policy}, module: {h}.wasm, failurePolicy: {policy}, timeout: 5ms, memoryLimit: 16Mi}}\n"
            ));
        }
    }
    let mut authn = String::from("modules:\n");
    for h in HOSTILE {
        authn.push_str(&format!(
            "- {{name: {h}, module: {h}.wasm, timeout: 5ms, memoryLimit: 16Mi}}\n"
        ));
    }
    authn.push_str("- {name: magic, module: magic-authenticator.wasm}\n");
    let load = |kind, config: &str| {
        Handle::new(kind, config.as_bytes(), dir)
            .unwrap_or_else(|e| panic!("{kind:?} configuration: {}", e.message))
    };
    Handles {
        authn: load(Kind::Authentication, &authn),
        magic_authn: load(
            Kind::Authentication,
            "modules:\n- {name: magic, module: magic-authenticator.wasm}\n",
        ),
        authz: load(
            Kind::Authorization,
            "modules:\n- {name: magic, module: magic-authorizer.wasm}\n",
        ),
        admission: load(Kind::Admission, &admission),
    }
}

const TOKEN_REVIEW: &[u8] = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}"#;
const SAR: &[u8] = br#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"magic-user","groups":["magic-group"],"resourceAttributes":{"namespace":"default","verb":"create","version":"v1","resource":"configmaps"}}}"#;
const CONFIGMAP: &[u8] = br#"{"uid":"soak","kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},"namespace":"default","name":"magic","operation":"CREATE","userInfo":{"username":"magic-user"},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"magic","namespace":"default"},"data":{"a":"1"}}}"#;
const REJECTED: &[u8] = br#"{"uid":"soak","kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},"namespace":"default","name":"magic","operation":"CREATE","userInfo":{"username":"magic-user"},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"magic","namespace":"default"},"data":{"not-allowed-value":"1"}}}"#;

/// Call `i` of the mix; returns an error text when the outcome is wrong. Four calls in 100 go to
/// a hostile admission module (each of the 14 in turn: 7 hostilities x 2 failure policies; the
/// cost of each is bounded by its 5 ms timeout or 16 MiB memory limit), one in 1000 through all
/// seven hostile authenticators before the good one, the rest to the magic modules.
fn call(h: &Handles, i: u64) -> Result<(), String> {
    let slot = i % 100;
    let hostile = HOSTILE.len() as u64;
    match slot {
        // Hostile admission modules: Fail stops the request, Ignore lets it through.
        0..=3 => {
            let which = (i / 100) % (2 * hostile);
            let id = 3 + which as u32;
            let r = h
                .admission
                .admit(Phase::Validating, &[id], CONFIGMAP, 0)
                .map_err(|e| e.message)?;
            let fail = which < hostile;
            if fail && (r.allowed || r.error.is_none()) {
                return Err(format!("module {id} (Fail) did not fail the request"));
            }
            if !fail && !r.allowed {
                return Err(format!("module {id} (Ignore) stopped the request"));
            }
            Ok(())
        }
        // The hostile authenticators first, then the good one: the good one decides.
        4 if (i / 100).is_multiple_of(10) => {
            let r = h
                .authn
                .authenticate(TOKEN_REVIEW, 0)
                .map_err(|e| e.message)?;
            (r.status.authenticated == Some(true)
                && r.module.as_deref() == Some("magic")
                && r.report.outcomes.len() == HOSTILE.len() + 1)
                .then_some(())
                .ok_or_else(|| format!("authentication after the hostile modules: {:?}", r.status))
        }
        4..=14 => {
            let r = h
                .magic_authn
                .authenticate(TOKEN_REVIEW, 0)
                .map_err(|e| e.message)?;
            (r.status.authenticated == Some(true))
                .then_some(())
                .ok_or_else(|| format!("magic-token was not authenticated: {:?}", r.status))
        }
        15..=29 => {
            let r = h.authz.authorize(SAR, 0).map_err(|e| e.message)?;
            r.status
                .allowed
                .then_some(())
                .ok_or("magic-user was not authorized".into())
        }
        30..=59 => {
            let r = h
                .admission
                .admit(Phase::Mutating, &[0, 1], CONFIGMAP, 0)
                .map_err(|e| e.message)?;
            (r.allowed && r.patch.is_some())
                .then_some(())
                .ok_or_else(|| format!("the mutators did not mutate: {:?}", r.error))
        }
        60..=89 => {
            let r = h
                .admission
                .admit(Phase::Validating, &[2], CONFIGMAP, 0)
                .map_err(|e| e.message)?;
            r.allowed
                .then_some(())
                .ok_or_else(|| format!("magic-validator rejected a good ConfigMap: {:?}", r.status))
        }
        _ => {
            let r = h
                .admission
                .admit(Phase::Validating, &[2], REJECTED, 0)
                .map_err(|e| e.message)?;
            (!r.allowed && r.status.is_some_and(|s| s.code == 403))
                .then_some(())
                .ok_or("magic-validator allowed not-allowed-value".into())
        }
    }
}

fn main() {
    let o = options();
    let dir = std::env::var_os("KUBEWASM_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/modules"));
    assert!(
        dir.join("hostile-loop.wasm").exists(),
        "fixture modules are missing in {}: run `make fixtures`",
        dir.display()
    );
    let started = Instant::now();
    let before = sample(0, started);
    let h = Arc::new(handles(&dir));
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    println!(
        "soak: {} calls from {} threads, fixtures in {}",
        o.calls,
        o.threads,
        dir.display()
    );
    println!(
        "before loading: rss {} KiB, fds {}, threads {}",
        before.rss_kib, before.fds, before.threads
    );
    let sampler = {
        let (done, finished) = (done.clone(), finished.clone());
        let step = (o.calls / o.samples).max(1);
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut at = 0;
            println!(
                "{:>10} {:>8} {:>10} {:>5} {:>7}",
                "calls", "seconds", "rss_kib", "fds", "threads"
            );
            loop {
                let n = done.load(Ordering::Relaxed);
                if n >= at {
                    let s = sample(n, started);
                    println!(
                        "{:>10} {:>8.1} {:>10} {:>5} {:>7}",
                        s.calls, s.seconds, s.rss_kib, s.fds, s.threads
                    );
                    samples.push(s);
                    at += step;
                }
                if finished.load(Ordering::Relaxed) {
                    return samples;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let workers: Vec<_> = (0..o.threads)
        .map(|_| {
            let (h, next, done, errors) = (h.clone(), next.clone(), done.clone(), errors.clone());
            let calls = o.calls;
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return;
                    }
                    if let Err(e) = call(&h, i)
                        && errors.fetch_add(1, Ordering::Relaxed) < 10
                    {
                        eprintln!("call {i}: {e}");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker panicked");
    }
    let elapsed = started.elapsed();
    finished.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("the sampler panicked");
    let after = sample(o.calls, started);
    drop(h);
    let freed = sample(o.calls, started);
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "after the calls: rss {} KiB, fds {}, threads {} (workers joined); handles freed: rss {} KiB, fds {}, threads {}",
        after.rss_kib, after.fds, after.threads, freed.rss_kib, freed.fds, freed.threads
    );
    println!(
        "{} calls in {:.1} s ({:.0} calls/s), {} wrong outcomes",
        o.calls,
        elapsed.as_secs_f64(),
        o.calls as f64 / elapsed.as_secs_f64(),
        errors
    );
    let mut failures = Vec::new();
    if errors > 0 {
        failures.push(format!("{errors} calls had the wrong outcome"));
    }
    if o.check {
        // Warm-up: the first fifth of the calls. Resident memory keeps growing for a while
        // after it (measured: up to about 100k calls, then flat near 390 MB): the pooling
        // allocator keeps up to 64 unused instance slots warm, each with up to 4 MiB of its
        // memory resident (runtime/mod.rs), and the malloc arenas of the 8 threads keep the
        // hostile modules' 8 MiB output buffers. Bounds: resident memory twice the warm-up value
        // or +256 MiB, whichever is larger (a leak of a few KiB per call still crosses it);
        // descriptors +8; threads +2 (the workers run throughout).
        let warm = samples
            .iter()
            .find(|s| s.calls >= o.calls / 5)
            .copied()
            .unwrap_or(samples[0]);
        for s in samples.iter().filter(|s| s.calls > warm.calls) {
            let rss_bound = (warm.rss_kib * 2).max(warm.rss_kib + (256 << 10));
            if s.rss_kib > rss_bound {
                failures.push(format!(
                    "rss {} KiB at {} calls > {rss_bound} KiB (warm-up {} KiB)",
                    s.rss_kib, s.calls, warm.rss_kib
                ));
            }
            if s.fds > warm.fds + 8 {
                failures.push(format!(
                    "{} fds at {} calls (warm-up {})",
                    s.fds, s.calls, warm.fds
                ));
            }
            if s.threads > warm.threads + 2 {
                failures.push(format!(
                    "{} threads at {} calls (warm-up {})",
                    s.threads, s.calls, warm.threads
                ));
            }
        }
        if freed.fds > warm.fds {
            failures.push(format!(
                "{} fds after freeing the handles (warm-up {})",
                freed.fds, warm.fds
            ));
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("soak: {f}");
        }
        std::process::exit(1);
    }
    println!("soak: ok");
}
