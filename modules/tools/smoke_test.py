#!/usr/bin/env python3
"""Runs the fixture modules the way the kubewasm host does and checks what they answer.

Needs the `wasmtime` Python package (`pip install wasmtime`); without it, prints why and
exits 0. It is a developer check for the fixtures themselves, not a test of the host.
Each call gets a fresh store and instance, stdin/stdout/stderr as files, no args, no env,
no preopens, in-memory stdio, fuel as a stand-in for the host's time limit and a memory limit.

The WASI host here is a minimal preview 1 of its own with only the five functions the
kubewasm host implements (fd_read on fd 0, fd_write on fds 1 and 2 with a 4 MiB cap
answered with ENOSPC, an empty environment, proc_exit), so a module needing anything else
fails to instantiate.

Usage: python3 modules/tools/smoke_test.py [-v] [DIR]   (DIR defaults to build/modules;
-v lists the WASI functions each module called)
"""

import base64
import json
import os
import sys

try:
    import wasmtime
except ImportError:
    print("skipped: the wasmtime Python package is not installed (pip install wasmtime)")
    sys.exit(0)

FOLDER = next((a for a in sys.argv[1:] if a != "-v"), "build/modules")
_config = wasmtime.Config()
_config.consume_fuel = True
ENGINE = wasmtime.Engine(_config)
MODULES = {}
FAILURES = []
PASSED = 0
WASI = "wasi_snapshot_preview1"
EBADF, ENOSPC = 8, 51
OUTPUT_CAP = 4 << 20


class Exit(Exception):
    """proc_exit was called."""

    def __init__(self, code):
        super().__init__(f"proc_exit({code})")
        self.code = code


class Call:
    """The state of one call: in-memory stdio and the WASI calls made."""

    def __init__(self, stdin):
        self.stdin, self.stdout, self.stderr = stdin, bytearray(), bytearray()
        self.calls = {}

    def count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1


CURRENT = None


def _mem(caller):
    return caller["memory"]


def _u32(caller, addr):
    return int.from_bytes(_mem(caller).read(caller, addr, addr + 4), "little")


def _put_u32(caller, addr, value):
    _mem(caller).write(caller, value.to_bytes(4, "little"), addr)


def _iovs(caller, iovs, count):
    return [(_u32(caller, iovs + 8 * i), _u32(caller, iovs + 8 * i + 4)) for i in range(count)]


def fd_read(caller, fd, iovs, count, nread):
    CURRENT.count("fd_read")
    if fd != 0:
        return EBADF
    total = 0
    for ptr, length in _iovs(caller, iovs, count):
        chunk = CURRENT.stdin[:length]
        CURRENT.stdin = CURRENT.stdin[len(chunk):]
        _mem(caller).write(caller, chunk, ptr)
        total += len(chunk)
        if len(chunk) < length:
            break
    _put_u32(caller, nread, total)
    return 0


def fd_write(caller, fd, iovs, count, nwritten):
    CURRENT.count("fd_write")
    if fd not in (1, 2):
        return EBADF
    sink = CURRENT.stdout if fd == 1 else CURRENT.stderr
    total = 0
    for ptr, length in _iovs(caller, iovs, count):
        if len(sink) + length > OUTPUT_CAP:
            return ENOSPC
        sink += _mem(caller).read(caller, ptr, ptr + length)
        total += length
    _put_u32(caller, nwritten, total)
    return 0


def environ_sizes_get(caller, count_ptr, size_ptr):
    CURRENT.count("environ_sizes_get")
    _put_u32(caller, count_ptr, 0)
    _put_u32(caller, size_ptr, 0)
    return 0


def environ_get(caller, environ, buf):
    CURRENT.count("environ_get")
    return 0


def proc_exit(code):
    CURRENT.count("proc_exit")
    raise Exit(code)


