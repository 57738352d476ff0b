# mk/image.mk — the kube-apiserver container image and the kubeadm path (included by the top
# Makefile after mk/apiserver.mk's variables; uses KUBE_APISERVER, K8S_BIN, K8S_PATCH_STAMP).
#
#   make image        the patched kube-apiserver (make apiserver) as an OCI image layout
#                     (_output/image/oci) and a docker-archive (_output/image/kube-apiserver.tar),
#                     named $(IMAGE_REPOSITORY)/kube-apiserver:<patches/BASE>, built without a
#                     container engine (hack/image/build-image.sh, the Go tool in hack/image)
#   make kubeadm      upstream's kubeadm from the same module graph (_output/bin/kubeadm)
#   make test-image   the tool's unit tests, then tests/image/image-test.sh: unpack the image
#                     with tar, run it by chroot, the magic scenario with the example modules,
#                     the kubeadm configuration in examples/kubeadm (in make test)
#
# Knobs: IMAGE_REPOSITORY (default localhost/kubewasm), IMAGE_DIR, IMAGE_USER, CA_CERTIFICATES
# (see hack/image/build-image.sh).

IMAGE_REPOSITORY ?= localhost/kubewasm
IMAGE_DIR ?= $(ROOT)/_output/image
IMAGE_TOOL := $(ROOT)/_output/tools/kubewasm-image
IMAGE_TAR := $(IMAGE_DIR)/kube-apiserver.tar
KUBEADM := $(K8S_BIN)/kubeadm
IMAGE_TOOL_SRCS := $(wildcard $(ROOT)/hack/image/*.go) $(ROOT)/hack/image/go.mod $(ROOT)/hack/image/go.sum
export IMAGE_REPOSITORY IMAGE_DIR IMAGE_TOOL

# Remember the knobs that change the image: a different repository or user rebuilds it.
IMAGE_KNOBS := $(IMAGE_DIR)/.knobs
$(shell mkdir -p $(IMAGE_DIR) && k='$(IMAGE_REPOSITORY) $(IMAGE_USER) $(CA_CERTIFICATES)' && \
	[ "$$(cat $(IMAGE_KNOBS) 2>/dev/null)" = "$$k" ] || echo "$$k" > $(IMAGE_KNOBS))

.PHONY: image kubeadm test-image test-image-tool
image: $(IMAGE_TAR)

# The tool: a plain Go program (no cgo) with its own go.mod; its dependencies come through the
# Go module proxy.
$(IMAGE_TOOL): $(IMAGE_TOOL_SRCS)
	cd $(ROOT)/hack/image && GOWORK=off CGO_ENABLED=0 go build -trimpath -o $@ .

# One build writes both outputs; the tarball stands for the pair.
$(IMAGE_TAR): $(KUBE_APISERVER) $(IMAGE_TOOL) $(ROOT)/hack/image/build-image.sh $(ROOT)/patches/BASE \
		$(ROOT)/Cargo.toml $(IMAGE_KNOBS)
	$(ROOT)/hack/image/build-image.sh

# kubeadm after kube-apiserver (order-only): one `go build` at a time on the shared go.mod.
kubeadm: $(KUBEADM)
$(KUBEADM): $(K8S_PATCH_STAMP) $(ROOT)/hack/build-apiserver.sh | $(KUBE_APISERVER)
	$(ROOT)/hack/build-apiserver.sh kubeadm
	@touch $@

test-image-tool:
	cd $(ROOT)/hack/image && test -z "$$(gofmt -l .)" && GOWORK=off go vet ./... && GOWORK=off go test ./...

test: test-image
test-image: test-image-tool image kubeadm apiserver fixtures policies cli
	$(ROOT)/tests/image/image-test.sh
