# mk/go.mk — the Go shim (go/) and the kubewasm CLI (included by the top Makefile, which
# defines ROOT, BUILD, CARGO and the `lib` target).
#
#   make cli        build the kubewasm CLI to bin/kubewasm (links target/release/libkubewasm.a)
#   make test-go    gofmt check, go vet, the !cgo build, and go test -race on go/ (part of `make test`)
#   make bench-go   the Go benchmarks of the three paths and of the no-match case (part of `make bench`)
#   make test-suites  `kubewasm test` on the example suites examples/tests/*.yaml (part of `make test`)
#
# cgo does not track the static library it links: the library's sha256 is passed as a -X link
# flag so that a rebuilt library relinks the binaries and the test binaries.

GO ?= go
GO_DIR := $(ROOT)/go
GO_SRCS := $(shell find $(GO_DIR) -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) 2>/dev/null)
GO_LIB_A := $(ROOT)/target/release/libkubewasm.a
KUBEWASM_CLI := $(ROOT)/bin/kubewasm
GO_BINDING_PKG := github.com/kubewasm/kubewasm/go/internal/binding
GO_LDFLAGS = -X $(GO_BINDING_PKG).LibraryDigest=$$(sha256sum $(GO_LIB_A) | cut -c1-16)
GO_TEST_FLAGS ?=
GO_BENCH_FLAGS ?= -benchtime=2s -count=5

.PHONY: cli test-go bench-go lint-go nocgo-go
test: test-go
bench: bench-go

cli: $(KUBEWASM_CLI)
$(KUBEWASM_CLI): $(GO_SRCS) $(GO_LIB_A) $(wildcard $(ROOT)/include/kubewasm.h)
	@mkdir -p $(@D)
	cd $(GO_DIR) && CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(GO_LDFLAGS)" -o $@ ./cmd/kubewasm

lint-go:
	@out="$$(cd $(GO_DIR) && gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Upstream builds kube-apiserver with CGO_ENABLED=0: the shim must still compile (and say so).
nocgo-go:
	cd $(GO_DIR) && CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) vet ./... && CGO_ENABLED=0 $(GO) test -count=1 ./...

test-go: lib fixtures policies lint-go nocgo-go
	cd $(GO_DIR) && CGO_ENABLED=1 $(GO) vet ./...
	cd $(GO_DIR) && CGO_ENABLED=1 KUBEWASM_MODULES=$(BUILD)/modules \
		$(GO) test -race -count=1 -ldflags "$(GO_LDFLAGS)" $(GO_TEST_FLAGS) ./...

bench-go: lib fixtures
	cd $(GO_DIR) && CGO_ENABLED=1 KUBEWASM_MODULES=$(BUILD)/modules \
		$(GO) test -run '^$$' -bench . -benchmem -ldflags "$(GO_LDFLAGS)" $(GO_BENCH_FLAGS) ./...

# The example policy test suites, run by the CLI as a policy author's CI would.
.PHONY: test-suites
test: test-suites
test-suites: $(KUBEWASM_CLI) lib fixtures policies
	$(KUBEWASM_CLI) test $(sort $(wildcard $(ROOT)/examples/tests/*.yaml))
