# mk/apiserver.mk — the patched kube-apiserver, etcd and kubectl (included by the top Makefile,
# which defines ROOT, BUILD, CARGO).
#
#   make k8s-source   fetch k8s.io/kubernetes@$(cat patches/BASE) through the Go module proxy and
#                     make it buildable (_output/kubernetes-src; hack/k8s-source.sh)
#   make apiserver    apply patches/ + the Go shim (go/), build kube-apiserver (cgo, version-stamped),
#                     etcd and kubectl into _output/bin (hack/build-apiserver.sh)
#   make run          etcd + the patched kube-apiserver on https://127.0.0.1:6443 (PORT=...) with
#                     the configuration in examples/, until Ctrl-C (hack/run.sh)
#   make demo         the user's scenario, narrated, against `make run`'s server or a
#                     self-started one (hack/demo.sh)
#   make test-e2e     end-to-end tests against the built binaries (tests/e2e/e2e.sh; in make test)
#   make bench-apiserver  median latency of creating a ConfigMap with and without the WASM
#                     plugin (hack/bench-apiserver.sh)
#   make bench-compare  the same create with no policy, WASM modules, a ValidatingAdmissionPolicy,
#                     a Go webhook (hack/webhook) and their mutating counterparts, side by side in
#                     one server (hack/bench-compare.sh; docs/performance.md)
#
# PROFILE=1 (with apiserver, run, demo, bench-apiserver, bench-compare): kube-apiserver linked
# without -s -w (symbols and DWARF kept, for perf and pprof) into $(K8S_BIN)/profile/, with etcd
# and kubectl linked next to it; the scripts then use that directory. The default binary is
# neither used nor rebuilt.
#
# Every step has a stamp or a real output file, so a rerun with nothing changed runs no command.
# Knobs: KUBEWASM_SHIM (the Go shim module dir, default go/), K8S_SRC, K8S_BIN.

K8S_SRC ?= $(ROOT)/_output/kubernetes-src
K8S_BIN ?= $(ROOT)/_output/bin
KUBEWASM_SHIM ?= $(ROOT)/go
LIBKUBEWASM ?= $(or $(LIB_A),$(ROOT)/target/release/libkubewasm.a)

PROFILE ?=
PROFILE_BIN := $(K8S_BIN)/profile
PROFILE_APISERVER := $(PROFILE_BIN)/kube-apiserver

export KUBEWASM_K8S_SRC := $(K8S_SRC)
export KUBEWASM_BIN := $(if $(filter 1,$(PROFILE)),$(PROFILE_BIN),$(K8S_BIN))
export KUBEWASM_SHIM
export KUBEWASM_LIB := $(LIBKUBEWASM)

K8S_SOURCE_STAMP := $(K8S_SRC)/.kubewasm-source
K8S_PATCH_STAMP := $(K8S_SRC)/.kubewasm-patches
KUBE_APISERVER := $(K8S_BIN)/kube-apiserver
ETCD := $(K8S_BIN)/etcd
KUBECTL := $(K8S_BIN)/kubectl

# Inputs of the patched binary besides the Kubernetes tree: the shim's sources, the C header and
# the Rust static library it links (cgo does not track that one; build-apiserver.sh stamps its
# digest into the link flags so a changed library relinks).
SHIM_SRCS := $(shell find $(KUBEWASM_SHIM) -type f \( -name '*.go' -o -name go.mod -o -name go.sum \
	-o -name '*.c' -o -name '*.h' \) -not -path '*/testdata/*' 2>/dev/null)