# A minimal WASI preview 1 with the five functions the kubewasm host implements: a module
# importing anything else fails to instantiate here.
LINKER = wasmtime.Linker(ENGINE)
_i32 = wasmtime.ValType.i32()
for _name, _func, _params in [("fd_read", fd_read, 4), ("fd_write", fd_write, 4),
                              ("environ_sizes_get", environ_sizes_get, 2),
                              ("environ_get", environ_get, 2)]:
    LINKER.define_func(WASI, _name, wasmtime.FuncType([_i32] * _params, [_i32]), _func,
                       access_caller=True)
LINKER.define_func(WASI, "proc_exit", wasmtime.FuncType([_i32], []), proc_exit)
WASI_CALLS = {}
LAST_FUEL = 0  # fuel (wasm instructions) the last call() used; modules/tools/guest_cost.py


def call(name, export, stdin, fuel=500_000_000, memory=64 << 20):
    """One call: returns (outcome, stdout bytes, stderr text); outcome is 'ok',
    'exit N', 'trap: <TrapCode>' or 'error: …'."""
    global CURRENT
    if name not in MODULES:
        MODULES[name] = wasmtime.Module.from_file(ENGINE, os.path.join(FOLDER, name + ".wasm"))
    CURRENT = Call(stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode())
    store = wasmtime.Store(ENGINE)
    store.set_fuel(fuel)
    store.set_limits(memory_size=memory)
    outcome = "ok"
    try:
        instance = LINKER.instantiate(store, MODULES[name])
        exports = instance.exports(store)
        if "_initialize" in exports:
            exports["_initialize"](store)
        exports[export](store)
    except Exit as e:
        outcome = f"exit {e.code}"
    except wasmtime.Trap as e:
        outcome = f"trap: {e.trap_code}"
    except wasmtime.WasmtimeError as e:
        outcome = "error: " + str(e).strip().splitlines()[-1]
    WASI_CALLS.setdefault(name, {}).update(CURRENT.calls)
    global LAST_FUEL
    LAST_FUEL = fuel - store.get_fuel()
    return outcome, bytes(CURRENT.stdout), CURRENT.stderr.decode("utf-8", "replace")


def expect(label, condition, detail=""):
    global PASSED
    if condition:
        PASSED += 1
    else:
        FAILURES.append(f"{label}: {detail}")
        print(f"FAIL {label}: {detail}")


def answer(name, export, request, settings=None, **kw):
    """The decoded output envelope of a successful call, else {outcome, stderr}."""
    envelope = {"request": request}
    if settings is not None:
        envelope["settings"] = settings
    outcome, out, err = call(name, export, envelope, **kw)
    if outcome != "ok":
        return {"outcome": outcome, "stderr": err}
    return json.loads(out)


def token_review(token=None):
    spec = {"audiences": ["https://kubernetes.default.svc"]}
    if token is not None:
        spec["token"] = token
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def sar(groups, resource=None, path=None):
    spec = {"user": "alice", "groups": groups}
    if resource:
        spec["resourceAttributes"] = {"verb": "get", "resource": resource, "namespace": "x"}
    if path:
        spec["nonResourceAttributes"] = {"verb": "get", "path": path}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def review(obj, uid="uid-1", operation="CREATE"):
    request = {"uid": uid, "operation": operation, "name": "cm", "namespace": "default",
               "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
               "userInfo": {"username": "alice"}, "dryRun": False}
    if obj is not None:
        request["object"] = obj
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def configmap(data=None, **extra):
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cm", "namespace": "default"}, **extra}
    if data is not None:
        cm["data"] = data
    return cm


def decoded_patch(resp):
    return json.loads(base64.b64decode(resp["response"]["response"]["patch"]))


