#!/usr/bin/env bash
# Apply patches/[0-9]*.patch to the tree prepared by hack/k8s-source.sh and add the Go shim
# module (go/) to its go.mod:
#   require github.com/kubewasm/kubewasm/go v0.0.0
#   replace github.com/kubewasm/kubewasm/go => $KUBEWASM_SHIM   (default: $ROOT/go)
#
# Always starts from the pristine prepared state (the `kubewasm-base` tag of the tree's scratch
# git repository), so editing, adding or removing a patch is picked up. go.sum is kept: it only
# accumulates hashes, and keeping them spares the checksum-database lookups on the next build.
# A rerun with the same patches, shim path and script is a no-op (stamp .kubewasm-patches).
#
# Environment: KUBEWASM_K8S_SRC (default _output/kubernetes-src), KUBEWASM_SHIM.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${KUBEWASM_K8S_SRC:-$ROOT/_output/kubernetes-src}
SHIM=${KUBEWASM_SHIM:-$ROOT/go}
SHIM_MODULE=github.com/kubewasm/kubewasm/go
STAMP="$SRC/.kubewasm-patches"
export GOWORK=off

[[ -f $SRC/.kubewasm-source ]] || { echo "apply-patches: $SRC is not prepared; run hack/k8s-source.sh" >&2; exit 1; }
shopt -s nullglob
patches=("$ROOT"/patches/[0-9]*.patch)
shopt -u nullglob

want=$( {
  cat "$SRC/.kubewasm-source"
  echo "shim=$SHIM"
  sha256sum "${BASH_SOURCE[0]}" | cut -c1-16
  for p in "${patches[@]}"; do echo "$(basename "$p") $(sha256sum <"$p" | cut -c1-16)"; done
} )
# The tree's own state: the diff from the pristine tree (go.mod, go.sum aside). Checking it
# (0.1 s) catches a tree that was reset or edited by hand since the stamp was written.
tree_state() {
  echo "tree=$(git -C "$SRC" diff kubewasm-base -- . ':(exclude)go.sum' ':(exclude)go.mod' | sha256sum | cut -c1-16)"
  if ((${#patches[@]})); then
    grep -qF "$SHIM_MODULE => $SHIM" "$SRC/go.mod" && echo "shim=ok" || echo "shim=missing"
  fi
}
if [[ -f $STAMP && $(cat "$STAMP") == "$want"$'\n'"$(tree_state)" ]]; then
  exit 0
fi

cd "$SRC"
rm -f "$STAMP"
# Back to the pristine prepared tree (except go.sum), dropping files earlier patches added.
git checkout -q kubewasm-base -- . ':(exclude)go.sum'
git clean -fdq
for p in "${patches[@]}"; do
  if ! git apply --whitespace=nowarn "$p"; then
    echo "apply-patches: $(basename "$p") does not apply to $(cat .kubewasm-source | cut -d' ' -f1)" >&2
    echo "  (check with: cd $SRC && git apply --check -v $p)" >&2
    exit 1
  fi
  echo ">>> apply-patches: applied $(basename "$p")" >&2
done

if ((${#patches[@]})); then
  [[ -f $SHIM/go.mod ]] || { echo "apply-patches: the patches need the Go shim module, but $SHIM/go.mod does not exist" >&2; exit 1; }
  [[ $(awk '$1 == "module" {print $2; exit}' "$SHIM/go.mod") == "$SHIM_MODULE" ]] || { echo "apply-patches: $SHIM is not module $SHIM_MODULE" >&2; exit 1; }
  go mod edit -require="$SHIM_MODULE@v0.0.0" -replace="$SHIM_MODULE=$SHIM"
  echo ">>> apply-patches: $SHIM_MODULE => $SHIM" >&2
fi

{
  echo "$want"
  tree_state
} >"$STAMP"
