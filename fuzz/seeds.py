#!/usr/bin/env python3
"""Writes the seed corpora of the cargo-fuzz targets into fuzz/seeds/<target>/ (committed).

Run from anywhere: python3 fuzz/seeds.py. The seeds come from the repository's own examples and
test data (configurations, reviews) and from the answers the fixture modules give (see
modules/README.md), in the input format each target documents at its top.
"""
import base64
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def j(v):
    return json.dumps(v, separators=(",", ":"))


# config: configuration documents, as they are.
for p in sorted((ROOT / "examples").glob("*.yaml")) + [
    ROOT / "go" / "testdata" / n for n in ("admission.yaml", "authentication.yaml", "authorization.yaml")
]:
    write("config", p.parent.name + "-" + p.name, p.read_bytes())
write("config", "json.json", j({"modules": [{"name": "m", "module": "x.wasm", "timeout": "1.5s",
                                              "memoryLimit": "64Mi", "failurePolicy": "Ignore",
                                              "mutating": True, "settings": {"a": [1, None, {"b": 2}]},
                                              "sha256": "00" * 32, "debug": True}]}))
write("config", "kubewarden.yaml", "modules:\n- name: p\n  type: kubewarden\n  module: p.wasm\n"
      "  settings:\n    mandatory_annotations: [a/b]\n  rules:\n  - operations: [CREATE]\n"
      "    apiGroups: ['']\n    apiVersions: [v1]\n    resources: [configmaps]\n"
      "  matchConditions:\n  - name: c\n    expression: request.userInfo.username != 'x'\n")
write("config", "anchors.yaml", "base: &b {module: x.wasm, timeout: 2s}\nmodules:\n- *b\n- <<: *b\n  name: y\n")

# wasi_output: selector byte, then the module's stdout.
UID = "fuzz-uid"


def review(response):
    return j({"response": {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": dict({"uid": UID}, **response)}})


configmap = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "cm", "namespace": "default", "labels": {"app": "x"}},
             "data": {"a": "1", "b": "2", "magic-value": "foobar"}}
ops = [{"op": "add", "path": "/metadata/annotations", "value": {"x/y": "z"}},
       {"op": "replace", "path": "/data/a", "value": "3"},
       {"op": "copy", "from": "/data/a", "path": "/data/c"},
       {"op": "move", "from": "/data/b", "path": "/data/d"},
       {"op": "test", "path": "/data/c", "value": "3"},
       {"op": "remove", "path": "/data/c"}]
b64 = lambda v: base64.b64encode(j(v).encode()).decode()
outputs = {
    "allow": (4, review({"allowed": True})),
    "reject": (4, review({"allowed": False, "status": {"code": 418, "message": "no", "reason": "Teapot"}})),
    "warnings": (4, review({"allowed": True, "warnings": ["w1", "w2"], "auditAnnotations": {"k": "v"}})),
    "full": (0, review({"allowed": True, "patchType": "Full", "patch": b64(configmap)})),
    "jsonpatch": (0, review({"allowed": True, "patchType": "JSONPatch", "patch": b64(ops)})),
    "jsonpatch-chain": (3, review({"allowed": True, "patchType": "JSONPatch", "patch": b64(ops[:2])})),
    "jsonpatch-ignore": (2, review({"allowed": True, "patchType": "JSONPatch",
                                     "patch": b64([{"op": "remove", "path": "/nope"}])})),
    "identity": (0, review({"allowed": True, "patchType": "JSONPatch",
                             "patch": b64([{"op": "replace", "path": "/metadata/name", "value": "x"}])})),
    "pod-patch": (8, review({"allowed": True, "patchType": "JSONPatch",
                             "patch": b64([{"op": "add", "path": "/spec/containers/0/args/-", "value": "c"}])})),
    "delete-patch": (16, review({"allowed": True, "patchType": "JSONPatch", "patch": b64(ops[:1])})),
    "validating-patch": (5, review({"allowed": True, "patchType": "Full", "patch": b64(configmap)})),
    "error": (0, j({"response": None, "error": "invalid input: boom"})),
    "garbage": (4, b"this is not JSON {\"response\": \x01\xff<<<\n"),
    "authn": (6, j({"response": {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                  "status": {"authenticated": True,
                                             "user": {"username": "u", "uid": "0", "groups": ["g"],
                                                      "extra": {"k": ["v"]}},
                                             "audiences": ["api"]}}})),
    "authz": (7, j({"response": {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                                  "status": {"allowed": False, "denied": True, "reason": "r",
                                             "evaluationError": "e"}}})),
}
for name, (selector, out) in outputs.items():
    write("wasi_output", name, bytes([selector]) + (out if isinstance(out, bytes) else out.encode()))


# wapc_host: selector byte, then a program for guests/interp.wat.
def w(*words):
    return b"".join(struct.pack("<I", x & 0xFFFFFFFF) for x in words)


def store(addr, data):
    assert len(data) < 256
    return bytes([7]) + w(addr) + bytes([len(data)]) + data


def host_call(op, b, n, o, payload, base=0x60000):
    # Stores binding, namespace, operation and payload, then calls __host_call (0) or host.call (8).
    b, n, o = b.encode(), n.encode(), o.encode()
    prog = store(base, b) + store(base + 0x40, n) + store(base + 0x80, o) + store(base + 0xC0, payload)
    return prog + bytes([op]) + w(base, len(b), base + 0x40, len(n), base + 0x80, len(o), base + 0xC0, len(payload))


def respond(answer, addr=0x70000):
    return store(addr, answer) + bytes([1]) + w(addr, len(answer))


def wasi_respond(answer, addr=0x70000):
    # An iovec at 0x6f000 pointing at the answer, then fd_write(1, iovec, 1, 0x6f010).
    return store(addr, answer) + store(0x6F000, w(addr, len(answer))) + bytes([10]) + w(1, 0x6F000, 1, 0x6F010)


accepted = j({"accepted": True}).encode()
mutated = j({"accepted": True, "mutated_object": {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "cm", "namespace": "default"},
                                                    "data": {"x": "y"}},
             "warnings": ["w"], "audit_annotations": {"k": "v"}}).encode()