def test_magic():
    a = answer("magic-authenticator", "authn", token_review("magic-token"))
    expect("authn magic-token", a == {"response": {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "status": {"authenticated": True, "user": {
            "username": "magic-user", "uid": "0", "groups": ["magic-group"]}}}}, a)
    a = answer("magic-authenticator", "authn", token_review("other"))
    expect("authn other token", a["response"]["status"] == {"authenticated": False}
           and "error" not in a, a)
    a = answer("magic-authenticator", "authn", token_review(), settings={"ignored": True})
    expect("authn no token", a == {"response": None, "error": "no token in request"}, a)
    a = answer("magic-authenticator", "authn", 42)
    expect("authn bad input", a["response"] is None and a["error"].startswith("invalid input"), a)

    a = answer("magic-authorizer", "authz", sar(["magic-group", "x"], resource="configmaps"))
    expect("authz allow", a["response"]["status"] == {"allowed": True, "denied": False}, a)
    for label, req in [("wrong group", sar(["x"], resource="configmaps")),
                       ("wrong resource", sar(["magic-group"], resource="secrets")),
                       ("non-resource", sar(["magic-group"], path="/healthz"))]:
        a = answer("magic-authorizer", "authz", req)
        expect(f"authz {label}", a["response"]["status"] == {"allowed": False, "denied": False}
               and a["response"]["kind"] == "SubjectAccessReview", a)

    for data in (None, {"a": "b"}):
        cm = configmap(data, binaryData={"x": "AA=="})
        cm["metadata"]["futureField"] = {"kept": True}
        a = answer("magic-mutator", "validate", review(cm))
        r = a["response"]["response"]
        patched = decoded_patch(a)
        want = dict(cm, data=dict(data or {}, **{"magic-value": "foobar"}))
        expect(f"mutator data={data}", r["patchType"] == "Full" and r["allowed"] is True
               and r["uid"] == "uid-1" and patched == want
               and a["response"]["apiVersion"] == "admission.k8s.io/v1"
               and a["response"]["kind"] == "AdmissionReview", a)
    a = answer("magic-mutator", "validate", review(configmap(None) | {"data": None}))
    expect("mutator data null", decoded_patch(a)["data"] == {"magic-value": "foobar"}, a)
    a = answer("magic-mutator", "validate", review({"apiVersion": "v1", "kind": "Pod"}))
    expect("mutator pod", a["response"] is None and "ConfigMap" in a["error"], a)
    a = answer("magic-mutator", "validate", review(None, operation="DELETE"))
    expect("mutator no object", a == {"response": None, "error": "no object in request"}, a)

    a = answer("magic-validator", "validate",
               review(configmap({"not-allowed-value": "anything", "b": "c"}), uid="u2"))
    expect("validator reject", a["response"] == {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "u2", "allowed": False, "status": {
            "message": "value 'not-allowed-value' not allowed in configmap", "code": 403}}}, a)
    for data in (None, {"ok": "not-allowed-value"}):
        a = answer("magic-validator", "validate", review(configmap(data), uid="u3"))
        expect(f"validator accept {data}",
               a["response"]["response"] == {"uid": "u3", "allowed": True}, a)


def test_json_patch():
    settings = {"annotations": {"example.com/owner": "team-a", "plain": "v"}}
    a = answer("json-patch-mutator", "validate", review(configmap()), settings)
    r = a["response"]["response"]
    expect("jsonpatch whole map", r["patchType"] == "JSONPatch" and decoded_patch(a) == [
        {"op": "add", "path": "/metadata/annotations", "value": settings["annotations"]}], a)
    cm = configmap()
    cm["metadata"]["annotations"] = {"old": "x"}
    a = answer("json-patch-mutator", "validate", review(cm),
               dict(settings, labels={"app": "demo"}))
    expect("jsonpatch per key", decoded_patch(a) == [
        {"op": "add", "path": "/metadata/annotations/example.com~1owner", "value": "team-a"},
        {"op": "add", "path": "/metadata/annotations/plain", "value": "v"},
        {"op": "add", "path": "/metadata/labels", "value": {"app": "demo"}}], a)
    a = answer("json-patch-mutator", "validate", review({"apiVersion": "v1", "kind": "X"}),
               {"labels": {"a": "b"}})
    expect("jsonpatch no metadata", decoded_patch(a) == [
        {"op": "add", "path": "/metadata", "value": {"labels": {"a": "b"}}}], a)
    a = answer("json-patch-mutator", "validate", review(configmap()))
    expect("jsonpatch no settings", a["response"]["response"] == {"uid": "uid-1", "allowed": True}, a)
    a = answer("json-patch-mutator", "validate", review(configmap()), {"annotation": {}})
    expect("jsonpatch bad settings", a["response"] is None and "unknown field" in a["error"], a)


