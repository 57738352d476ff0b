#!/usr/bin/env bash
# Build kube-apiserver (cgo on, version-stamped), etcd and kubectl (and, on request, kubeadm)
# from the Kubernetes tree prepared by hack/k8s-source.sh (and patched by hack/apply-patches.sh
# when it exists).
#
#   hack/build-apiserver.sh [kube-apiserver] [etcd] [kubectl] [kubeadm]   default: the first three
#
# Environment:
#   KUBEWASM_K8S_SRC   prepared tree        (default _output/kubernetes-src)
#   KUBEWASM_BIN       output directory     (default _output/bin)
#   KUBEWASM_LIB       the Rust static library the shim links (default target/release/libkubewasm.a;
#                      another one must be named libkubewasm.a too: its directory goes first in
#                      CGO_LDFLAGS)
#   KUBEWASM_STRIP     1 (default): link with -s -w (no symbol table, no DWARF); 0: keep them, for
#                      profiling with perf and pprof (`make apiserver PROFILE=1` builds such a
#                      kube-apiserver into _output/bin/profile/, next to the default one)
#   SOURCE_DATE_EPOCH  build date to stamp  (default: commit time of the last kubewasm commit
#                      touching the binary's inputs, so an unchanged input relinks nothing)
#   GOFLAGS, GOCACHE, GOMODCACHE, CC ...    passed through to go
#
# Reruns are cheap: Go's build cache (GOCACHE) holds every compiled package, the module cache
# (GOMODCACHE) every download, and `go build -o` does not even relink a binary whose build ID
# is unchanged. All three binaries use the same flags (cgo on, -trimpath), so they share the
# compiled packages of the one module graph.
set -euo pipefail

