#!/usr/bin/env python3
"""Counts the wasm instructions the example modules execute per call: a measure of a guest's
own work that, unlike a time, does not depend on the machine or its load (docs/performance.md).

Each call runs as in modules/tools/smoke_test.py (a fresh instance, the host's five WASI
functions) on a ConfigMap create as kube-apiserver sends it (1.1 KB, managedFields
included), a TokenReview and a SubjectAccessReview. The count is wasmtime's fuel: about one
unit per wasm instruction.

Usage: python3 modules/tools/guest_cost.py [DIR]   (DIR defaults to build/modules; needs
`pip install wasmtime`)
"""

import sys

import smoke_test

CONFIGMAP_CREATE = {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
    "resource": {"group": "", "version": "v1", "resource": "configmaps"},
    "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
    "requestResource": {"group": "", "version": "v1", "resource": "configmaps"},
    "name": "cm-1", "namespace": "bench-wasm", "operation": "CREATE",
    "userInfo": {"username": "admin", "uid": "admin",
                 "groups": ["system:masters", "system:authenticated"]},
    "object": {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {
            "name": "cm-1", "namespace": "bench-wasm",
            "uid": "6c3f0f5e-1f0e-4d6b-9d55-3f4f3a0b1c2d",
            "creationTimestamp": "2026-12-02T06:00:00Z",
            "annotations": {"puzzle.ch/owner": "me"},
            "managedFields": [{
                "manager": "curl", "operation": "Update", "apiVersion": "v1",
                "time": "2026-12-02T06:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:key": {}},
                             "f:metadata": {"f:annotations": {".": {}, "f:puzzle.ch/owner": {}}}},
            }],
        },
        "data": {"key": "value"},
    },
    "oldObject": None, "dryRun": False,
    "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
}

CASES = [
    ("magic-validator", "validate",
     {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": CONFIGMAP_CREATE}),
    ("magic-mutator", "validate",
     {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": CONFIGMAP_CREATE}),
    ("magic-authenticator", "authn", smoke_test.token_review("magic-token")),
    ("magic-authorizer", "authz", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "magic-user", "groups": ["magic-group", "system:authenticated"],
                 "resourceAttributes": {"verb": "list", "version": "v1",
                                        "resource": "configmaps", "namespace": "default"}}}),
]


def main():
    smoke_test.FOLDER = sys.argv[1] if len(sys.argv) > 1 else "build/modules"
    for name, export, request in CASES:
        outcome, out, err = smoke_test.call(name, export, {"request": request})
        if outcome != "ok" or b'"response":{' not in out:
            sys.exit(f"{name}: {outcome} {out[:200]!r} {err}")
        print(f"{name:<22} {smoke_test.LAST_FUEL:>9,} wasm instructions")


if __name__ == "__main__":
    main()
