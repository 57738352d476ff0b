#!/usr/bin/env python3
"""Reference waPC host and smoke test for the fixture policies.

A minimal Kubewarden-style waPC host on the Python wasmtime bindings: the nine
`wapc` imports, a minimal WASI preview 1 (the calls Rust and Go policies make; no preopens,
empty env, stdout/stderr captured),
`_start` then `wapc_init` when exported (WASI exit 0 = success), a fresh
instance per call, `kubewarden/tracing/log` answered with success, every other
capability answered with policy-evaluator's error texts. It then checks each
policy's documented behaviour (README.md) and prints "N passed, N failed".

Optional developer tool, not part of `make test`:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install wasmtime
    make policies && /tmp/venv/bin/python modules/policies/tools/wapc_smoke.py build/modules
"""
import json
import os
import struct
import sys
import threading
import time

import wasmtime
from wasmtime import Engine, FuncType, Linker, Module, Store, ValType

I32, I64 = ValType.i32(), ValType.i64()
ESUCCESS, EBADF, ENOSYS = 0, 8, 52

# --- minimal WASI preview 1: the functions Rust (wasm32-wasip1) and Go (wasip1) policies import.
# No preopens (fd_prestat_get answers EBADF: Go's syscall init panics on anything else, wasi-libc
# exits with 71), empty environment, argv only in WASI mode, stdin from a buffer, stdout/stderr
# captured, clocks and random real, poll_oneoff reports clock subscriptions as fired at once.


class Exit(Exception):
    def __init__(self, code): self.code = code

def define_minimal_wasi(linker, state, trace):
    mem = lambda c: c["memory"]
    def w(c, ptr, data): mem(c).write(c, data, ptr)
    def r(c, ptr, n): return bytes(mem(c).read(c, ptr, ptr + n))
    def t(name, f):
        def g(*a):
            trace.append(name)
            return f(*a)
        return g
    argv = state.get("argv", [])
    stdin = state.get("stdin", b"")
    state["stdin_pos"] = 0
    def sizes(items):
        return len(items), sum(len(x) + 1 for x in items)
    def get(items):
        def f(c, ptrs, buf):
            for i, x in enumerate(items):
                w(c, ptrs + 4 * i, struct.pack("<I", buf)); w(c, buf, x + b"\0"); buf += len(x) + 1
            return ESUCCESS
        return f
    def sizes_get(items):
        def f(c, pn, ps):
            n, s = sizes(items); w(c, pn, struct.pack("<I", n)); w(c, ps, struct.pack("<I", s)); return ESUCCESS
        return f
    args = [a.encode() for a in argv]
    def fd_write(c, fd, iovs, n, nwritten):
        if fd not in (1, 2): return EBADF
        total = 0
        for i in range(n):
            p, l = struct.unpack("<II", r(c, iovs + 8 * i, 8)); data = r(c, p, l)
            state.setdefault("out%d" % fd, bytearray()).extend(data); total += l
        w(c, nwritten, struct.pack("<I", total)); return ESUCCESS
    def fd_read(c, fd, iovs, n, nread):
        if fd != 0: return EBADF
        total = 0
        for i in range(n):
            p, l = struct.unpack("<II", r(c, iovs + 8 * i, 8))
            chunk = stdin[state["stdin_pos"]:state["stdin_pos"] + l]; state["stdin_pos"] += len(chunk)
            w(c, p, chunk) if chunk else None; total += len(chunk)
            if len(chunk) < l: break
        w(c, nread, struct.pack("<I", total)); return ESUCCESS
    def fd_fdstat_get(c, fd, buf):
        if fd > 2: return EBADF
        # filetype character_device(2), flags 0, rights all
        w(c, buf, struct.pack("<BxHxxxxQQ", 2, 0, (1 << 64) - 1, (1 << 64) - 1)); return ESUCCESS
    def proc_exit(c, code): raise Exit(code)
    def clock_time_get(c, cid, prec, out):
        ns = time.monotonic_ns() if cid == 1 else time.time_ns()
        w(c, out, struct.pack("<Q", ns)); return ESUCCESS
    def random_get(c, buf, n): w(c, buf, os.urandom(n)) if n else None; return ESUCCESS
    def poll_oneoff(c, ins, outs, n, nevents):
        # clock subscriptions only: report each as fired, no sleeping
        for i in range(n):
            sub = r(c, ins + 48 * i, 48); userdata = sub[:8]; tag = sub[8]
            ev = userdata + struct.pack("<HB", ESUCCESS if tag == 0 else ENOSYS, tag) + b"\0" * 21
            w(c, outs + 32 * i, ev)
        w(c, nevents, struct.pack("<I", n)); return ESUCCESS
    funcs = {
        "args_get": ([I32, I32], get(args)), "args_sizes_get": ([I32, I32], sizes_get(args)),
        "environ_get": ([I32, I32], get([])), "environ_sizes_get": ([I32, I32], sizes_get([])),
        "fd_write": ([I32] * 4, fd_write), "fd_read": ([I32] * 4, fd_read),
        "fd_close": ([I32], lambda c, fd: ESUCCESS if fd <= 2 else EBADF),
        "fd_fdstat_get": ([I32, I32], fd_fdstat_get),
        "fd_fdstat_set_flags": ([I32, I32], lambda c, fd, fl: ESUCCESS if fd <= 2 else EBADF),
        "fd_prestat_get": ([I32, I32], lambda c, fd, buf: EBADF),
        "fd_prestat_dir_name": ([I32, I32, I32], lambda c, fd, p, l: EBADF),
        "path_open": ([I32, I32, I32, I32, I32, I64, I64, I32, I32], lambda *a: EBADF),
        "path_filestat_get": ([I32] * 5, lambda *a: EBADF),
        "clock_time_get": ([I32, I64, I32], clock_time_get),
        "random_get": ([I32, I32], random_get), "sched_yield": ([], lambda c: ESUCCESS),
        "poll_oneoff": ([I32] * 4, poll_oneoff),
    }
    for name, (params, f) in funcs.items():
        linker.define_func("wasi_snapshot_preview1", name, FuncType(params, [I32]), t(name, f), access_caller=True)
    linker.define_func("wasi_snapshot_preview1", "proc_exit", FuncType([I32], []), t("proc_exit", proc_exit), access_caller=True)