def test_settings_modules():
    s = {"token": "t0k", "user": "bob", "uid": "7", "groups": ["g"], "extra": {"k": ["v"]},
         "audiences": ["aud"]}
    a = answer("settings-authenticator", "authn", token_review("t0k"), s)
    expect("settings-authn match", a["response"]["status"] == {
        "authenticated": True, "audiences": ["aud"],
        "user": {"username": "bob", "uid": "7", "groups": ["g"], "extra": {"k": ["v"]}}}, a)
    a = answer("settings-authenticator", "authn", token_review("nope"), s)
    expect("settings-authn other", a["response"]["status"] == {"authenticated": False}, a)
    a = answer("settings-authenticator", "authn", token_review("t0k"))
    expect("settings-authn no settings", a == {"response": None, "error": "no settings"}, a)

    a = answer("settings-admitter", "validate", review(configmap(), uid="u9"))
    expect("settings-admitter default", a["response"]["response"] == {"uid": "u9", "allowed": True}, a)
    s = {"allowed": False, "message": "no", "reason": "Forbidden", "code": 422,
         "warnings": ["w1"], "auditAnnotations": {"k": "v"}}
    a = answer("settings-admitter", "validate", review(configmap(), uid="u9"), s)
    expect("settings-admitter reject", a["response"]["response"] == {
        "uid": "u9", "allowed": False, "status": {"message": "no", "reason": "Forbidden",
                                                  "code": 422},
        "warnings": ["w1"], "auditAnnotations": {"k": "v"}}, a)


def test_hostile():
    inputs = {"authn": {"request": token_review("x")}, "authz": {"request": sar(["g"], "pods")},
              "validate": {"request": review(configmap(), uid="h1")}}
    for export, envelope in inputs.items():
        outcome, out, err = call("hostile-loop", export, envelope, fuel=50_000_000)
        expect(f"loop {export}", "OUT_OF_FUEL" in outcome, outcome)
        outcome, out, err = call("hostile-stack", export, envelope)
        expect(f"stack {export}", "STACK_OVERFLOW" in outcome, outcome)
        outcome, out, err = call("hostile-memory", export, envelope, fuel=10**10)
        expect(f"memory {export}", "UNREACHABLE" in outcome and "memory allocation" in err,
               (outcome, err))
        outcome, out, err = call("hostile-trap", export, envelope)
        permissive = json.loads(out)["response"]
        expect(f"trap {export}", "UNREACHABLE" in outcome and "about to panic" in err
               and "panic on purpose" in err and permissive is not None, (outcome, err, out))
        outcome, out, err = call("hostile-exit", export, envelope)
        expect(f"exit {export}", outcome == "exit 3" and "status 3" in err
               and json.loads(out)["response"] is not None, (outcome, err, out))
        outcome, out, err = call("hostile-garbage", export, envelope)
        expect(f"garbage {export}", outcome == "ok" and out.startswith(b"this is not JSON"), out)
        outcome, out, err = call("hostile-output", export, envelope)
        expect(f"output {export}", outcome == "ok" and len(out) > OUTPUT_CAP - (64 << 10),
               (outcome, len(out)))
        outcome, out, err = call("hostile-output", export, envelope, fuel=2_000_000)
        expect(f"output fuel {export}", "OUT_OF_FUEL" in outcome, outcome)
    out = call("hostile-exit", "validate", inputs["validate"])[1]
    expect("exit permissive uid", json.loads(out)["response"]["response"]["uid"] == "h1", out)


def main():
    test_magic()
    test_json_patch()
    test_settings_modules()
    test_hostile()
    if "-v" in sys.argv:
        for name, calls in sorted(WASI_CALLS.items()):
            print(f"{name:24} WASI calls seen: {', '.join(sorted(calls))}")
    print(f"{PASSED} passed, {len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
