# Kubewarden fixture policies (modules/policies/), included from mk/fixtures.mk.
# Uses ROOT, BUILD and CARGO from the top Makefile.
#
#   make policies        build every policy to $(BUILD)/modules/<name>.wasm, plus
#                        copies with an io.kubewarden.metadata section (<name>-*.wasm)
#   make policies-check  cargo fmt --check, clippy -D warnings, unit tests (Rust and Go)
#   make policies-clean  remove the outputs (keeps cargo's and Go's caches)
#
# Incremental: cargo runs only when a Rust source, manifest or the lock file
# changed, go build only when a Go source or go.mod/go.sum changed.

POLICIES_DIR := $(ROOT)/modules/policies
POLICIES_OUT := $(BUILD)/modules
POLICIES_TARGET_DIR := $(POLICIES_DIR)/target
POLICIES_RELEASE := $(POLICIES_TARGET_DIR)/wasm32-wasip1/release
# Inside cargo's output, so removing the target directory forces a build.
POLICIES_STAMP := $(POLICIES_RELEASE)/.kubewasm-policies.stamp
POLICIES_GO ?= go
POLICIES_PYTHON ?= python3
POLICIES_META_TOOL := $(POLICIES_DIR)/tools/wasm_meta.py

# Rust (kubewarden-policy-sdk) policies: crate directory = output name.
POLICIES_RUST := safe-annotations annotate capability-caller logger hostile-policy
POLICIES_RUST_SRC := $(POLICIES_DIR)/Cargo.toml $(POLICIES_DIR)/Cargo.lock \
	$(wildcard $(POLICIES_DIR)/*/Cargo.toml $(POLICIES_DIR)/*/src/*.rs)
POLICIES_RUST_WASM := $(POLICIES_RUST:%=$(POLICIES_OUT)/%.wasm)

# Go (policy-sdk-go, standard toolchain, GOOS=wasip1) policy.
POLICIES_GO_DIR := $(POLICIES_DIR)/go-mandatory-labels
POLICIES_GO_SRC := $(wildcard $(POLICIES_GO_DIR)/*.go) $(POLICIES_GO_DIR)/go.mod $(POLICIES_GO_DIR)/go.sum
POLICIES_GO_WASM := $(POLICIES_OUT)/go-mandatory-labels.wasm

# Copies with metadata, as `kwctl annotate` would write it: <output>: <input> <metadata file>.
POLICIES_ANNOTATED := \
	safe-annotations-annotated:safe-annotations:safe-annotations \
	annotate-annotated:annotate:annotate \
	go-mandatory-labels-wasi:go-mandatory-labels:go-mandatory-labels-wasi \
	safe-annotations-opa:safe-annotations:safe-annotations-opa \
	safe-annotations-unknown-protocol:safe-annotations:safe-annotations-unknown-protocol
POLICIES_ANNOTATED_WASM := $(foreach a,$(POLICIES_ANNOTATED),$(POLICIES_OUT)/$(word 1,$(subst :, ,$(a))).wasm)

.PHONY: policies policies-check policies-clean
policies: $(POLICIES_RUST_WASM) $(POLICIES_GO_WASM) $(POLICIES_ANNOTATED_WASM)

$(POLICIES_STAMP): $(POLICIES_RUST_SRC)
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
	cd $(POLICIES_DIR) && CARGO_TARGET_DIR=$(POLICIES_TARGET_DIR) \
		$(CARGO) build --release --locked --target wasm32-wasip1
	touch $@

$(POLICIES_RUST_WASM): $(POLICIES_OUT)/%.wasm: $(POLICIES_STAMP)
	@mkdir -p $(@D)
	cp $(POLICIES_RELEASE)/$(subst -,_,$*).wasm $@

$(POLICIES_GO_WASM): $(POLICIES_GO_SRC)
	@mkdir -p $(@D)
	cd $(POLICIES_GO_DIR) && GOOS=wasip1 GOARCH=wasm $(POLICIES_GO) build -mod=readonly \
		-trimpath -ldflags="-s -w" -o $@ .

define POLICIES_ANNOTATE_RULE
$(POLICIES_OUT)/$(1).wasm: $(POLICIES_OUT)/$(2).wasm $(POLICIES_DIR)/metadata/$(3).json $(POLICIES_META_TOOL)
	$(POLICIES_PYTHON) $(POLICIES_META_TOOL) annotate $$< $$@ --metadata-file $(POLICIES_DIR)/metadata/$(3).json
endef
$(foreach a,$(POLICIES_ANNOTATED),$(eval $(call POLICIES_ANNOTATE_RULE,$(word 1,$(subst :, ,$(a))),$(word 2,$(subst :, ,$(a))),$(word 3,$(subst :, ,$(a))))))

policies-check:
	cd $(POLICIES_DIR) && $(CARGO) fmt --all --check
	cd $(POLICIES_DIR) && CARGO_TARGET_DIR=$(POLICIES_TARGET_DIR) \
		$(CARGO) clippy --locked --release --target wasm32-wasip1 --all-targets -- -D warnings
	cd $(POLICIES_DIR) && CARGO_TARGET_DIR=$(POLICIES_TARGET_DIR) $(CARGO) test --locked
	cd $(POLICIES_GO_DIR) && gofmt -l . | (! grep .) && $(POLICIES_GO) vet ./... && $(POLICIES_GO) test ./...

policies-clean:
	rm -f $(POLICIES_RUST_WASM) $(POLICIES_GO_WASM) $(POLICIES_ANNOTATED_WASM) $(POLICIES_STAMP)
