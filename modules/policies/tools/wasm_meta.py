#!/usr/bin/env python3
"""Inspect a wasm module and add Kubewarden metadata to it, without kwctl.

  wasm_meta.py inspect FILE.wasm [--json]
      imports, exports, custom sections and the io.kubewarden.metadata JSON, if any.
  wasm_meta.py annotate IN.wasm OUT.wasm [--metadata JSON | --metadata-file F] [--mutating]
      copies IN to OUT with a custom section "io.kubewarden.metadata" appended
      (an existing one is dropped). The default metadata is what `kwctl annotate`
      writes for a waPC policy: protocolVersion v1, executionMode kubewarden-wapc,
      rules for every resource on CREATE and UPDATE, mutating false.

Standard library only. The section layout is the core wasm binary format:
magic, version, then sections (id byte, LEB128 size, payload); a custom
section (id 0) starts with a LEB128-length-prefixed UTF-8 name.
"""
import argparse
import json
import sys

MAGIC = b"\0asm\x01\0\0\0"
SECTION_NAME = "io.kubewarden.metadata"
KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def leb_u32(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def enc_u32(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def name(data, pos):
    n, pos = leb_u32(data, pos)
    return data[pos:pos + n].decode("utf-8"), pos + n


def sections(data):
    """Yields (id, start, end, payload_start) for every section."""
    if data[:8] != MAGIC:
        raise ValueError("not a wasm core module (bad magic or version)")
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, payload = leb_u32(data, pos + 1)
        yield sid, pos, payload + size, payload
        pos = payload + size


def func_types(data, pos):
    types = []
    count, pos = leb_u32(data, pos)
    for _ in range(count):
        if data[pos] != 0x60:
            raise ValueError("unsupported type form %#x" % data[pos])
        pos += 1
        sig = []
        for _ in range(2):
            n, pos = leb_u32(data, pos)
            sig.append([{0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64"}.get(b, hex(b)) for b in data[pos:pos + n]])
            pos += n
        types.append("(%s) -> (%s)" % (", ".join(sig[0]), ", ".join(sig[1])))
    return types


def inspect(data):
    info = {"imports": [], "exports": [], "custom_sections": [], "metadata": None}
    types, imports_at = [], None
    for sid, _start, end, payload in sections(data):
        if sid == 0:
            sname, body = name(data, payload)
            info["custom_sections"].append({"name": sname, "size": end - body})
            if sname == SECTION_NAME:
                info["metadata"] = json.loads(data[body:end])
        elif sid == 1:
            types = func_types(data, payload)
        elif sid == 2:
            imports_at = payload
        elif sid == 7:
            count, pos = leb_u32(data, payload)
            for _ in range(count):
                ename, pos = name(data, pos)
                kind = data[pos]
                _index, pos = leb_u32(data, pos + 1)
                info["exports"].append({"name": ename, "kind": KINDS.get(kind, kind)})
    if imports_at is not None:
        count, pos = leb_u32(data, imports_at)
        for _ in range(count):
            module, pos = name(data, pos)
            field, pos = name(data, pos)
            kind = data[pos]
            pos += 1
            entry = {"module": module, "name": field, "kind": KINDS.get(kind, kind)}
            if kind == 0:
                index, pos = leb_u32(data, pos)
                entry["type"] = types[index] if index < len(types) else index
            elif kind == 1:
                pos += 1
                flags, pos = leb_u32(data, pos)
                _, pos = leb_u32(data, pos)
                if flags & 1:
                    _, pos = leb_u32(data, pos)
            elif kind == 2:
                flags, pos = leb_u32(data, pos)
                _, pos = leb_u32(data, pos)
                if flags & 1:
                    _, pos = leb_u32(data, pos)
            elif kind == 3:
                pos += 2
            else:
                raise ValueError("unsupported import kind %d" % kind)
            info["imports"].append(entry)
    return info


def default_metadata(mutating):
    return {
        "protocolVersion": "v1",
        "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"],
                   "operations": ["CREATE", "UPDATE"]}],
        "annotations": {},
        "mutating": mutating,
        "backgroundAudit": True,
        "contextAwareResources": [],
        "executionMode": "kubewarden-wapc",
        "policyType": "kubernetes",
    }


def annotate(data, metadata):
    out = bytearray(data[:8])
    for sid, start, end, payload in sections(data):
        if sid == 0 and name(data, payload)[0] == SECTION_NAME:
            continue
        out += data[start:end]
    body = enc_u32(len(SECTION_NAME)) + SECTION_NAME.encode() + json.dumps(metadata, separators=(",", ":")).encode()
    out += b"\0" + enc_u32(len(body)) + body
    return bytes(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("inspect")
    p.add_argument("wasm")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("annotate")
    p.add_argument("wasm")
    p.add_argument("out")
    p.add_argument("--metadata", help="metadata JSON (replaces the default)")
    p.add_argument("--metadata-file")
    p.add_argument("--mutating", action="store_true", help="default metadata with mutating: true")
    args = parser.parse_args()

    with open(args.wasm, "rb") as f:
        data = f.read()
    if args.cmd == "inspect":
        info = inspect(data)
        if args.json:
            json.dump(info, sys.stdout, indent=2)
            print()
            return
        print("%s: %d bytes" % (args.wasm, len(data)))
        for i in info["imports"]:
            print("  import %s.%s %s %s" % (i["module"], i["name"], i["kind"], i.get("type", "")))
        for e in info["exports"]:
            print("  export %s %s" % (e["name"], e["kind"]))
        for c in info["custom_sections"]:
            print("  custom %s (%d bytes)" % (c["name"], c["size"]))
        if info["metadata"] is not None:
            print("  metadata " + json.dumps(info["metadata"]))
        return
    if args.metadata_file:
        with open(args.metadata_file) as f:
            metadata = json.load(f)
    elif args.metadata:
        metadata = json.loads(args.metadata)
    else:
        metadata = default_metadata(args.mutating)
    result = annotate(data, metadata)
    assert inspect(result)["metadata"] == metadata
    with open(args.out, "wb") as f:
        f.write(result)


if __name__ == "__main__":
    main()