APISERVER_INPUTS := $(K8S_PATCH_STAMP) $(SHIM_SRCS) $(wildcard $(ROOT)/include/*.h) \
	$(ROOT)/hack/build-apiserver.sh

# Remember the shim directory: changing KUBEWASM_SHIM must re-apply the patches.
K8S_SHIM_PATH := $(ROOT)/_output/.kubewasm-shim-path
$(shell mkdir -p $(ROOT)/_output && [ "$$(cat $(K8S_SHIM_PATH) 2>/dev/null)" = "$(KUBEWASM_SHIM)" ] \
	|| echo "$(KUBEWASM_SHIM)" > $(K8S_SHIM_PATH))

.PHONY: k8s-source apiserver apiserver-clean

k8s-source: $(K8S_SOURCE_STAMP)

$(K8S_SOURCE_STAMP): $(ROOT)/patches/BASE $(ROOT)/hack/k8s-source.sh $(ROOT)/hack/tools/stagingmods.go
	$(ROOT)/hack/k8s-source.sh $(K8S_SRC)
	@touch $@

$(K8S_PATCH_STAMP): $(K8S_SOURCE_STAMP) $(ROOT)/patches $(wildcard $(ROOT)/patches/*.patch) \
		$(ROOT)/hack/apply-patches.sh $(K8S_SHIM_PATH)
	$(ROOT)/hack/apply-patches.sh
	@touch $@

apiserver: $(ETCD) $(KUBECTL) $(if $(filter 1,$(PROFILE)),$(PROFILE_APISERVER),$(KUBE_APISERVER))

# One `go build` at a time (they share go.mod, which -mod=mod may update): etcd, then kubectl,
# then kube-apiserver, via order-only prerequisites (they order, they do not cause rebuilds).
# The touch moves the mtime even when go finds the binary up to date.
# etcd comes from the same module graph (go.etcd.io/etcd/server/v3 at the version go.mod pins).
$(ETCD): $(K8S_PATCH_STAMP) $(ROOT)/hack/build-apiserver.sh
	$(ROOT)/hack/build-apiserver.sh etcd
	@touch $@

$(KUBECTL): $(K8S_PATCH_STAMP) $(ROOT)/hack/build-apiserver.sh | $(ETCD)
	$(ROOT)/hack/build-apiserver.sh kubectl
	@touch $@

# The Rust static library is a real prerequisite: the top Makefile's rule for it (`make lib`)
# rebuilds it first when its sources changed.
$(KUBE_APISERVER): $(APISERVER_INPUTS) $(LIBKUBEWASM) | $(KUBECTL)
	$(ROOT)/hack/build-apiserver.sh kube-apiserver
	@touch $@

# The profiling build (PROFILE=1): same inputs and flags but for -s -w, its own output path.
$(PROFILE_APISERVER): $(APISERVER_INPUTS) $(LIBKUBEWASM) | $(KUBECTL) $(ETCD)
	KUBEWASM_BIN=$(PROFILE_BIN) KUBEWASM_STRIP=0 $(ROOT)/hack/build-apiserver.sh kube-apiserver
	ln -sf ../etcd ../kubectl $(PROFILE_BIN)/
	@touch $@

# Removes the prepared tree and the binaries; Go's module and build caches stay.
apiserver-clean:
	rm -rf $(K8S_SRC) $(K8S_SRC).tmp $(K8S_BIN) $(K8S_SHIM_PATH)

# make run: etcd + the patched kube-apiserver on https://127.0.0.1:$(PORT) with examples/ (hack/run.sh).
.PHONY: run
run: apiserver fixtures policies
	$(ROOT)/hack/run.sh

# make demo: the user's scenario, narrated, against the server `make run` serves (found through
# $(RUN_DIR)'s kubeconfigs), or against one it starts (and stops) itself (hack/demo.sh).
.PHONY: demo
demo:
	$(ROOT)/hack/demo.sh

# make test-e2e (part of make test): the end-to-end tests against the patched binaries and the
# fixture modules (tests/e2e/e2e.sh; E2E_GROUPS= to run some groups only).
.PHONY: test-e2e
test: test-e2e
test-e2e: apiserver fixtures policies
	$(ROOT)/tests/e2e/e2e.sh $(E2E_GROUPS)

# make bench-apiserver: median latency of creating a ConfigMap with and without kubewasm
# (hack/bench-apiserver.sh; N= creates per column, default 200).
.PHONY: bench-apiserver
bench-apiserver: apiserver fixtures policies
	$(ROOT)/hack/bench-apiserver.sh

# make bench-compare: ConfigMap create latency with no policy, kubewasm modules, a
# ValidatingAdmissionPolicy and a Go webhook (and the mutating counterparts), one server, one run
# (hack/bench-compare.sh; N= creates per column, default 1000; PROFILE=1 for the unstripped build).
BENCH_WEBHOOK := $(K8S_BIN)/bench-webhook
BENCH_WEBHOOK_SRCS := $(wildcard $(ROOT)/hack/webhook/*.go) $(ROOT)/hack/webhook/go.mod $(ROOT)/hack/webhook/go.sum

$(BENCH_WEBHOOK): $(BENCH_WEBHOOK_SRCS)
	@mkdir -p $(@D)
	cd $(ROOT)/hack/webhook && GOWORK=off CGO_ENABLED=0 $(or $(GO),go) build -trimpath -o $@ .

.PHONY: bench-compare test-bench-webhook
bench-compare: apiserver fixtures policies $(BENCH_WEBHOOK)
	BENCH_WEBHOOK=$(BENCH_WEBHOOK) $(ROOT)/hack/bench-compare.sh

# The benchmark's webhook server has tests of its own (seconds; part of make test).
test: test-bench-webhook
test-bench-webhook:
	@out="$$(cd $(ROOT)/hack/webhook && gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd $(ROOT)/hack/webhook && GOWORK=off $(or $(GO),go) vet ./... && GOWORK=off $(or $(GO),go) test -count=1 ./...
