#!/usr/bin/env python3
"""Fails when a module of the Rust core imports from a layer above its own.

The layers, bottom to top (docs/architecture.md draws them):
  0 foundation  error, limits, log, config, allocator, timing
  1 runtime     runtime/ (engine, instances, limits, the WASI host; generic over protocol state)
  2 calls       call (deadline, report, shares, checks), decision/ (verdict, status, mutation)
  3 protocols   protocol/ (wasi, kubewarden, opa)
  4 modules     module (loaded modules)
  5 steps       authentication, authorization, admission/
  6 handle      handle
  7 ABI         ffi (and fuzzing, which only tests reach)
A module may use its own layer and the ones below. `lib.rs` only declares and re-exports.
Usage: hack/check-layers.py [SRC_DIR]
"""
import pathlib
import re
import sys

LAYERS = {
    "error": 0, "limits": 0, "log": 0, "config": 0, "allocator": 0, "timing": 0,
    "runtime": 1,
    "call": 2, "decision": 2,
    "protocol": 3,
    "module": 4,
    "authentication": 5, "authorization": 5, "admission": 5,
    "handle": 6,
    "ffi": 7, "fuzzing": 7,
}
REFERENCE = re.compile(r"\bcrate::(\w+)")
# `use crate::{a, b::c}` groups name several top-level modules at once.
GROUP = re.compile(r"\bcrate::\{([^}]*)\}", re.S)


def top_module(path: pathlib.Path, src: pathlib.Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    problems = []
    for path in sorted(src.rglob("*.rs")):
        module = top_module(path, src)
        if module == "lib":
            continue
        if module not in LAYERS:
            problems.append(f"{path}: module `{module}` has no layer in hack/check-layers.py")
            continue
        text = path.read_text()
        used = set(REFERENCE.findall(text))
        for group in GROUP.findall(text):
            used.update(m.group(1) for m in re.finditer(r"(?:^|,)\s*(\w+)", group))
        for name in sorted(used):
            if name not in LAYERS:
                continue
            if LAYERS[name] > LAYERS[module]:
                problems.append(
                    f"{path}: `{module}` (layer {LAYERS[module]}) uses `crate::{name}` "
                    f"(layer {LAYERS[name]}): a module may only use its own layer and those below"
                )
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} upward import(s); see docs/architecture.md")
        return 1
    print(f"check-layers: ok ({len(list(src.rglob('*.rs')))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
