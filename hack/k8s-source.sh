#!/usr/bin/env bash
# Prepare a buildable Kubernetes source tree of the release pinned in patches/BASE,
# fetched through the Go module proxy only (no GitHub, no 1.9 GB git clone).
#
#   hack/k8s-source.sh [DEST]        DEST defaults to $KUBEWASM_K8S_SRC or _output/kubernetes-src
#
# What it does (reference: docs in shared/reference/kubernetes-integration.md §3):
#   1. go mod download -json k8s.io/kubernetes@<BASE>   (module cache, read-only Dir)
#   2. copy it to DEST, make it writable, delete go.work (and build with GOWORK=off)
#   3. the module zip has no staging/src/k8s.io/* (nested modules are never in a zip), yet
#      go.mod requires each staging module at v0.0.0 and replaces it with ./staging/...:
#      rewrite every such k8s.io/* module to the published staging tag v0.<minor>.<patch>
#      with `go mod edit -replace` and `-require` (the list comes from `go mod edit -json`
#      through hack/tools/stagingmods.go, never hard-coded)
#   4. turn DEST into a tiny local git repository with the pristine prepared state tagged
#      `kubewasm-base`, so hack/apply-patches.sh can always return to it before patching
#   5. write DEST/.kubewasm-source; a rerun with the same BASE and the same version of this
#      script is a no-op.
#
# Why DEST lives in the checkout (_output/, git-ignored) and not in ~/.cache: the tree is
# patched and its go.mod points at this checkout's go/ shim (replace => $ROOT/go), so it
# belongs to one checkout. Redoing it is cheap: the pristine module stays in the Go module
# cache (GOMODCACHE), so a fresh copy takes seconds and needs no network; and with
# -trimpath the Go build cache does not key on the directory, so a new copy (or another
# checkout) reuses every compiled package.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=$(tr -d '[:space:]' <"$ROOT/patches/BASE")
DEST=${1:-${KUBEWASM_K8S_SRC:-$ROOT/_output/kubernetes-src}}
STAMP="$DEST/.kubewasm-source"
export GOWORK=off GOFLAGS=-mod=mod

[[ $BASE =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "patches/BASE: want v1.MINOR.PATCH, got '$BASE'" >&2; exit 1; }
STAGING="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

want="k8s.io/kubernetes@$BASE staging=$STAGING script=$(cat "${BASH_SOURCE[0]}" "$ROOT/hack/tools/stagingmods.go" | sha256sum | cut -c1-16)"
if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then
  exit 0
fi

log() { echo ">>> k8s-source: $*" >&2; }

log "downloading k8s.io/kubernetes@$BASE through $(go env GOPROXY)"
json=$(go mod download -json "k8s.io/kubernetes@$BASE")
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
[[ -n $dir && -d $dir ]] || { echo "go mod download failed: $json" >&2; exit 1; }

log "copying $dir -> $DEST"
rm -rf "$DEST.tmp"
mkdir -p "$(dirname "$DEST")"
cp -r "$dir" "$DEST.tmp"
chmod -R u+w "$DEST.tmp"
rm -f "$DEST.tmp/go.work" "$DEST.tmp/go.work.sum"

cd "$DEST.tmp"
# Every k8s.io/* module that go.mod requires at v0.0.0 or replaces with a ./staging path.
stagingmods() { go mod edit -json | (cd "$ROOT/hack/tools" && GOFLAGS= go run ./stagingmods.go "$@"); }
mapfile -t mods < <(stagingmods)
((${#mods[@]} > 0)) || { echo "no staging modules found in go.mod: unexpected layout" >&2; exit 1; }
mapfile -t reqs < <(stagingmods -required)
args=()
for m in "${mods[@]}"; do args+=("-replace=$m=$m@$STAGING"); done
# Also raise the requirements themselves (MVS would raise them to $STAGING anyway, since the
# staging modules require each other at that version): go.mod then stays stable under -mod=mod.
for m in "${reqs[@]}"; do args+=("-require=$m@$STAGING"); done
go mod edit "${args[@]}"
log "replaced ${#mods[@]} staging modules with @$STAGING (${#reqs[@]} required): ${mods[*]}"
# Left over: any local replace would point into a directory the zip does not have.
left=$(stagingmods -local)
[[ -z $left ]] || { printf 'go.mod still has local replaces:\n%s\n' "$left" >&2; exit 1; }

# Pristine prepared state, to return to before (re)applying patches.
git init -q .
git -c user.name=kubewasm -c user.email=kubewasm@invalid add -A
git -c user.name=kubewasm -c user.email=kubewasm@invalid commit -q -m "k8s.io/kubernetes@$BASE prepared (staging @$STAGING)"
git tag kubewasm-base
# Our stamps are not part of the tree (and survive `git clean`).
echo '/.kubewasm-*' >>.git/info/exclude
cd - >/dev/null

rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "$want" >"$STAMP"
log "ready: $DEST"
