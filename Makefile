# kubewasm — entry points. Fragments in mk/ hold the details of each part:
#   mk/fixtures.mk   guest modules (modules/) built to build/modules/*.wasm
#   mk/go.mk         the Go shim (go/) and the kubewasm CLI
#   mk/apiserver.mk  the patched kube-apiserver, etcd, kubectl, run, demo, e2e
SHELL := /bin/bash
.DEFAULT_GOAL := all
ROOT := $(abspath .)
BUILD := $(ROOT)/build
CARGO ?= cargo

.PHONY: all lib header check-header test test-rust lint
all: lib

include $(wildcard mk/*.mk)
