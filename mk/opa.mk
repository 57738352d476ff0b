# mk/opa.mk — Rego fixture policies (modules/rego/<name>/) compiled with OPA's own compiler
# (included by the top Makefile, which defines ROOT and BUILD).
#
#   make opa        build the pinned `opa` CLI from the Go module proxy into build/tools/
#   make rego       compile every modules/rego/<name>/ to build/modules/<name>.wasm
#   make rego-clean remove the compiled policies (keeps the opa binary)
#
# Each modules/rego/<name>/ holds the policy's .rego files and a file `entrypoint` naming the
# rule to compile (`package/rule`). `opa build -t wasm` writes a bundle; its /policy.wasm is the
# module. The opa binary's name carries its version: bumping OPA_VERSION builds the new one,
# and nothing else ever rebuilds it (a cold build takes minutes; Go's build cache is shared).

GO ?= go
OPA_VERSION ?= v1.22.3
OPA_MODULE := github.com/open-policy-agent/opa
OPA_TOOLS := $(BUILD)/tools
OPA := $(OPA_TOOLS)/opa-$(OPA_VERSION)
REGO_DIR := $(ROOT)/modules/rego
REGO_NAMES := $(notdir $(patsubst %/,%,$(dir $(wildcard $(REGO_DIR)/*/entrypoint))))
REGO_WASM := $(REGO_NAMES:%=$(BUILD)/modules/%.wasm)

.PHONY: opa rego rego-clean
opa: $(OPA)
rego: $(REGO_WASM)
test-rust test-go test-suites test-e2e: rego

$(OPA):
	@mkdir -p $(OPA_TOOLS)/.gobin-$(OPA_VERSION)
	@echo "building opa $(OPA_VERSION) from the Go module proxy (once; a cold build takes minutes)"
	cd $(OPA_TOOLS) && GOBIN=$(OPA_TOOLS)/.gobin-$(OPA_VERSION) GOFLAGS=-trimpath \
		$(GO) install $(OPA_MODULE)@$(OPA_VERSION)
	mv $(OPA_TOOLS)/.gobin-$(OPA_VERSION)/opa $@
	rmdir $(OPA_TOOLS)/.gobin-$(OPA_VERSION)

# The bundle's policy.wasm, extracted; opa's temporary bundle is removed.
define REGO_RULE
$(BUILD)/modules/$(1).wasm: $(REGO_DIR)/$(1)/entrypoint $(wildcard $(REGO_DIR)/$(1)/*.rego) | $(OPA)
	@mkdir -p $$(@D)
	$(OPA) build -t wasm -e "$$$$(cat $$<)" -o $$@.bundle.tar.gz $(REGO_DIR)/$(1)
	tar -xzPOf $$@.bundle.tar.gz /policy.wasm > $$@.tmp
	rm -f $$@.bundle.tar.gz
	mv $$@.tmp $$@
endef
$(foreach n,$(REGO_NAMES),$(eval $(call REGO_RULE,$(n))))

rego-clean:
	rm -f $(REGO_WASM)
