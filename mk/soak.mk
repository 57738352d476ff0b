# mk/soak.mk — soak runs: many calls mixing good and hostile fixture modules, sampling resident
# memory, open file descriptors and threads (benches/soak.rs, go/internal/binding/soak_test.go).
#
#   make soak         SOAK_CALLS (1,000,000) calls from 8 threads through the Rust API, then
#                     SOAK_GO_CALLS (200,000) from 8 goroutines through the Go binding under -race;
#                     both print the series and fail when memory, fds or threads keep growing
#                     after warm-up or when a call has the wrong outcome
#   make soak-short   the Rust run with SOAK_SHORT_CALLS (60,000) calls (part of `make test`)

SOAK_CALLS ?= 1000000
SOAK_GO_CALLS ?= 200000
SOAK_SHORT_CALLS ?= 60000
SOAK_THREADS ?= 8

.PHONY: soak soak-short
test: soak-short

soak: lib fixtures
	KUBEWASM_MODULES=$(BUILD)/modules $(CARGO) bench --locked --bench soak -- \
		--calls $(SOAK_CALLS) --threads $(SOAK_THREADS) --samples 25 --check
	cd $(GO_DIR) && CGO_ENABLED=1 KUBEWASM_MODULES=$(BUILD)/modules KUBEWASM_SOAK=1 \
		KUBEWASM_SOAK_CALLS=$(SOAK_GO_CALLS) $(GO) test -race -count=1 -timeout 60m \
		-ldflags "$(GO_LDFLAGS)" -run '^TestSoak$$' -v ./internal/binding

soak-short: fixtures
	KUBEWASM_MODULES=$(BUILD)/modules $(CARGO) bench --locked --bench soak -- \
		--calls $(SOAK_SHORT_CALLS) --threads $(SOAK_THREADS) --samples 10 --check
