//! Precompiled modules (`.cwasm`): `kubewasm compile` (C ABI `kubewasm_compile`) writes
//! `MODULE.cwasm` next to `MODULE.wasm`; when a configuration names `MODULE.wasm` and a valid
//! `MODULE.cwasm` sits next to it, init maps the compiled code from that file
//! (`Module::deserialize_open_file`, an mmap) instead of compiling the module with Cranelift.
//!
//! # File format
//!
//! A `.cwasm` is wasmtime's own serialized module (the ELF file `Engine::precompile_module`
//! produces) followed by a fixed-size kubewasm trailer of [`TRAILER_LEN`] bytes:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | format version, little-endian (`1`) |
//! | 4 | 4 | trailer length, little-endian (`120`) |
//! | 8 | 8 | length of wasmtime's artifact (everything before the trailer), little-endian |
//! | 16 | 32 | sha256 of the `.wasm` the artifact was compiled from |
//! | 48 | 32 | sha256 of `Engine::precompile_compatibility_hash()` of the compiling engine |
//! | 80 | 32 | sha256 of the artifact |
//! | 112 | 8 | magic `KUBEWASM` |
//!
//! A trailer rather than a sidecar file: one file is written atomically (temporary file and
//! rename) and cannot fall out of step with its metadata; ELF readers, wasmtime included, find
//! everything through offsets in the ELF header and ignore trailing bytes, so the file stays a
//! valid wasmtime `.cwasm` (`wasmtime run --allow-precompiled` still runs it).
//!
//! # Validity
//!
//! Deserializing is `unsafe` in wasmtime: the bytes become executable code. Before a `.cwasm`
//! reaches `deserialize_open_file` it must (in this order) be a regular file with a complete
//! trailer whose recorded length matches the file's, record the sha256 of the `.wasm` bytes just
//! read (after the digest pinned in the configuration was checked against them), record this
//! engine's compatibility hash (wasmtime version, Cranelift flags, the CPU features detected on
//! this machine, tunables such as epoch interruption), and hash to the artifact checksum it
//! records. wasmtime then checks its own header (version, target, flags, features) again. Any
//! failure is a note for the operator and the module is compiled as if the file were absent.
//! None of this protects against someone able to write the file: the checks catch mistakes
//! (stale, foreign, truncated, corrupted files), while the file's ownership and permissions must
//! keep others from writing it, exactly as for the `.wasm`.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::ops::Deref;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::log::{Level, LogLine};

/// The extension of a precompiled module: `MODULE.wasm` → `MODULE.cwasm`.
pub const EXTENSION: &str = "cwasm";
/// Version of the trailer format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the kubewasm trailer at the end of a `.cwasm`.
pub const TRAILER_LEN: usize = 120;
/// The last eight bytes of a kubewasm `.cwasm`.
const MAGIC: [u8; 8] = *b"KUBEWASM";
/// Bytes hashed per read when checking an artifact's checksum.
const CHUNK: usize = 256 << 10;

/// The metadata kubewasm appends to wasmtime's artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// Length of wasmtime's artifact, which precedes the trailer.
    pub artifact_len: u64,
    /// sha256 of the `.wasm` the artifact was compiled from.
    pub wasm_sha256: [u8; 32],
    /// [`engine_hash`] of the engine that compiled it.
    pub engine_hash: [u8; 32],
    /// sha256 of the artifact.
    pub artifact_sha256: [u8; 32],
}

impl Trailer {
    /// The trailer's bytes, as laid out in the module documentation.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut out = [0u8; TRAILER_LEN];
        out[0..4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[4..8].copy_from_slice(&(TRAILER_LEN as u32).to_le_bytes());
        out[8..16].copy_from_slice(&self.artifact_len.to_le_bytes());
        out[16..48].copy_from_slice(&self.wasm_sha256);
        out[48..80].copy_from_slice(&self.engine_hash);
        out[80..112].copy_from_slice(&self.artifact_sha256);
        out[112..120].copy_from_slice(&MAGIC);
        out
    }

    /// Parses the last [`TRAILER_LEN`] bytes of a file.
    pub fn decode(bytes: &[u8; TRAILER_LEN]) -> Result<Trailer, String> {
        if bytes[112..120] != MAGIC {
            return Err("it does not end with a kubewasm trailer: truncated, garbage, or not written by `kubewasm compile`".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let version = u32_at(0);
        if version != FORMAT_VERSION || u32_at(4) as usize != TRAILER_LEN {
            return Err(format!(
                "its trailer has format version {version}; this build reads version {FORMAT_VERSION}"
            ));
        }
        let digest = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().unwrap() };
        Ok(Trailer {
            artifact_len: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
            wasm_sha256: digest(16),
            engine_hash: digest(48),
            artifact_sha256: digest(80),
        })
    }
}

/// Feeds `Hash` input into sha256, so that a `Hash` value gets a stable 32-byte digest.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Unused: the digest is taken from the inner sha256 state.
    fn finish(&self) -> u64 {
        0
    }
}

