//! Generates the C header from `src/ffi.rs` with cbindgen into `$OUT_DIR/kubewasm.h`. The
//! committed `include/kubewasm.h` must match it: `make header` copies it, and the test
//! `tests/header.rs` (run by `make test`) fails when they differ.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("kubewasm.h");
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi.rs"))
        .generate()
        .expect("cannot generate the C header")
        .write_to_file(&out);
}
