# Fixture guest modules (modules/, a Cargo workspace of its own) built for wasm32-wasip1
# and copied to $(BUILD)/modules/<name>.wasm. See modules/README.md.
#
#   make fixtures        build (incremental: cargo only runs when a source changed)
#   make fixtures-check  static check of exports/imports (python3, standard library)
#   make fixtures-smoke  run every module under the wasmtime Python package, if installed
#   make guest-cost      wasm instructions per call of the example modules (same package)
#   make fixtures-lint   cargo fmt --check and clippy -D warnings on the workspace
#   make fixtures-clean  remove the built modules and modules/target

FIXTURES_SRC_DIR := $(ROOT)/modules
FIXTURES_OUT_DIR := $(BUILD)/modules
FIXTURES_TARGET_DIR := $(FIXTURES_SRC_DIR)/target
FIXTURES_WASM_TARGET := wasm32-wasip1
FIXTURES_CARGO_OUT := $(FIXTURES_TARGET_DIR)/$(FIXTURES_WASM_TARGET)/release
FIXTURES_STAMP := $(FIXTURES_CARGO_OUT)/.kubewasm-fixtures.stamp

# One entry per cdylib crate of modules/Cargo.toml (crate name = module name).
FIXTURES := \
	magic-authenticator magic-authorizer magic-mutator magic-validator \
	json-patch-mutator settings-authenticator settings-admitter floor-validator \
	hostile-loop hostile-memory hostile-trap hostile-garbage hostile-output \
	hostile-exit hostile-stack hostile-answer
FIXTURES_WASM := $(addprefix $(FIXTURES_OUT_DIR)/,$(addsuffix .wasm,$(FIXTURES)))

# Everything that can change a module: sources and manifests of the workspace, except the
# build output and modules/policies/ (built separately).
FIXTURES_INPUTS := $(shell find $(FIXTURES_SRC_DIR) \
	\( -path $(FIXTURES_TARGET_DIR) -o -path $(FIXTURES_SRC_DIR)/policies \) -prune -o \
	-type f \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -print 2>/dev/null)

.PHONY: fixtures fixtures-check fixtures-smoke fixtures-clean fixtures-lint guest-cost
fixtures: $(FIXTURES_WASM)

$(FIXTURES_STAMP): $(FIXTURES_INPUTS)
	rustup target list --installed | grep -q '^$(FIXTURES_WASM_TARGET)$$' || \
		rustup target add $(FIXTURES_WASM_TARGET)
	$(CARGO) build --release --locked --target $(FIXTURES_WASM_TARGET) \
		--manifest-path $(FIXTURES_SRC_DIR)/Cargo.toml --target-dir $(FIXTURES_TARGET_DIR)
	touch $@

# cargo names the output after the crate with dashes turned into underscores.
$(FIXTURES_WASM): $(FIXTURES_OUT_DIR)/%.wasm: $(FIXTURES_STAMP)
	@mkdir -p $(@D)
	cp $(FIXTURES_CARGO_OUT)/$(subst -,_,$*).wasm $@

fixtures-check: fixtures
	python3 $(FIXTURES_SRC_DIR)/tools/wasm_check.py $(FIXTURES_OUT_DIR)

fixtures-smoke: fixtures
	python3 $(FIXTURES_SRC_DIR)/tools/smoke_test.py $(FIXTURES_OUT_DIR)

guest-cost: fixtures
	cd $(FIXTURES_SRC_DIR)/tools && python3 guest_cost.py $(FIXTURES_OUT_DIR)

fixtures-clean:
	rm -f $(FIXTURES_WASM)
	rm -rf $(FIXTURES_TARGET_DIR)

fixtures-lint:
	$(CARGO) fmt --all --manifest-path $(FIXTURES_SRC_DIR)/Cargo.toml --check
	$(CARGO) clippy --locked --manifest-path $(FIXTURES_SRC_DIR)/Cargo.toml \
		--target $(FIXTURES_WASM_TARGET) --target-dir $(FIXTURES_TARGET_DIR) -- -D warnings