/// sha256 of everything that makes compiled code from one engine usable by another: wasmtime's
/// `Engine::precompile_compatibility_hash` (wasmtime version, target, Cranelift and CPU flags,
/// tunables, wasm features).
pub fn engine_hash(engine: &Engine) -> [u8; 32] {
    let mut h = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().into()
}

/// sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `.cwasm` that belongs to a module file: same path, extension replaced.
pub fn path_for(wasm: &Path) -> PathBuf {
    wasm.with_extension(EXTENSION)
}

/// Compiles `wasm` with `engine` into the bytes of a `.cwasm` file (artifact and trailer).
pub fn precompile(engine: &Engine, wasm: &[u8]) -> Result<Vec<u8>, String> {
    if Engine::detect_precompiled(wasm).is_some() {
        return Err("it is already a precompiled module, not WebAssembly".into());
    }
    let mut out = engine
        .precompile_module(wasm)
        .map_err(|e| format!("not a valid WebAssembly module: {e}"))?;
    let trailer = Trailer {
        artifact_len: out.len() as u64,
        wasm_sha256: sha256(wasm),
        engine_hash: engine_hash(engine),
        artifact_sha256: sha256(&out),
    };
    out.extend_from_slice(&trailer.encode());
    Ok(out)
}

/// Compiles the module file `wasm` with the process engine (the one init uses) and writes the
/// result to `out`, or next to `wasm` when `out` is `None`, replacing an existing file
/// atomically. Returns the path written.
pub fn compile_file(wasm: &Path, out: Option<&Path>) -> Result<PathBuf, String> {
    let out = out.map_or_else(|| path_for(wasm), Path::to_path_buf);
    if out == wasm {
        return Err(format!(
            "{} would overwrite its own input; name the module *.wasm or give another output path",
            out.display()
        ));
    }
    let bytes = std::fs::read(wasm)
        .map_err(|e| format!("cannot read module file {}: {e}", wasm.display()))?;
    let engine = super::engine()?;
    let data = precompile(engine, &bytes).map_err(|e| format!("{}: {e}", wasm.display()))?;
    write_atomically(&out, &data)?;
    Ok(out)
}

/// Writes `data` to a temporary file next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