KNOWN_NAMESPACES = ("tracing", "oci", "net", "crypto", "kubernetes")


GO_WASI_CALLS = {"clock_time_get", "random_get", "args_sizes_get", "args_get", "environ_sizes_get",
                 "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_get", "fd_read", "fd_write", "proc_exit"}


def host_callback(binding, namespace, operation, payload, logs, log_fails):
    """Returns (ok, bytes) like policy-evaluator without a callback channel."""
    if binding == "kubewarden" and namespace == "tracing":
        if operation != "log":
            return False, f"unknown operation: {operation}"
        if log_fails:
            return False, "Cannot process Wasm guest request: callback channel not provided"
        logs.append(json.loads(payload))
        return True, b""
    if binding == "kubewarden" and namespace in KNOWN_NAMESPACES:
        return False, "Cannot process Wasm guest request: callback channel not provided"
    if binding == "kubewarden":
        return False, f"unknown namespace: {namespace}"
    return False, f"unknown binding: {binding}"


def exit_code(exc):
    """The proc_exit code behind a wasmtime error raised from our proc_exit, else None."""
    while exc is not None:
        if isinstance(exc, Exit):
            return exc.code
        exc = exc.__cause__ or exc.__context__
    return None


class Policy:
    def __init__(self, path, log_fails=False, timeout=None, memory_limit=None):
        config = wasmtime.Config()
        config.epoch_interruption = timeout is not None
        self.engine = Engine(config)
        self.module = Module.from_file(self.engine, path)
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.log_fails = log_fails
        self.logs = []
        self.stderr = ""
        self.wasi_calls = []

    def _instance(self, st, argv=None, stdin=b""):
        store = Store(self.engine)
        if self.timeout is not None:
            # one tick = 10 ms, see _ticking
            store.set_epoch_deadline(max(1, int(self.timeout * 100)))
        if self.memory_limit is not None:
            store.set_limits(memory_size=self.memory_limit)
        linker = Linker(self.engine)
        self.wasi_state = {"argv": argv or [], "stdin": stdin}
        self.wasi_calls = []
        define_minimal_wasi(linker, self.wasi_state, self.wasi_calls)

        def read(c, ptr, n):
            return bytes(c["memory"].read(c, ptr, ptr + n))

        def write(c, ptr, data):
            if data:
                c["memory"].write(c, data, ptr)

        def guest_request(c, op_ptr, msg_ptr):
            write(c, op_ptr, st["op"])
            write(c, msg_ptr, st["msg"])

        def host_call(c, bp, bl, np_, nl, op_, ol, pp, pl):
            st["host_response"] = st["host_error"] = b""
            ok, out = host_callback(read(c, bp, bl).decode(), read(c, np_, nl).decode(),
                                    read(c, op_, ol).decode(), read(c, pp, pl), self.logs, self.log_fails)
            if ok:
                st["host_response"] = out
                return 1
            st["host_error"] = out.encode()
            return 0

        imports = {
            "__guest_request": ([I32, I32], [], guest_request),
            "__guest_response": ([I32, I32], [], lambda c, p, n: st.update(response=read(c, p, n))),
            "__guest_error": ([I32, I32], [], lambda c, p, n: st.update(error=read(c, p, n))),
            "__host_call": ([I32] * 8, [I32], host_call),
            "__host_response_len": ([], [I32], lambda c: len(st.get("host_response", b""))),
            "__host_response": ([I32], [], lambda c, p: write(c, p, st.get("host_response", b""))),
            "__host_error_len": ([], [I32], lambda c: len(st.get("host_error", b""))),
            "__host_error": ([I32], [], lambda c, p: write(c, p, st.get("host_error", b""))),
            "__console_log": ([I32, I32], [], lambda c, p, n: self.logs.append(read(c, p, n).decode())),
        }
        for name, (params, results, fn) in imports.items():
            linker.define_func("wapc", name, FuncType(params, results), fn, access_caller=True)
        return store, linker.instantiate(store, self.module).exports(store)

    def _finish(self):
        self.stdout = bytes(self.wasi_state.get("out1", b""))
        self.stderr = bytes(self.wasi_state.get("out2", b"")).decode(errors="replace")

    def _ticking(self):
        """Starts a thread that ticks the engine's epoch every 10 ms; returns its stop event."""
        stop = threading.Event()
        if self.timeout is not None:
            def tick():
                while not stop.wait(0.01):
                    self.engine.increment_epoch()
            threading.Thread(target=tick, daemon=True).start()
        return stop

    def call(self, op, payload):
        stop = self._ticking()
        try:
            return self._call(op, payload)
        finally:
            stop.set()

    def _call(self, op, payload):
        """waPC: one fresh instance, _start/wapc_init, one guest call. Returns (rc, bytes)."""
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        st = {"op": op.encode(), "msg": payload}
        try:
            store, exports = self._instance(st)
            for start in ("_start", "wapc_init"):
                if start in exports:
                    try:
                        exports[start](store)
                    except Exception as e:  # noqa: BLE001 - a WASI exit 0 is success
                        if exit_code(e) != 0:
                            raise
            rc = exports["__guest_call"](store, len(st["op"]), len(payload))
            out = st.get("response") if rc == 1 else st.get("error", b"No error message set")
        except wasmtime.Trap as e:
            reason = [line.strip() for line in str(e).splitlines() if line.strip()][-1]
            rc, out = 0, ("trap: " + reason).encode()
        self._finish()
        return rc, out

    def run_wasi(self, subcommand, payload):
        """Kubewarden WASI mode: argv [policy.wasm, subcommand], stdin, _start. Returns (exit, stdout)."""
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        store, exports = self._instance({}, argv=["policy.wasm", subcommand], stdin=payload)
        code = 0
        try:
            exports["_start"](store)
        except Exception as e:  # noqa: BLE001
            code = exit_code(e)
            if code is None:
                raise
        self._finish()
        return code, self.stdout


