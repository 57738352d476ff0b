#!/usr/bin/env bash
# `make image`: the kubewasm kube-apiserver image, without a container engine (hack/image, a Go
# tool using go-containerregistry), as
#   $IMAGE_DIR/oci                  an OCI image layout directory (skopeo copy oci:…, crane push …)
#   $IMAGE_DIR/kube-apiserver.tar   a docker-archive (docker/podman load, ctr images import,
#                                   skopeo copy docker-archive:…)
# named $IMAGE_REPOSITORY/kube-apiserver:$IMAGE_TAG, the name kubeadm derives from
# imageRepository and kubernetesVersion (examples/kubeadm/).
#
# Environment:
#   IMAGE_REPOSITORY  default localhost/kubewasm
#   IMAGE_TAG         default the Kubernetes release (patches/BASE), e.g. v1.37.2
#   IMAGE_DIR         default _output/image
#   IMAGE_USER        the image's default user (default empty = root, as upstream's image)
#   IMAGE_TOOL        the built tool (default _output/tools/kubewasm-image)
#   CA_CERTIFICATES   PEM bundle for /etc/ssl/certs/ca-certificates.crt
#                     (default the build host's /etc/ssl/certs/ca-certificates.crt; "" for none)
#   KUBEWASM_BIN      where kube-apiserver is (default _output/bin)
#
# The image's creation time and file times are the binary's build date (its --version=raw), so
# the same binary gives the same image digest.
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  BASE=$(tr -d '[:space:]' <"$ROOT/patches/BASE")
  IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-localhost/kubewasm}
  IMAGE_TAG=${IMAGE_TAG:-$BASE}
  IMAGE_DIR=${IMAGE_DIR:-$ROOT/_output/image}
  TOOL=${IMAGE_TOOL:-$ROOT/_output/tools/kubewasm-image}
  CA_CERTIFICATES=${CA_CERTIFICATES-/etc/ssl/certs/ca-certificates.crt}
  [[ -z $CA_CERTIFICATES || -f $CA_CERTIFICATES ]] || CA_CERTIFICATES=

  local apiserver=$BIN/kube-apiserver
  [[ -x $apiserver ]] || { echo "build-image: $apiserver is missing: run make apiserver" >&2; exit 1; }
  # version.Info{Major:"1", Minor:"37", GitVersion:"v1.37.2-kubewasm", GitCommit:"…", …}
  local raw commit tree date version
  raw=$("$apiserver" --version=raw)
  field() { sed -n "s/.*$1:\"\([^\"]*\)\".*/\1/p" <<<"$raw"; }
  version=$(field GitVersion) commit=$(field GitCommit) tree=$(field GitTreeState) date=$(field BuildDate)
  [[ $version == "$BASE-kubewasm" ]] ||
    { echo "build-image: $apiserver is $version, patches/BASE says $BASE: run make apiserver" >&2; exit 1; }
  [[ $tree == clean ]] || commit+="-$tree"
  local kubewasm
  kubewasm=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)

  mkdir -p "$IMAGE_DIR"
  "$TOOL" -binary "$apiserver" -image "$IMAGE_REPOSITORY/kube-apiserver:$IMAGE_TAG" \
    -kubernetes-version "$BASE" -kubewasm-version "$kubewasm" -revision "$commit" \
    -created "$(date -u -d "$date" +%s)" -user "${IMAGE_USER:-}" -ca-certificates "$CA_CERTIFICATES" \
    -layout "$IMAGE_DIR/oci" -tarball "$IMAGE_DIR/kube-apiserver.tar"
}

main "$@"; exit