# (Everything is in main, so bash has parsed the whole script before running it: editing this
# file during a 40-minute build cannot derail the running one.)
main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  BASE=$(tr -d '[:space:]' <"$ROOT/patches/BASE")
  SRC=${KUBEWASM_K8S_SRC:-$ROOT/_output/kubernetes-src}
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  export KUBEWASM_K8S_SRC=$SRC

  targets=("$@")
  ((${#targets[@]})) || targets=(kube-apiserver etcd kubectl)

  "$ROOT/hack/k8s-source.sh" "$SRC"
  if [[ -x $ROOT/hack/apply-patches.sh ]]; then
    "$ROOT/hack/apply-patches.sh"
  fi

  export GOWORK=off CGO_ENABLED=1
  # -mod=mod: go.sum of the prepared tree lacks the hashes of the v0.X.Y staging modules.
  # -buildvcs=false: the prepared tree is a scratch git repo; its state says nothing useful.
  goflags=(-mod=mod -trimpath -buildvcs=false)

  # --- version stamping, as hack/lib/version.sh kube::version::ldflags does -----------------
  [[ $BASE =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || { echo "bad patches/BASE '$BASE'" >&2; exit 1; }
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  # gitVersion must stay semver with the release's major.minor (feature-gate emulation uses it).
  git_version="${BASE}-kubewasm"
  # gitCommit/gitTreeState describe the kubewasm inputs of the binary, not the Kubernetes tag
  # (the module zip carries no commit). buildDate is that commit's time: a rerun with the same
  # inputs produces the same ldflags, so Go relinks nothing.
  inputs=(patches go src include Cargo.toml Cargo.lock build.rs hack/build-apiserver.sh hack/k8s-source.sh hack/apply-patches.sh)
  git_commit=unknown tree_state=unknown commit_time=
  if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git_commit=$(git -C "$ROOT" log -1 --format=%H -- "${inputs[@]}" 2>/dev/null || true)
    commit_time=$(git -C "$ROOT" log -1 --format=%ct -- "${inputs[@]}" 2>/dev/null || true)
    [[ -n $git_commit ]] || git_commit=unknown
    if [[ -n $(git -C "$ROOT" status --porcelain -- "${inputs[@]}" 2>/dev/null) ]]; then
      tree_state=dirty
    else
      tree_state=clean
    fi
  fi
  epoch=${SOURCE_DATE_EPOCH:-${commit_time:-0}}
  build_date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
  ldflags=()
  add_ldflag() {
    ldflags+=("-X 'k8s.io/client-go/pkg/version.$1=$2'" "-X 'k8s.io/component-base/version.$1=$2'")
  }
  add_ldflag gitVersion "$git_version"
  add_ldflag gitMajor "$major"
  add_ldflag gitMinor "$minor"
  # kubectl gets the release version only; the kubewasm commit, tree state and date go into
  # kube-apiserver alone, so that a kubewasm change relinks only the binary it affects.
  kubectl_ldflags="${ldflags[*]}"
  # kubeadm is upstream's: it says the plain release (v1.37.2), since it compares its own version
  # with the cluster's and a -kubewasm suffix would make it an older pre-release.
  kubeadm_ldflags=${kubectl_ldflags//"$git_version"/"$BASE"}
  add_ldflag buildDate "$build_date"
  add_ldflag gitCommit "$git_commit"
  add_ldflag gitTreeState "$tree_state"
  # cgo does not track the Rust static library the shim links (target/release/libkubewasm.a):
  # putting its digest into the link flags makes a changed library relink kube-apiserver.
  # (Same variable as mk/go.mk; -X on a variable that does not exist is ignored by the linker.)
  lib=${KUBEWASM_LIB:-$ROOT/target/release/libkubewasm.a}
  libflag=
  if [[ -f $lib ]]; then
    libflag="-X 'github.com/kubewasm/kubewasm/go/internal/binding.LibraryDigest=$(sha256sum <"$lib" | cut -c1-16)'"
  fi
  # The shim's #cgo LDFLAGS link -l:libkubewasm.a from target/release. Another library
  # (KUBEWASM_LIB) is linked by putting its directory first: cgo places CGO_LDFLAGS before the
  # package's own flags, so the linker finds it there before target/release. The name must be
  # libkubewasm.a for -l: to find it.
  if [[ -n ${KUBEWASM_LIB:-} && $(realpath -m "$lib") != $(realpath -m "$ROOT/target/release/libkubewasm.a") ]]; then
    if [[ $(basename "$lib") != libkubewasm.a || ! -f $lib ]]; then
      echo "build-apiserver: KUBEWASM_LIB=$lib must be an existing file named libkubewasm.a" >&2
      exit 1
    fi
    export CGO_LDFLAGS="-L$(cd "$(dirname "$lib")" && pwd) ${CGO_LDFLAGS:-}"
  fi

  mkdir -p "$BIN"
  cd "$SRC"
  for t in "${targets[@]}"; do
    start=$SECONDS
    case $t in
      kube-apiserver) pkg=./cmd/kube-apiserver ;;
      kubectl) pkg=./cmd/kubectl ;;
      kubeadm) pkg=./cmd/kubeadm ;; # for make test-image (mk/image.mk)
      # etcd's server main package, at the version the Kubernetes go.mod pins
      # (go install go.etcd.io/etcd/server/v3@vX does not work: its go.mod has local replaces).
      etcd) pkg=go.etcd.io/etcd/server/v3 ;;
      *) echo "unknown target $t (want kube-apiserver, etcd, kubectl, kubeadm)" >&2; exit 2 ;;
    esac
    echo ">>> build-apiserver: $t ($pkg, $git_version)" >&2
    case $t in
      kube-apiserver) flags="${ldflags[*]} $libflag" ;;
      kubectl) flags=$kubectl_ldflags ;;
      kubeadm) flags=$kubeadm_ldflags ;;
      etcd) flags= ;; # etcd reports its own version
    esac
    strip="-s -w"
    [[ ${KUBEWASM_STRIP:-1} == 0 ]] && strip=
    go build "${goflags[@]}" -ldflags "$strip $flags" -o "$BIN/$t" "$pkg"
    # One self-contained binary: the shim must link the static library, never libkubewasm.so
    # (gcc prefers the .so when -lkubewasm finds both in one directory).
    if [[ $t == kube-apiserver ]] && command -v readelf >/dev/null &&
      readelf -d "$BIN/$t" | grep -q 'NEEDED.*libkubewasm'; then
      echo "build-apiserver: $BIN/$t needs libkubewasm.so at run time; the Go shim's #cgo LDFLAGS" \
        "must link the static $lib (e.g. -l:libkubewasm.a or the archive's path)" >&2
      rm -f "$BIN/$t"
      exit 1
    fi
    echo ">>> build-apiserver: $t done in $((SECONDS - start))s" >&2
  done
}

# exit on the same line: bash reads a script as it runs it, so a line after main would be read
# from a file that may have been edited during the build.
main "$@"; exit