rejected = j({"accepted": False, "message": "no", "code": 400}).encode()
log = j({"level": "warn", "message": "hello", "k": 1}).encode()
programs = {
    "wapc-log-accept": (0, host_call(0, "kubewarden", "tracing", "log", log) + respond(accepted)),
    "wapc-refused": (0, host_call(0, "kubewarden", "kubernetes", "list_resources_by_namespace", b"{}")
                     + bytes([4]) + w(0x71000) + respond(rejected)),
    "wapc-mutate": (0, respond(mutated)),
    "wapc-delete-mutate": (8, respond(mutated)),
    "wapc-validating-mutate": (1, respond(mutated)),
    "wapc-error": (0, store(0x70000, b"policy failed") + bytes([2]) + w(0x70000, 13) + bytes([9])),
    "wapc-console": (1, store(0x70000, b"console line") + bytes([5]) + w(0x70000, 12) + respond(accepted)),
    "wapc-out-of-bounds": (0, bytes([1]) + w(0xFFFFFFF0, 0x100)),
    "wapc-random": (0, bytes([12]) + w(0x70000, 64) + respond(accepted)),
    "wapc-guest-request-again": (0, bytes([6]) + w(0x100, 0x2000) + respond(accepted)),
    "wasi-host-call": (2, host_call(8, "kubewarden", "oci", "v1/verify", b"{}")
                       + bytes([11]) + w(0, 0x6E000, 0, 0x6E010) + wasi_respond(accepted)),
    "wasi-log-mutate": (3, host_call(8, "kubewarden", "tracing", "log", log) + wasi_respond(mutated)),
    "wasi-exit": (2, wasi_respond(accepted) + bytes([9])),
    "wasi-iovecs": (3, bytes([10]) + w(1, 0x1000, 0x10000000, 0x6F010) + wasi_respond(rejected)),
}
for name, (selector, prog) in programs.items():
    write("wapc_host", name, bytes([selector]) + prog)


# c_abi: op, flags, a, b, payload.
def abi(op, flags, a, b, payload=b""):
    return bytes([op, flags]) + w(a, b) + (payload.encode() if isinstance(payload, str) else payload)


token_review = (ROOT / "go" / "testdata" / "tokenreview.json").read_text()
sar = j({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
         "spec": {"user": "magic-user", "groups": ["magic-group"],
                  "resourceAttributes": {"namespace": "default", "verb": "create", "version": "v1",
                                         "resource": "configmaps"}}})
request = json.loads((ROOT / "go" / "testdata" / "configmap-review.json").read_text())["request"]
seeds = {
    "init-config": abi(0, 0, 3, 0, "modules:\n- {module: echo.wasm}\n"),
    "init-echo": abi(0, 32, 1, 0, "modules:\n- module: echo.wasm\n"),
    "init-echo-admission": abi(0, 32, 3, 0, "modules:\n- {module: echo.wasm, mutating: true, timeout: 1s}\n"),
    "init-bad-kind": abi(0, 0, 9, 0, "modules: []"),
    "init-null-config": abi(0, 1, 3, 0, ""),
    "init-null-out": abi(0, 64, 2, 0, "modules: []"),
    "authenticate": abi(1, 0, 0, 0, token_review),
    "authenticate-timeout": abi(1, 0, 0, 1, token_review),
    "authenticate-null-out": abi(1, 2, 0, 0, token_review),
    "authenticate-wrong-handle": abi(1, 16, 0, 0, token_review),
    "authorize": abi(2, 0, 0, 0, sar),
    "authorize-null-input": abi(2, 1, 1 << 20, 0, ""),
    "admit-mutating": abi(3, 0, 1, 2, w(0, 2) + j(request).encode()),
    "admit-validating": abi(3, 0, 2, 1, w(1) + j(request).encode()),
    "admit-bad-id": abi(3, 0, 2, 1, w(77) + j(request).encode()),
    "admit-null-ids": abi(3, 64, 1, 3, j(request).encode()),
    "admit-no-handle": abi(3, 8, 1, 0, j(request).encode()),
    "modules": abi(4, 0, 0, 0),
    "errors": abi(5, 0, 12, 0),
}
for name, data in seeds.items():
    write("c_abi", name, data)
print("seeds written to", SEEDS)