def request(obj, operation="CREATE", kind="ConfigMap", namespace="default", old=None, **extra):
    r = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
        "requestKind": {"group": "", "version": "v1", "kind": kind},
        "requestResource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
        "name": "x",
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    }
    r.update(extra)
    return r


def cm(annotations=None, labels=None):
    meta = {"name": "x", "namespace": "default"}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}: {detail}")

    def decision(self, what, policy, payload, **expect):
        rc, out = policy.call("validate", payload)
        if rc != 1:
            self.check(what, False, f"guest call failed: {out!r}")
            return None
        resp = json.loads(out)
        for key, want in expect.items():
            self.check(f"{what} [{key}]", resp.get(key) == want, f"{key}={resp.get(key)!r}, want {want!r}")
        return resp

    def settings(self, what, policy, settings, valid, message_part=""):
        rc, out = policy.call("validate_settings", settings)
        resp = json.loads(out) if rc == 1 else {"valid": None, "message": out.decode()}
        self.check(what, resp["valid"] == valid and message_part in (resp.get("message") or ""),
                   f"got {resp}")


def main(directory):
    t = Checks()
    p = lambda name, **kw: Policy(os.path.join(directory, name + ".wasm"), **kw)

    sa = p("safe-annotations")
    t.check("protocol_version", sa.call("protocol_version", b"") == (1, b'"v1"'))
    t.check("unknown operation", sa.call("nope", b"") == (0, b"No handler registered for function nope"))
    t.settings("sa: no settings", sa, {}, True)
    t.settings("sa: mandatory", sa, {"mandatory_annotations": ["puzzle.ch/owner"]}, True)
    t.settings("sa: mandatory+denied", sa, {"mandatory_annotations": ["a"], "denied_annotations": ["a"]}, False,
               "Provided settings are not valid: These annotations cannot be mandatory and denied at the same time: Set{a}")
    t.settings("sa: constrained+denied", sa, {"constrained_annotations": {"a": "x"}, "denied_annotations": ["a"]},
               False, "cannot be constrained and denied at the same time: Set{a}")
    t.settings("sa: bad regexp", sa, {"constrained_annotations": {"cc-center": "^cc-[12$"}}, False,
               "Provided settings are not valid: error parsing regexp for annotation cc-center: `^cc-[12$`")
    t.settings("sa: wrong type", sa, {"mandatory_annotations": "x"}, False, "invalid type")
    t.settings("sa: unknown field", sa, {"mandatory_annotation": ["x"]}, False, "unknown field")
    t.settings("sa: not an object", sa, [], False, "settings must be a JSON object")
    settings = {"mandatory_annotations": ["puzzle.ch/owner"]}
    t.decision("sa: configmap without owner", sa, {"request": request(cm()), "settings": settings},
               accepted=False, message="The following mandatory annotations are missing: puzzle.ch/owner", code=None)
    t.decision("sa: configmap with owner", sa, {"request": request(cm({"puzzle.ch/owner": "me"})), "settings": settings},
               accepted=True, message=None)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}
    t.decision("sa: namespace without owner", sa,
               {"request": request(ns, kind="Namespace", namespace=None), "settings": settings}, accepted=False)
    full = {"denied_annotations": ["foo"], "mandatory_annotations": ["owner"], "constrained_annotations": {"cc": "^cc-\\d+$"}}
    t.decision("sa: all violations", sa, {"request": request(cm({"foo": "1", "cc": "cc-x"})), "settings": full},
               accepted=False,
               message="The following annotations are not allowed: foo. "
                       "The following annotations are violating user constraints: cc. "
                       "The following mandatory annotations are missing: owner")
    t.decision("sa: constraint met", sa, {"request": request(cm({"cc": "cc-12", "owner": "o"})), "settings": full},
               accepted=True)
    t.decision("sa: not json", sa, b"{", accepted=False, message="Not a valid JSON document", code=400)
    t.check("sa: WASI calls", set(sa.wasi_calls) == {"random_get"}, sa.wasi_calls)

    an = p("annotate")
    s = {"annotations": {"kubewasm.dev/touched": "yes"}}
    r = t.decision("annotate: adds", an, {"request": request(cm({"x": "y"})), "settings": s}, accepted=True,
                   warnings=["annotate: set annotations kubewasm.dev/touched"],
                   audit_annotations={"annotations-set": "kubewasm.dev/touched"})
    t.check("annotate: mutated object", r and r["mutated_object"]["metadata"]["annotations"] ==
            {"x": "y", "kubewasm.dev/touched": "yes"}, r)
    r = t.decision("annotate: unchanged", an, {"request": request(cm({"kubewasm.dev/touched": "yes"})), "settings": s},
                   accepted=True, warnings=None, audit_annotations=None)
    t.check("annotate: unchanged object returned", r and r["mutated_object"] == cm({"kubewasm.dev/touched": "yes"}), r)
    r = t.decision("annotate: DELETE", an, {"request": request(None, operation="DELETE", old=cm()), "settings": s},
                   accepted=True)
    t.check("annotate: DELETE mutates oldObject", r and r["mutated_object"] is not None, r)
    t.settings("annotate: bad settings", an, {"annotations": {"a": 1}}, False, "invalid type")

    cc = p("capability-caller")
    t.decision("capability: kubernetes", cc, {"request": request(cm()), "settings": {}}, accepted=False,
               message="error invoking host capability kubernetes.list_resources_by_namespace: "
                       "Host error: Cannot process Wasm guest request: callback channel not provided")
    t.decision("capability: unknown binding", cc, {"request": request(cm()), "settings": {"binding": "other"}},
               accepted=False, message="error invoking host capability kubernetes.list_resources_by_namespace: "
                                       "Host error: unknown binding: other")
    t.decision("capability: log", cc, {"request": request(cm()), "settings": {
        "namespace": "tracing", "operation": "log", "payload": {"level": "info", "message": "hi"}}},
        accepted=True, warnings=["host capability kubewarden/tracing/log answered 0 bytes"])
    t.settings("capability: at settings validation", cc, {"at_settings_validation": True}, False,
               "callback channel not provided")

    lg = p("logger")
    t.settings("logger: settings", lg, {}, True)
    t.check("logger: settings logged", [e["message"] for e in lg.logs] == ["validating settings"], lg.logs)
    lg.logs.clear()
    t.decision("logger: validate", lg, {"request": request(cm()), "settings": {"message": "hello"}}, accepted=True)
    t.check("logger: four levels", [(e["level"], e["message"]) for e in lg.logs] ==
            [("debug", "hello"), ("info", "hello"), ("warning", "hello"), ("error", "hello")], lg.logs)
    t.check("logger: fields", lg.logs and lg.logs[0].get("kind") == "ConfigMap" and lg.logs[0].get("policy") == "logger",
            lg.logs[:1])
    lf = p("logger", log_fails=True)
    rc, out = lf.call("validate", {"request": request(cm()), "settings": {}})
    t.check("logger: log answered with an error traps", rc == 0 and out.startswith(b"trap:"), out)
    t.check("logger: panic message on stderr", "slog::Fuse Drain" in lf.stderr, lf.stderr)
    t.check("logger: panic WASI calls", set(lf.wasi_calls) == {"random_get", "environ_sizes_get", "fd_write"}, lf.wasi_calls)

    go = p("go-mandatory-labels")
    t.check("go: protocol_version", go.call("protocol_version", b"") == (1, b'"v1"'))
    t.settings("go: settings", go, {"mandatory_labels": ["app"]}, True)
    t.settings("go: bad settings", go, {"mandatory_labels": 3}, False, "Provided settings are not valid")
    gs = {"mandatory_labels": ["app", "team"]}
    t.decision("go: missing label", go, {"request": request(cm(labels={"app": "a"})), "settings": gs},
               accepted=False, message="The following mandatory labels are missing: team")
    t.decision("go: labels present", go, {"request": request(cm(labels={"app": "a", "team": "t"})), "settings": gs},
               accepted=True)

    code, out = go.run_wasi("validate", {"request": request(cm(labels={"app": "a"})), "settings": gs})
    t.check("go wasi mode: validate", code == 0 and json.loads(out) ==
            {"accepted": False, "message": "The following mandatory labels are missing: team"}, (code, out))
    code, out = go.run_wasi("validate-settings", {"mandatory_labels": ["a"]})
    t.check("go wasi mode: validate-settings", code == 0 and json.loads(out) == {"valid": True}, (code, out))
    code, out = go.run_wasi("bogus", b"")
    t.check("go wasi mode: bad subcommand", code == 1 and "wrong subcommand" in go.stderr, (code, go.stderr))
    t.check("go wasi mode: WASI calls", set(go.wasi_calls) <= GO_WASI_CALLS, go.wasi_calls)

    hp = p("hostile-policy", timeout=1.0, memory_limit=64 << 20)
    slow = p("hostile-policy", timeout=30.0, memory_limit=64 << 20)  # the Python host is slow per host call
    for action, expect in [
        ("loop", lambda rc, out: (rc, out) == (0, b"trap: wasm trap: interrupt")),
        ("allocate", lambda rc, out: rc == 0 and out.startswith(b"trap:")),
        ("panic", lambda rc, out: rc == 0 and out.startswith(b"trap:") and "panic on purpose" in hp.stderr),
        ("garbage", lambda rc, out: rc == 1 and out == b"this is not JSON \xff"),
        ("huge", lambda rc, out: rc == 1 and len(out) > 16 << 20),
        ("error", lambda rc, out: (rc, out) == (0, b"hostile-policy: guest error on purpose")),
        ("stderr", lambda rc, out: rc == 1 and json.loads(out)["accepted"] and len(slow.stderr) == 64 << 20),
        ("log_flood", lambda rc, out: rc == 1 and len(slow.logs) == 100_000),
    ]:
        h = slow if action in ("stderr", "log_flood") else hp
        h.logs.clear()
        rc, out = h.call("validate", {"request": request(cm()), "settings": {"action": action}})
        t.check(f"hostile: {action}", expect(rc, out), (rc, out[:200], h.stderr[:200]))
    rc, out = hp.call("validate_settings", {"settings_action": "loop"})
    t.check("hostile: loop in validate_settings", (rc, out) == (0, b"trap: wasm trap: interrupt"), (rc, out[:200]))
    t.settings("hostile: unknown action", hp, {"action": "explode"}, False, "unknown variant")

    print(f"{t.passed} passed, {t.failed} failed")
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/modules"))