/// Looks for the `.cwasm` at `cwasm` for a module whose bytes hash to `wasm_sha256` and loads it
/// when it is valid for `engine`. `Ok(None)`: there is no such file. `Err`: the file exists
/// but is not usable, and why.
pub fn open(
    engine: &Engine,
    cwasm: &Path,
    wasm_sha256: &[u8; 32],
) -> Result<Option<Module>, String> {
    // Look before opening: opening a FIFO would block init.
    match std::fs::metadata(cwasm) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err("it is not a regular file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot stat it: {e}")),
    }
    let file = File::open(cwasm).map_err(|e| format!("cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    // Its bytes become executable code: a file anyone on the node can write is never mapped.
    check_not_writable_by_others(cwasm, &meta)?;
    let len = meta.len();
    if len < TRAILER_LEN as u64 {
        return Err(format!(
            "it is {len} bytes, too short for a kubewasm .cwasm (truncated or garbage)"
        ));
    }
    let mut raw = [0u8; TRAILER_LEN];
    file.read_exact_at(&mut raw, len - TRAILER_LEN as u64)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let trailer = Trailer::decode(&raw)?;
    if trailer.artifact_len.checked_add(TRAILER_LEN as u64) != Some(len) {
        return Err(format!(
            "its trailer records {} bytes of compiled code but the file has {} (truncated or spliced)",
            trailer.artifact_len,
            len - TRAILER_LEN as u64
        ));
    }
    if trailer.wasm_sha256 != *wasm_sha256 {
        return Err(format!(
            "it was compiled from another module (sha256 {}), not from this one (sha256 {})",
            hex(&trailer.wasm_sha256),
            hex(wasm_sha256)
        ));
    }
    if trailer.engine_hash != engine_hash(engine) {
        return Err("it is stale: compiled by another wasmtime version or engine configuration, or for another CPU; run `kubewasm compile` again with this build".into());
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK.min(trailer.artifact_len as usize)];
    let mut at = 0u64;
    while at < trailer.artifact_len {
        let n = CHUNK.min((trailer.artifact_len - at) as usize);
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| format!("cannot read it: {e}"))?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    if <[u8; 32]>::from(hasher.finalize()) != trailer.artifact_sha256 {
        return Err(
            "it is corrupted: its compiled code does not match the checksum in its trailer".into(),
        );
    }
    // SAFETY: wasmtime requires that the file hold an artifact it wrote and that it not change
    // while mapped. The trailer checks above establish that this file was written by
    // `precompile` for exactly this module with an engine of this configuration and was not
    // truncated or altered since (up to the integrity of the file, which the operator protects
    // like the .wasm: see docs/operator-guide.md); wasmtime checks its own header again.
    let module = unsafe { Module::deserialize_open_file(engine, file) }
        .map_err(|e| format!("wasmtime refused it: {e}"))?;
    Ok(Some(module))
}

/// Refuses a file (`meta`, symbolic links followed) that users other than its owner and group
/// can write, or that sits in a directory they can write without the sticky bit (they could
/// replace it by a rename). Symbolic links are followed, not refused: kubelet's projected and
/// ConfigMap volumes and most deployment tools publish files through them; what is checked is
/// the file and the directory they lead to.
fn check_not_writable_by_others(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    const OTHERS_WRITE: u32 = 0o002;
    const STICKY: u32 = 0o1000;
    let mode = meta.permissions().mode();
    if mode & OTHERS_WRITE != 0 {
        return Err(format!(
            "it is writable by every user (mode {:o}); remove that (chmod o-w)",
            mode & 0o7777
        ));
    }
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve its path: {e}"))?;
    if let Some(dir) = real.parent() {
        let dir_mode = std::fs::metadata(dir)
            .map_err(|e| format!("cannot stat its directory {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if dir_mode & OTHERS_WRITE != 0 && dir_mode & STICKY == 0 {
            return Err(format!(
                "its directory {} is writable by every user (mode {:o}), so anyone could replace it",
                dir.display(),
                dir_mode & 0o7777
            ));
        }
    }
    Ok(())
}

/// A module file read from disk: its bytes and digest, and the precompiled module found next
/// to it when that one is valid. Dereferences to the `.wasm` bytes.
pub struct ModuleFile {
    bytes: Vec<u8>,
    precompiled: Option<Module>,
    notes: Vec<(Level, String)>,
}

impl Deref for ModuleFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl ModuleFile {
    /// Reads the module at `path`, checks it against the `sha256` pinned in the configuration
    /// (if any), and loads `path`'s `.cwasm` when one is there and valid for `engine`. A `.cwasm`
    /// that is not valid is left aside with a warning note.
    pub fn read(engine: &Engine, path: &Path, pinned: Option<&str>) -> Result<Self, String> {
        // Look before reading: reading a FIFO would block init; a file others can write (or
        // replace) is code anyone on the node could swap in.
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read module file {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!(
                "cannot read module file {}: it is not a regular file",
                path.display()
            ));
        }
        check_not_writable_by_others(path, &meta)
            .map_err(|e| format!("refusing module file {}: {e}", path.display()))?;
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read module file {}: {e}", path.display()))?;
        let digest = sha256(&bytes);
        if let Some(expected) = pinned {
            let actual = hex(&digest);
            if actual != expected {
                return Err(format!(
                    "sha256 mismatch for {}: the file has {actual}, the configuration expects {expected}",
                    path.display()
                ));
            }
        }
        let mut file = ModuleFile {
            bytes,
            precompiled: None,
            notes: Vec::new(),
        };
        let cwasm = path_for(path);
        if cwasm == path {
            return Ok(file);
        }
        let started = Instant::now();
        match open(engine, &cwasm, &digest) {
            Ok(None) => {}
            Ok(Some(module)) => {
                file.notes.push((
                    Level::Info,
                    format!(
                        "loaded precompiled {} in {:.1} ms instead of compiling {}",
                        cwasm.display(),
                        started.elapsed().as_secs_f64() * 1e3,
                        path.display()
                    ),
                ));
                file.precompiled = Some(module);
            }
            Err(reason) => file.notes.push((
                Level::Warning,
                format!(
                    "ignoring precompiled {}: {reason}; compiling {} instead",
                    cwasm.display(),
                    path.display()
                ),
            )),
        }
        Ok(file)
    }

    /// A module from bytes made in memory (no file, no `.cwasm`): a rewritten binary.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        ModuleFile {
            bytes,
            precompiled: None,
            notes: Vec::new(),
        }
    }

    /// The module compiled from a valid `.cwasm`, if one was found.
    pub fn precompiled(&self) -> Option<&Module> {
        self.precompiled.as_ref()
    }

    /// The module: the precompiled one, or the bytes compiled now.
    pub fn module(&self, engine: &Engine) -> Result<Module, String> {
        match &self.precompiled {
            Some(m) => Ok(m.clone()),
            None => Module::new(engine, &self.bytes)
                .map_err(|e| format!("not a valid WebAssembly module: {e}")),
        }
    }

    /// What happened to the `.cwasm`, as log lines about `module` (a module name).
    pub fn notes(&self, module: &str) -> Vec<LogLine> {
        self.notes
            .iter()
            .map(|(level, message)| LogLine {
                level: *level,
                module: module.to_string(),
                message: message.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trips_and_rejects_garbage() {
        let t = Trailer {
            artifact_len: 12345,
            wasm_sha256: [1; 32],
            engine_hash: [2; 32],
            artifact_sha256: [3; 32],
        };
        assert_eq!(Trailer::decode(&t.encode()).unwrap(), t);
        let mut bad = t.encode();
        bad[119] ^= 1;
        assert!(Trailer::decode(&bad).unwrap_err().contains("trailer"));
        let mut future = t.encode();
        future[0] = 2;
        assert!(Trailer::decode(&future).unwrap_err().contains("version 2"));
    }

    #[test]
    fn cwasm_path_replaces_the_extension() {
        assert_eq!(path_for(Path::new("/m/a.wasm")), Path::new("/m/a.cwasm"));
        assert_eq!(path_for(Path::new("/m/a")), Path::new("/m/a.cwasm"));
    }
}
