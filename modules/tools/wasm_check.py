#!/usr/bin/env python3
"""Static check of the fixture modules (Python standard library only).

For every build/modules/<name>.wasm listed in EXPECTED: the module exports a linear
memory named `memory` and each entry point it should (`authn`, `authz`, `validate`) as a
function of type () -> (); it has no start section; every import is a function from
`wasi_snapshot_preview1` in the set the kubewasm host implements. Prints one line per
module (size, exports, imports) and exits non-zero on the first problem found.

Usage: python3 modules/tools/wasm_check.py [DIR]   (DIR defaults to build/modules)
"""

import os
import sys

ALL = ("authn", "authz", "validate")
EXPECTED = {
    "magic-authenticator": ("authn",),
    "magic-authorizer": ("authz",),
    "magic-mutator": ("validate",),
    "magic-validator": ("validate",),
    "floor-validator": ("validate",),
    "json-patch-mutator": ("validate",),
    "settings-authenticator": ("authn",),
    "settings-admitter": ("validate",),
    "hostile-loop": ALL,
    "hostile-memory": ALL,
    "hostile-trap": ALL,
    "hostile-garbage": ALL,
    "hostile-output": ALL,
    "hostile-exit": ALL,
    "hostile-stack": ALL,
    "hostile-answer": ALL,
}
# The WASI preview 1 functions a `wasi` fixture may import (the host implements them in
# src/runtime/wasi_p1.rs).
ALLOWED_IMPORTS = {"environ_get", "environ_sizes_get", "fd_read", "fd_write", "proc_exit"}
# Modules that probe the host on purpose and may import any WASI preview 1 function.
PROBES = {"hostile-answer"}
KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


class Reader:
    def __init__(self, data, pos=0, end=None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self):
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def bytes(self, n):
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def name(self):
        return self.bytes(self.u32()).decode("utf-8")

    def limits(self):
        flags = self.byte()
        minimum = self.u32()
        maximum = self.u32() if flags & 1 else None
        return minimum, maximum


def parse(data):
    if data[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a core wasm module (version 1)")
    r = Reader(data, 8)
    types, imports, exports, func_types, memories = [], [], [], [], []
    start = False
    while r.pos < len(data):
        section, size = r.byte(), r.u32()
        s = Reader(data, r.pos, r.pos + size)
        r.pos += size
        if section == 1:
            for _ in range(s.u32()):
                assert s.byte() == 0x60
                params = s.bytes(s.u32())
                results = s.bytes(s.u32())
                types.append((params, results))
        elif section == 2:
            for _ in range(s.u32()):
                module, field, kind = s.name(), s.name(), s.byte()
                if kind == 0:
                    func_types.append(s.u32())
                elif kind == 1:
                    s.byte()
                    s.limits()
                elif kind == 2:
                    memories.append(s.limits())
                elif kind == 3:
                    s.bytes(2)
                imports.append((module, field, KINDS.get(kind, kind)))
        elif section == 3:
            func_types.extend(s.u32() for _ in range(s.u32()))
        elif section == 5:
            memories.extend(s.limits() for _ in range(s.u32()))
        elif section == 7:
            for _ in range(s.u32()):
                name, kind, index = s.name(), s.byte(), s.u32()
                exports.append((name, KINDS.get(kind, kind), index))
        elif section == 8:
            start = True
    return types, imports, exports, func_types, memories, start


def check(path, wanted, any_wasi=False):
    data = open(path, "rb").read()
    types, imports, exports, func_types, memories, start = parse(data)
    problems = []
    if start:
        problems.append("has a start section")
    by_name = {name: (kind, index) for name, kind, index in exports}
    if by_name.get("memory", (None,))[0] != "memory":
        problems.append("does not export its memory as `memory`")
    for entry in wanted:
        kind, index = by_name.get(entry, (None, None))
        if kind != "func":
            problems.append(f"missing export `{entry}`")
        elif types[func_types[index]] != (b"", b""):
            problems.append(f"export `{entry}` is not of type () -> ()")
    for entry in set(ALL) - set(wanted):
        if entry in by_name:
            problems.append(f"unexpected export `{entry}`")
    for module, field, kind in imports:
        if module != "wasi_snapshot_preview1" or kind != "func" or (
                field not in ALLOWED_IMPORTS and not any_wasi):
            problems.append(f"unexpected import {module}.{field} ({kind})")
    funcs = sorted(name for name, kind, _ in exports if kind == "func")
    names = sorted(field for _, field, _ in imports)
    mem = ", ".join(f"{lo}..{hi if hi is not None else ''} pages" for lo, hi in memories)
    print(f"{os.path.basename(path):28} {len(data):>8} B  exports: {','.join(funcs):32} "
          f"memory: {mem:14} imports: {','.join(names) or '-'}")
    return problems


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "build/modules"
    failed = False
    for name, wanted in EXPECTED.items():
        path = os.path.join(folder, name + ".wasm")
        if not os.path.exists(path):
            print(f"{name}: missing {path}")
            failed = True
            continue
        for problem in check(path, wanted, name in PROBES):
            print(f"{name}: {problem}")
            failed = True
    if failed:
        sys.exit(1)
    print(f"ok: {len(EXPECTED)} modules")


if __name__ == "__main__":
    main()
