//! Giving a compiled Rego policy its own memory.
//!
//! `opa build -t wasm` modules import their linear memory (`env.memory`) and expect the host to
//! create it. A wasmtime memory belongs to one store, so an imported memory would rule out the
//! `InstancePre` every other module is instantiated from (and the pooling allocator's memory
//! slots). Instead the binary is rewritten once at load: the memory import is removed and the
//! same memory (same limits) is defined by the module and exported as [`MEMORY_EXPORT`]. Its
//! index stays 0 (imported memories come first, and the policy defines none), so no code
//! changes. Each call's fresh instance gets a fresh memory, as a host-created one would be.

/// The export name the defined memory gets.
pub const MEMORY_EXPORT: &str = "kubewasm:opa-memory";

const SECTION_IMPORT: u8 = 2;
const SECTION_MEMORY: u8 = 5;
const SECTION_EXPORT: u8 = 7;

/// Reads an unsigned LEB128 number at `*pos`, advancing it.
fn read_leb(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*pos)
            .ok_or("the module ends inside a number".to_string())?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("the module has an over-long number".into())
}

/// Appends `value` as unsigned LEB128.
fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let b = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Skips a name (length-prefixed bytes), returning it.
fn read_name<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let len = read_leb(bytes, pos)? as usize;
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or("the module ends inside a name")?;
    let name = &bytes[*pos..end];
    *pos = end;
    Ok(name)
}

/// Skips memory or table limits (flags, minimum, optional maximum).
fn skip_limits(bytes: &[u8], pos: &mut usize) -> Result<(), String> {
    let flags = *bytes.get(*pos).ok_or("the module ends inside limits")?;
    *pos += 1;
    read_leb(bytes, pos)?;
    if flags & 1 != 0 {
        read_leb(bytes, pos)?;
    }
    Ok(())
}

/// Skips one import description; `Ok(true)` when it is a memory.
fn skip_import_desc(bytes: &[u8], pos: &mut usize) -> Result<bool, String> {
    let kind = *bytes.get(*pos).ok_or("the module ends inside an import")?;
    *pos += 1;
    match kind {
        0x00 => read_leb(bytes, pos).map(|_| false),
        0x01 => {
            *pos += 1; // reference type (funcref or externref)
            skip_limits(bytes, pos).map(|_| false)
        }
        0x02 => skip_limits(bytes, pos).map(|_| true),
        0x03 => {
            *pos += 2; // value type and mutability
            Ok(false)
        }
        other => Err(format!(
            "the module has an import of unexpected kind {other:#x}"
        )),
    }
}

