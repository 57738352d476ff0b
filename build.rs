//! Generates the C header with cbindgen into `$OUT_DIR/kubewasm.h`: the functions and handles of
//! `src/ffi.rs`, and the ABI numbers from the `#[repr(u32)]` enums that define them (`ErrorCode`
//! in `src/error.rs`, `Kind` in `src/config.rs`, `Phase` in `src/admission/mod.rs`). The
//! committed `include/kubewasm.h` must match it: `make header` copies it, and `make
//! check-header` (run by `make` and `make test`) fails when they differ.

use std::path::PathBuf;

fn main() {
    const SOURCES: [&str; 4] = [
        "src/ffi.rs",
        "src/error.rs",
        "src/config.rs",
        "src/admission/mod.rs",
    ];
    for src in SOURCES {
        println!("cargo:rerun-if-changed={src}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("kubewasm.h");
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut builder = cbindgen::Builder::new().with_config(config);
    for src in SOURCES {
        builder = builder.with_src(crate_dir.join(src));
    }
    let bindings = builder.generate().expect("cannot generate the C header");
    // cbindgen also exports the public constants of the enums' files; only `KUBEWASM_*` names
    // belong in the header (cbindgen.toml excludes the others by name).
    let mut header = Vec::new();
    bindings.write(&mut header);
    let header = String::from_utf8(header).expect("the header is UTF-8");
    for line in header.lines() {
        if let Some(name) = line.strip_prefix("#define ") {
            assert!(
                name.starts_with("KUBEWASM_"),
                "the generated header defines `{name}`: add it to [export] exclude in cbindgen.toml"
            );
        }
    }
    std::fs::write(&out, header).expect("cannot write the C header");
}
