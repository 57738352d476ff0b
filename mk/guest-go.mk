# The Go guest SDK (modules/guest-go, a Go module of its own) and its example modules, built with
# the standard Go toolchain for GOOS=wasip1 GOARCH=wasm as reactors (-buildmode=c-shared) into
# $(BUILD)/modules/go-<example>.wasm. See docs/modules-go.md.
#
#   make fixtures-go     build the example modules (incremental: each only when a Go source,
#                        go.mod or go.sum of the SDK or of the example changed) and precompile
#                        each into go-<example>.cwasm next to it with `kubewasm compile`: a Go
#                        module takes ~12 s of CPU to compile and ~50 ms to load precompiled, and
#                        the tests load each many times. A .cwasm that no longer fits the library
#                        (another wasmtime) is ignored by init, which then compiles, so it only
#                        costs time; it is remade when its module changes.
#   make test-guest-go   gofmt check, go vet (host and wasip1), go test of the SDK (part of
#                        `make test`); the Rust integration test tests/guest_go.rs runs the
#                        modules through the library (`make test-rust`)

GO ?= go
GUEST_GO_DIR := $(ROOT)/modules/guest-go
KUBEWASM_CLI ?= $(ROOT)/bin/kubewasm
GUEST_GO_EXAMPLES := authenticator authorizer validator mutator
GUEST_GO_WASM := $(addprefix $(BUILD)/modules/go-,$(addsuffix .wasm,$(GUEST_GO_EXAMPLES)))
GUEST_GO_CWASM := $(GUEST_GO_WASM:.wasm=.cwasm)
# The SDK itself (without tests and examples) and its module files.
GUEST_GO_SDK := $(wildcard $(GUEST_GO_DIR)/*.go) $(GUEST_GO_DIR)/go.mod $(GUEST_GO_DIR)/go.sum
GUEST_GO_SDK := $(filter-out %_test.go,$(GUEST_GO_SDK))

.PHONY: fixtures-go test-guest-go
fixtures-go: $(GUEST_GO_WASM) $(GUEST_GO_CWASM)
test-rust: fixtures-go
test: test-guest-go

# One rule per example, written to a temporary name first so that an interrupted build leaves
# no stale module behind.
define GUEST_GO_RULE
$(BUILD)/modules/go-$(1).wasm: $(GUEST_GO_SDK) $(wildcard $(GUEST_GO_DIR)/examples/$(1)/*.go)
	@mkdir -p $$(@D)
	cd $(GUEST_GO_DIR) && GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared \
		-o $$@.tmp ./examples/$(1)
	mv $$@.tmp $$@
endef
$(foreach e,$(GUEST_GO_EXAMPLES),$(eval $(call GUEST_GO_RULE,$(e))))

# The CLI is order-only: a rebuilt library keeps the same wasmtime (and so valid .cwasm files)
# far more often than not, and a stale one is only ignored.
$(BUILD)/modules/go-%.cwasm: $(BUILD)/modules/go-%.wasm | $(KUBEWASM_CLI)
	$(KUBEWASM_CLI) compile $<

test-guest-go:
	@out="$$(cd $(GUEST_GO_DIR) && gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd $(GUEST_GO_DIR) && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	cd $(GUEST_GO_DIR) && $(GO) test -count=1 ./...

# The example suite examples/tests/go-admission.yaml runs the Go modules through the CLI
# (make test-suites, and the Go shim's TestExampleSuites).
test-suites test-go: fixtures-go