/// Rewrites a compiled Rego policy so that it defines and exports the memory it imports as
/// `env.memory`. A module importing no memory is returned as it is.
pub fn own_memory(wasm: &[u8]) -> Result<Vec<u8>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a WebAssembly module".into());
    }
    // (id, contents) of every section, in order.
    let mut sections: Vec<(u8, &[u8])> = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let len = read_leb(wasm, &mut pos)? as usize;
        let end = pos
            .checked_add(len)
            .filter(|e| *e <= wasm.len())
            .ok_or("the module ends inside a section")?;
        sections.push((id, &wasm[pos..end]));
        pos = end;
    }
    let Some(import_index) = sections.iter().position(|(id, _)| *id == SECTION_IMPORT) else {
        return Ok(wasm.to_vec());
    };
    let imports = sections[import_index].1;
    let mut p = 0;
    let count = read_leb(imports, &mut p)?;
    let mut kept = Vec::with_capacity(imports.len());
    let mut memory_type: Option<&[u8]> = None;
    for _ in 0..count {
        let start = p;
        let module = read_name(imports, &mut p)?;
        let field = read_name(imports, &mut p)?;
        let desc = p;
        if skip_import_desc(imports, &mut p)? {
            if module != b"env" || field != b"memory" {
                return Err(format!(
                    "the policy imports a memory other than env.memory ({}.{})",
                    String::from_utf8_lossy(module),
                    String::from_utf8_lossy(field)
                ));
            }
            // The limits, without the kind byte.
            memory_type = Some(&imports[desc + 1..p]);
        } else {
            kept.extend_from_slice(&imports[start..p]);
        }
    }
    if p != imports.len() {
        return Err("the module's import section has trailing bytes".into());
    }
    let Some(memory_type) = memory_type else {
        return Ok(wasm.to_vec());
    };
    if sections.iter().any(|(id, _)| *id == SECTION_MEMORY) {
        return Err("the policy both imports and defines memories".into());
    }
    let Some(export_index) = sections.iter().position(|(id, _)| *id == SECTION_EXPORT) else {
        return Err("the policy exports nothing".into());
    };

    let mut new_imports = Vec::with_capacity(kept.len() + 5);
    write_leb(&mut new_imports, count - 1);
    new_imports.extend_from_slice(&kept);

    let mut memory_section = vec![1u8];
    memory_section.extend_from_slice(memory_type);

    let exports = sections[export_index].1;
    let mut e = 0;
    let export_count = read_leb(exports, &mut e)?;
    let mut new_exports = Vec::with_capacity(exports.len() + 32);
    write_leb(&mut new_exports, export_count + 1);
    new_exports.extend_from_slice(&exports[e..]);
    write_leb(&mut new_exports, MEMORY_EXPORT.len() as u64);
    new_exports.extend_from_slice(MEMORY_EXPORT.as_bytes());
    new_exports.extend_from_slice(&[0x02, 0x00]);

    let mut out = Vec::with_capacity(wasm.len() + 64);
    out.extend_from_slice(&wasm[..8]);
    let push = |out: &mut Vec<u8>, id: u8, contents: &[u8]| {
        out.push(id);
        write_leb(out, contents.len() as u64);
        out.extend_from_slice(contents);
    };
    let mut memory_written = false;
    for (i, (id, contents)) in sections.iter().enumerate() {
        // The memory section goes after type, import, function and table sections (custom
        // sections in between stay where they are).
        if !memory_written && !matches!(id, 0..=4) {
            push(&mut out, SECTION_MEMORY, &memory_section);
            memory_written = true;
        }
        if i == import_index {
            push(&mut out, *id, &new_imports);
        } else if i == export_index {
            push(&mut out, *id, &new_exports);
        } else {
            push(&mut out, *id, contents);
        }
    }
    if !memory_written {
        push(&mut out, SECTION_MEMORY, &memory_section);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX >> 1] {
            let mut out = Vec::new();
            write_leb(&mut out, v);
            let mut pos = 0;
            assert_eq!(read_leb(&out, &mut pos).unwrap(), v);
            assert_eq!(pos, out.len());
        }
        assert!(read_leb(&[0x80], &mut 0).is_err());
    }

    #[test]
    fn imported_memory_becomes_own() {
        let wasm = wat::parse_str(
            r#"(module
                (import "env" "opa_abort" (func $abort (param i32)))
                (import "env" "memory" (memory 2))
                (table 1 funcref)
                (global (export "g") i32 (i32.const 7))
                (func (export "size") (result i32) (memory.size))
                (data (i32.const 0) "hi"))"#,
        )
        .unwrap();
        let rewritten = own_memory(&wasm).unwrap();
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &rewritten).unwrap();
        assert_eq!(module.imports().count(), 1);
        assert!(matches!(
            module.get_export(MEMORY_EXPORT),
            Some(wasmtime::ExternType::Memory(_))
        ));
        let mut store = wasmtime::Store::new(&engine, ());
        let mut linker = wasmtime::Linker::new(&engine);
        linker.func_wrap("env", "opa_abort", |_: i32| {}).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let size = instance
            .get_typed_func::<(), i32>(&mut store, "size")
            .unwrap();
        assert_eq!(size.call(&mut store, ()).unwrap(), 2);
        let memory = instance.get_memory(&mut store, MEMORY_EXPORT).unwrap();
        assert_eq!(&memory.data(&store)[..2], b"hi");
    }

    #[test]
    fn refuses_what_it_cannot_rewrite() {
        let cases = [
            (&b"nope"[..], "not a WebAssembly module"),
            (b"\0asm\x01\0\0\0\x02\x05", "ends inside a section"),
        ];
        for (wasm, want) in cases {
            assert!(own_memory(wasm).unwrap_err().contains(want), "{want}");
        }
        let other = wat::parse_str(r#"(module (import "x" "mem" (memory 1)) (func (export "f")))"#)
            .unwrap();
        assert!(own_memory(&other).unwrap_err().contains("x.mem"));
        let plain = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        assert_eq!(own_memory(&plain).unwrap(), plain);
    }
}
