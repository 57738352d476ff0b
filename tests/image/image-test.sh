#!/usr/bin/env bash
# Tests of the kube-apiserver image (`make test-image`, part of `make test`) and of the kubeadm
# configuration in examples/kubeadm. Nothing here uses the tool that built the image:
#
#   image     the OCI layout (_output/image/oci) is read with python3's json and sha256sum: one
#             image, every blob matches its digest, the config has upstream's entrypoint path,
#             user and PATH and the version labels; the docker-archive names the same config
#             and layers under $IMAGE_REPOSITORY/kube-apiserver:<patches/BASE>
#   unpack    the layers are unpacked with plain tar (xattrs kept) into an empty root: the binary
#             is the one `make apiserver` built and carries cap_net_bind_service
#   self      self-contained: the image holds exactly the shared objects `ldd` lists for the
#             binary (loader included); inside the root (chroot, empty environment, no /proc)
#             the image's loader resolves every library and `kube-apiserver --version` runs,
#             as root and as the nonroot user 65532
#   kubeadm   kubeadm (make kubeadm, built from the same module graph) validates the examples,
#             rejects an apiServer.image field (kubeadm has none), lists the image as the
#             kube-apiserver image, and, on a fake node root (--rootfs), generates the
#             certificates, a kubeconfig and the static Pod manifests; the manifest has the image,
#             the WASM flags and the read-only /etc/kubernetes/wasm mount; the patch alternative
#             puts its image into the manifest
#   serve     the node's files are checked with the new build's CLI (bin/kubewasm check); the
#             image's kube-apiserver runs from the unpacked root (chroot) with the command
#             line of that manifest (plus a local etcd and a free loopback port), the node's
#             /etc/kubernetes/pki and /etc/kubernetes/wasm bind-mounted read-only as the kubelet
#             would, the example configuration (examples/*.yaml with /etc/kubernetes/wasm paths)
#             and modules (build/modules): the magic scenario
#   upgrade   kubeadm's own upload-config is denied by the example policy (the guide's warning);
#             `kubeadm upgrade diff` against that server (the ClusterConfiguration stored as
#             kubeadm-config): the next release's manifest keeps the WASM flags and mount and
#             takes kube-apiserver from imageRepository, never from registry.k8s.io
#   podman    only where podman is installed: load the docker-archive, run --version in a
#             container, then the server (same command line, the node's directories as volumes)
#             and three steps of the magic scenario against it
#
# Needs root (chroot, mounts in a private mount namespace), python3, curl, readelf, util-linux.
# Prints one line per assertion and `N passed, M failed`; exits non-zero when one failed.
# Environment: KUBEWASM_BIN (default _output/bin), IMAGE_DIR (default _output/image),
# IMAGE_REPOSITORY (default localhost/kubewasm), MODULES (default build/modules),
# PODMAN_FLAGS / PODMAN_RUN_FLAGS (see the podman part), IMAGE_TEST_KEEP=1 keeps the temp directory.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
IMAGE_DIR=${IMAGE_DIR:-$ROOT/_output/image}
MODULES=${MODULES:-$ROOT/build/modules}
BASE=$(tr -d '[:space:]' <"$ROOT/patches/BASE")
REPO=${IMAGE_REPOSITORY:-localhost/kubewasm}
REF=$REPO/kube-apiserver:$BASE
# shellcheck source=../../hack/lib.sh
source "$ROOT/hack/lib.sh"
PASSED=0
FAILED=0
ETCD_PID=
SERVER_PID=

pass() {
  PASSED=$((PASSED + 1))
  printf '  ok    %s\n' "$1"
}
fail() {
  FAILED=$((FAILED + 1))
  printf '  FAIL  %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '        %s\n' "$line"; done
}
eq() { if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi; }
has() {
  if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1" "expected /$3/ in:" "$(head -c 1500 <<<"$2")"; fi
}
# contains NAME TEXT BLOCK: TEXT contains BLOCK verbatim (several lines).
contains() {
  if [[ $2 == *"$3"* ]]; then pass "$1"; else fail "$1" "expected this block:" "$3" "in:" "$(head -c 3000 <<<"$2")"; fi
}
hasnt() {
  if grep -Eq -- "$3" <<<"$2"; then fail "$1" "unexpected /$3/ in:" "$(grep -E -- "$3" <<<"$2" | head -5)"; else pass "$1"; fi
}
# ran RC NAME: the command whose exit status is RC (its output in $out) succeeded.
ran() {
  local rc=$1
  if ((rc == 0)); then pass "$2"; else fail "$2" "exit status $rc" "$(tail -15 <<<"$out")"; fi
}
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
section() { printf '%s\n' "$1"; }

# json FILE PYTHON-EXPRESSION: the expression over the parsed file `d`, printed (lists one item
# a line).
json() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
for x in (v if isinstance(v, list) else [v]):
    print(x if isinstance(x, str) else json.dumps(x, sort_keys=True))
EOF
}

cleanup() {
  trap - EXIT INT TERM
  if [[ -n ${CONTAINER:-} ]]; then podman rm -f "$CONTAINER" >/dev/null 2>&1; fi
  stop_group "$SERVER_PID" 60
  if [[ -n $ETCD_PID ]] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill -TERM "$ETCD_PID" 2>/dev/null
    wait "$ETCD_PID" 2>/dev/null
  fi
  if [[ -n ${IMAGE_TEST_KEEP:-} ]]; then echo "image-test: kept $TMP"; else rm -rf "$TMP"; fi
}

# stop_group PID SECONDS: TERM to the process group PID leads (setsid), KILL after SECONDS.
stop_group() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

if ((EUID != 0)); then
  echo "image-test: needs root (chroot into the unpacked image, bind mounts in a private mount namespace)" >&2
  exit 1
fi
for f in "$BIN/kube-apiserver" "$BIN/etcd" "$BIN/kubeadm" "$IMAGE_DIR/oci/index.json" "$IMAGE_DIR/kube-apiserver.tar"; do
  [[ -e $f ]] || { echo "image-test: $f is missing: run make image kubeadm" >&2; exit 1; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kubewasm-image.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
START=$SECONDS

# --- image: the OCI layout and the docker-archive -------------------------------------------
section "image: $IMAGE_DIR"
OCI=$IMAGE_DIR/oci
blob() { echo "$OCI/blobs/${1%%:*}/${1#*:}"; }
# verified DIGEST: the blob's content matches its name
verified() { [[ -f $(blob "$1") ]] && [[ sha256:$(sha256sum <"$(blob "$1")" | cut -d' ' -f1) == "$1" ]]; }

eq "the layout holds one image" "$(json "$OCI/index.json" 'len(d["manifests"])')" 1
eq "the index names it $REF" "$(json "$OCI/index.json" 'd["manifests"][0]["annotations"]["io.containerd.image.name"]')" "$REF"
MANIFEST_DIGEST=$(json "$OCI/index.json" 'd["manifests"][0]["digest"]')
check "the manifest matches its digest" verified "$MANIFEST_DIGEST"
MANIFEST=$(blob "$MANIFEST_DIGEST")
eq "an OCI image manifest" "$(json "$MANIFEST" 'd["mediaType"]')" application/vnd.oci.image.manifest.v1+json
CONFIG_DIGEST=$(json "$MANIFEST" 'd["config"]["digest"]')
mapfile -t LAYERS < <(json "$MANIFEST" '[l["digest"] for l in d["layers"]]')
check "the config matches its digest" verified "$CONFIG_DIGEST"
ok=1
for l in "${LAYERS[@]}"; do verified "$l" || ok=0; done
eq "${#LAYERS[@]} layers, each matches its digest" "$ok" 1
eq "layers are gzip tar" "$(json "$MANIFEST" 'sorted(set(l["mediaType"] for l in d["layers"]))')" \
  application/vnd.oci.image.layer.v1.tar+gzip
CONFIG=$(blob "$CONFIG_DIGEST")
eq "entrypoint: upstream's path" "$(json "$CONFIG" 'd["config"]["Entrypoint"]')" /usr/local/bin/kube-apiserver
eq "user: root, as upstream's image (no User)" "$(json "$CONFIG" 'd["config"].get("User", "")')" ""
has "PATH has /usr/local/bin (kubeadm's command is plain kube-apiserver)" \
  "$(json "$CONFIG" 'd["config"]["Env"]')" '^PATH=(.*:)?/usr/local/bin(:|$)'
eq "os/architecture" "$(json "$CONFIG" 'd["os"] + "/" + d["architecture"]')" "linux/$(go env GOARCH 2>/dev/null || echo amd64)"
eq "label io.kubewasm.kubernetes-version" "$(json "$CONFIG" 'd["config"]["Labels"]["io.kubewasm.kubernetes-version"]')" "$BASE"
KUBEWASM_VERSION=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
eq "label io.kubewasm.version" "$(json "$CONFIG" 'd["config"]["Labels"]["io.kubewasm.version"]')" "$KUBEWASM_VERSION"
eq "label org.opencontainers.image.version" \
  "$(json "$CONFIG" 'd["config"]["Labels"]["org.opencontainers.image.version"]')" "$BASE-kubewasm"
has "label org.opencontainers.image.revision is a commit" \
  "$(json "$CONFIG" 'd["config"]["Labels"]["org.opencontainers.image.revision"]')" '^[0-9a-f]{40}(-dirty)?$'

mkdir -p "$TMP/archive"
tar -xf "$IMAGE_DIR/kube-apiserver.tar" -C "$TMP/archive" manifest.json
eq "docker-archive: RepoTags" "$(json "$TMP/archive/manifest.json" 'd[0]["RepoTags"]')" "$REF"
eq "docker-archive: the same config" "$(json "$TMP/archive/manifest.json" 'd[0]["Config"]')" "$CONFIG_DIGEST"
eq "docker-archive: the same layers" "$(json "$TMP/archive/manifest.json" '[x.split(".")[0] for x in d[0]["Layers"]]')" \
  "$(printf '%s\n' "${LAYERS[@]#sha256:}")"

# --- unpack: plain tar over the layers, in order --------------------------------------------
section "unpack"
ROOTFS=$TMP/rootfs
mkdir -p "$ROOTFS"
ok=1
for l in "${LAYERS[@]}"; do
  if tar -tzf "$(blob "$l")" | grep -q '(^|/)\.wh\.'; then ok=0; fi
  tar --xattrs --xattrs-include='security.capability' --numeric-owner -xzf "$(blob "$l")" -C "$ROOTFS" || ok=0
done
eq "the layers unpack with tar (no whiteouts)" "$ok" 1
APISERVER=$ROOTFS/usr/local/bin/kube-apiserver
check "/usr/local/bin/kube-apiserver is the binary make apiserver built" cmp -s "$APISERVER" "$BIN/kube-apiserver"
eq "it carries cap_net_bind_service=+ep, as upstream's" \
  "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "security.capability").hex())' "$APISERVER" 2>&1)" \
  0100000200040000000000000000000000000000
eq "/etc/passwd has nonroot 65532" "$(grep -c '^nonroot:x:65532:65532:' "$ROOTFS/etc/passwd")" 1
eq "/tmp is world-writable and sticky" "$(stat -c %a "$ROOTFS/tmp")" 1777

# --- self: exactly what ldd lists, and it runs with nothing from the host --------------------
section "self-contained"
INTERP=$(readelf -l "$APISERVER" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
# ldd's answer on the build host: name => path, and the loader by its path.
LDD=$(ldd "$BIN/kube-apiserver" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  xargs -n1 basename | sort)
IMAGE_SOS=$(find "$ROOTFS" -type f -name '*.so*' -printf '%f\n' | sort)
eq "the image's shared objects are exactly ldd's (loader included)" "$(tr '\n' ' ' <<<"$IMAGE_SOS")" "$(tr '\n' ' ' <<<"$LDD")"
has "the binary is dynamically linked against glibc (the case this image handles)" "$LDD" '^libc\.so\.6$'
check "the loader $INTERP is at its path in the image" test -f "$ROOTFS$INTERP"
out=$(env -i /usr/sbin/chroot "$ROOTFS" "$INTERP" --list /usr/local/bin/kube-apiserver 2>&1)
eq "inside the root the image's own loader resolves every library" "$?$(grep -c 'not found' <<<"$out")" 00
hasnt "… none from outside the image's library directories" "$out" '=> /(usr/)?local|=> /opt'
out=$(env -i /usr/sbin/chroot "$ROOTFS" /usr/local/bin/kube-apiserver --version 2>&1)
eq "chroot: kube-apiserver --version (root)" "$out" "Kubernetes $BASE-kubewasm"
out=$(env -i /usr/sbin/chroot --userspec=65532:65532 "$ROOTFS" /usr/local/bin/kube-apiserver --version 2>&1)
eq "chroot: kube-apiserver --version (nonroot 65532)" "$out" "Kubernetes $BASE-kubewasm"
out=$(env -i /usr/sbin/chroot "$ROOTFS" /usr/local/bin/kube-apiserver --help 2>&1)
has "chroot: the WASM flags are there" "$out" 'authentication-wasm-config-file'

# --- kubeadm: validation, images, manifests ----------------------------------------------------
section "kubeadm: $("$BIN/kubeadm" version -o short 2>&1)"
KUBEADM_EX=$ROOT/examples/kubeadm
for f in cluster-configuration.yaml upgrade-configuration.yaml; do
  out=$("$BIN/kubeadm" config validate --config "$KUBEADM_EX/$f" 2>&1)
  ran $? "kubeadm config validate examples/kubeadm/$f"
done
# kubeadm has no per-component image field: a strict decoder error, not silently ignored.
sed 's/^apiServer:$/apiServer:\n  image: '"${REF//\//\\/}"'/' "$KUBEADM_EX/cluster-configuration.yaml" >"$TMP/bad.yaml"
out=$("$BIN/kubeadm" config validate --config "$TMP/bad.yaml" 2>&1)
has "kubeadm config validate rejects apiServer.image (no such field)" "$?:$out" '^[1-9][0-9]*:.*unknown field "apiServer.image"'

# The node as kubeadm sees it (--rootfs: kubeadm chroots there): its configuration files.
NODE=$TMP/node
mkdir -p "$NODE/kubeadm" "$NODE/etc/kubernetes/wasm/modules" "$NODE/tmp"
# The example with the image's repository, and the cluster endpoint on loopback (kubeconfigs and
# certificates name it). kubeadm refuses a loopback advertise address and, chrooted, cannot see
# the host's routes: the node advertises a documentation address (TEST-NET-3) that nothing
# connects to (the server is started with --advertise-address=127.0.0.1 appended).
PORT=$(free_port)
sed "s#^imageRepository: .*#imageRepository: $REPO\ncontrolPlaneEndpoint: 127.0.0.1:$PORT#" \
  "$KUBEADM_EX/cluster-configuration.yaml" >"$NODE/kubeadm/cluster.yaml"
NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')
# init_configuration [EXTRA-YAML]: an InitConfiguration for this node, then the cluster's.
init_configuration() {
  printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n'
  printf '  advertiseAddress: 203.0.113.10\n  bindPort: %s\nnodeRegistration:\n  name: %s\n%s---\n' \
    "$PORT" "$NODE_NAME" "${1:-}"
  cat "$NODE/kubeadm/cluster.yaml"
}
init_configuration >"$NODE/kubeadm/init.yaml"
out=$("$BIN/kubeadm" config images list --config "$NODE/kubeadm/cluster.yaml" 2>&1)
eq "kubeadm config images list: kube-apiserver is the image" "$(grep /kube-apiserver: <<<"$out")" "$REF"
has "… the other control-plane images come from the same repository" "$out" "^$REPO/kube-controller-manager:$BASE$"
has "… etcd stays on registry.k8s.io" "$out" '^registry\.k8s\.io/etcd:'
has "… CoreDNS stays on registry.k8s.io" "$out" '^registry\.k8s\.io/coredns/coredns:'

kadm() { "$BIN/kubeadm" --rootfs "$NODE" "$@" 2>&1; }
out=$(kadm init phase certs all --config /kubeadm/init.yaml)
ran $? "kubeadm --rootfs NODE init phase certs all"
out=$(kadm init phase kubeconfig super-admin --config /kubeadm/init.yaml)
ran $? "kubeadm --rootfs NODE init phase kubeconfig super-admin"
out=$(kadm init phase control-plane all --config /kubeadm/init.yaml)
ran $? "kubeadm --rootfs NODE init phase control-plane all"
MANIFEST_YAML=$NODE/etc/kubernetes/manifests/kube-apiserver.yaml
pod=$(cat "$MANIFEST_YAML" 2>&1)
has "the manifest: image" "$pod" "^    image: $REF$"
for flag in "authorization-mode=Node,RBAC,WASM" "authorization-wasm-config-file=/etc/kubernetes/wasm/authorization.yaml" \
  "authentication-wasm-config-file=/etc/kubernetes/wasm/authentication.yaml" "enable-admission-plugins=NodeRestriction,WASM" \
  "admission-control-config-file=/etc/kubernetes/wasm/admission.yaml"; do
  has "the manifest: --$flag" "$pod" "^    - --$flag$"
done
contains "the manifest: /etc/kubernetes/wasm mounted read-only" "$pod" \
  '- mountPath: /etc/kubernetes/wasm'$'\n''      name: wasm'$'\n''      readOnly: true'
contains "the manifest: the wasm volume is the node's directory" "$pod" \
  '- hostPath:'$'\n''      path: /etc/kubernetes/wasm'$'\n''      type: Directory'$'\n''    name: wasm'

# The patch alternative: upstream's repository, the image from a kubeadm patch.
NODE2=$TMP/node-patch
mkdir -p "$NODE2/kubeadm" "$NODE2/etc/kubernetes/kubeadm-patches" "$NODE2/tmp"
cp "$KUBEADM_EX"/patches/* "$NODE2/etc/kubernetes/kubeadm-patches/"
init_configuration $'patches:\n  directory: /etc/kubernetes/kubeadm-patches\n' | sed '/^imageRepository:/d' \
  >"$NODE2/kubeadm/init.yaml"
out=$("$BIN/kubeadm" --rootfs "$NODE2" init phase control-plane apiserver --config /kubeadm/init.yaml 2>&1)
ran $? "patch alternative: kubeadm init phase control-plane apiserver (patches.directory)"
PATCH_IMAGE=$(sed -n 's/^    image: //p' "$KUBEADM_EX/patches/kube-apiserver0+strategic.yaml")
has "patch alternative: the manifest has the patch's image" \
  "$(cat "$NODE2/etc/kubernetes/manifests/kube-apiserver.yaml" 2>&1)" "^    image: ${PATCH_IMAGE//./\\.}$"

# --- serve: the image's kube-apiserver with the manifest's command line -----------------------
section "serve: the manifest's command line, from the unpacked image"
# The node's files: the example configuration with the node's paths, and the modules it names.
for f in authentication authorization admission; do
  sed 's#\.\./build/modules#/etc/kubernetes/wasm/modules#' "$ROOT/examples/$f.yaml" >"$NODE/etc/kubernetes/wasm/$f.yaml"
done
mapfile -t NODE_MODULES < <(sed -n 's#.*module: /etc/kubernetes/wasm/modules/##p' "$NODE"/etc/kubernetes/wasm/*.yaml | sort -u)
for m in "${NODE_MODULES[@]}"; do
  cp "$MODULES/$m" "$NODE/etc/kubernetes/wasm/modules/" || fail "module $m is in $MODULES (make fixtures policies)"
done
# The new build's CLI parses and loads the node's files as the server will (with the module paths
# pointing into the test's node directory; the server itself sees the real paths).
mkdir -p "$TMP/check"
for f in authentication authorization admission; do
  sed "s#/etc/kubernetes/wasm/modules#$NODE/etc/kubernetes/wasm/modules#" "$NODE/etc/kubernetes/wasm/$f.yaml" >"$TMP/check/$f.yaml"
  out=$("$ROOT/bin/kubewasm" check --kind "$f" "$TMP/check/$f.yaml" 2>&1)
  ran $? "kubewasm check --kind $f: the node's $f.yaml"
done
# The container's command: the manifest's `command:` list (kubeadm writes one item a line).
mapfile -t CMD < <(awk '/^  (- |  )command:$/ { c = 1; next } c && /^    - / { sub(/^    - /, ""); print; next } { c = 0 }' "$MANIFEST_YAML")
eq "the manifest's command starts with kube-apiserver" "${CMD[0]:-}" kube-apiserver
# What differs on this machine: the local etcd (plain HTTP on a free port, not kubeadm's TLS etcd
# on :2379; --etcd-servers is a list, so the manifest's entries are dropped, not overridden)
# and loopback only (kubeadm binds every address and advertises the node's address; a loopback
# advertise address needs --endpoint-reconciler-type=none, as in hack/run.sh).
ARGS=()
for a in "${CMD[@]:1}"; do
  case $a in
    --etcd-servers=* | --etcd-cafile=* | --etcd-certfile=* | --etcd-keyfile=* | --advertise-address=* | --bind-address=*) ;;
    *) ARGS+=("$a") ;;
  esac
done
if ! start_etcd image "$TMP"; then
  fail "etcd starts"
else
  # The node's hostPath directories the test prepared, bind-mounted read-only into the root at
  # the manifest's mount paths (in a private mount namespace: gone with the process), then the
  # manifest's command line with the changes above.
  mkdir -p "$ROOTFS/etc/kubernetes/pki" "$ROOTFS/etc/kubernetes/wasm"
  # shellcheck disable=SC2016 # $1, $2, $3 are the inner shell's
  setsid unshare --mount --propagation private sh -ec '
    mount --bind -o ro "$1/etc/kubernetes/pki" "$2/etc/kubernetes/pki"
    mount --bind -o ro "$1/etc/kubernetes/wasm" "$2/etc/kubernetes/wasm"
    root=$2; shift 2
    exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/chroot "$root" "$@"' \
    sh "$NODE" "$ROOTFS" /usr/local/bin/kube-apiserver "${ARGS[@]}" \
    --etcd-servers="$ETCD_URL" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    >"$TMP/apiserver.log" 2>&1 &
  SERVER_PID=$!
  URL=https://127.0.0.1:$PORT
  PKI=$NODE/etc/kubernetes/pki
  CONF=$NODE/etc/kubernetes/super-admin.conf
  sed -n 's/^ *client-certificate-data: //p' "$CONF" | base64 -d >"$TMP/admin.crt"
  sed -n 's/^ *client-key-data: //p' "$CONF" | base64 -d >"$TMP/admin.key"
  admin=(--cert "$TMP/admin.crt" --key "$TMP/admin.key")
  ready=0 t0=$SECONDS
  for ((i = 0; i < 240; i++)); do
    if curl -sf --cacert "$PKI/ca.crt" "${admin[@]}" "$URL/readyz" -o /dev/null; then ready=1; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.5
  done
  if ((ready)); then
    pass "the image's kube-apiserver serves on $URL ($((SECONDS - t0))s)"
  else
    fail "the image's kube-apiserver serves on $URL" "$(tail -20 "$TMP/apiserver.log")"
  fi
fi

# req TOKEN|admin METHOD PATH [JSON]: sets CODE and BODY.
req() {
  local who=$1 method=$2 path=$3 data=${4:-} auth
  if [[ $who == admin ]]; then auth=("${admin[@]}"); else auth=(-H "Authorization: Bearer $who"); fi
  local args=(-sS -A kubewasm-image-test --cacert "$PKI/ca.crt" "${auth[@]}" -X "$method" -o "$TMP/body"
    -w '%{http_code}' --max-time 30)
  [[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  CODE=$(curl "${args[@]}" "$URL$path" 2>&1)
  BODY=$(cat "$TMP/body" 2>/dev/null)
  rm -f "$TMP/body"
}
configmap() {
  printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","annotations":%s},"data":%s}' "$1" "$2" "$3"
}
OWNER='{"puzzle.ch/owner":"image-test"}'

if ((${ready:-0})); then
  req magic-token POST /apis/authentication.k8s.io/v1/selfsubjectreviews \
    '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  eq "whoami (magic-token): 201" "$CODE" 201
  has "whoami: magic-user in magic-group (WASM authenticator)" "$BODY" '"username":"magic-user".*"groups":\["magic-group"'
  req magic-token GET /api/v1/namespaces/default/configmaps
  eq "magic-user lists ConfigMaps: 200 (WASM authorizer)" "$CODE" 200
  req magic-token GET /api/v1/namespaces/default/secrets
  eq "magic-user lists Secrets: 403" "$CODE" 403
  req magic-token POST /api/v1/namespaces/default/configmaps "$(configmap image-magic "$OWNER" '{"a":"b"}')"
  eq "magic-user creates a ConfigMap: 201" "$CODE" 201
  has "… it gained magic-value: foobar (magic-mutator)" "$BODY" '"magic-value":"foobar"'
  req magic-token POST /api/v1/namespaces/default/configmaps "$(configmap image-rejected "$OWNER" '{"not-allowed-value":"x"}')"
  eq "not-allowed-value: 403" "$CODE" 403
  has "… magic-validator's message" "$BODY" "magic-validator.*denied the request: value 'not-allowed-value' not allowed in configmap"
  req magic-token POST /api/v1/namespaces/default/configmaps "$(configmap image-no-owner '{}' '{"a":"b"}')"
  has "no puzzle.ch/owner: denied by safe-annotations (Kubewarden policy)" "$CODE $BODY" \
    '^4[0-9][0-9] .*safe-annotations.*denied the request: The following mandatory annotations are missing: puzzle.ch/owner'
  req not-a-magic-token GET /api/v1/namespaces/default/configmaps
  eq "an unknown token: 401" "$CODE" 401
  req admin GET /metrics
  has "metrics: the modules ran inside the image's server" "$BODY" '^apiserver_wasm_module_duration_seconds_count\{kind="admission"'
  hasnt "the server logged no error about module files" "$(cat "$TMP/apiserver.log")" 'cannot read module file|permission denied'

  # --- upgrade: kubeadm upgrade diff against this cluster -------------------------------------
  section "upgrade"
  # kubeadm's own upload of its configuration is a ConfigMap without the owner annotation the
  # example's safe-annotations policy demands on every ConfigMap: denied (kubeadm retries until
  # its API call timeout, 5 s here).
  init_configuration $'timeouts:\n  kubernetesAPICall: 5s\n' >"$NODE/kubeadm/init-upload.yaml"
  out=$(kadm init phase upload-config kubeadm --config /kubeadm/init-upload.yaml --kubeconfig /etc/kubernetes/super-admin.conf)
  rc=$?
  check "kubeadm init phase upload-config fails" test "$rc" -ne 0
  has "… denied by the example's safe-annotations policy" "$out" \
    'safe-annotations.*mandatory annotations are missing: puzzle.ch/owner'
  # So the test stores what `kubeadm init` would have (with the annotation), and the node
  # kubeadm asks about.
  local_cm=$(python3 -c 'import json, sys
print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
  "metadata": {"name": "kubeadm-config", "annotations": json.loads(sys.argv[2])},
  "data": {"ClusterConfiguration": open(sys.argv[1]).read()}}))' "$NODE/kubeadm/cluster.yaml" "$OWNER")
  req admin POST /api/v1/namespaces/kube-system/configmaps "$local_cm"
  eq "the ClusterConfiguration is stored as kube-system/kubeadm-config" "$CODE" 201
  req admin POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$NODE_NAME\"}}"
  eq "the node object exists" "$CODE" 201
  # The mirror Pod the kubelet would create for the static Pod: kubeadm reads the node's API
  # endpoint from its annotation. (kube-system/default is the controller manager's job: none here.)
  req admin POST /api/v1/namespaces/kube-system/serviceaccounts '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}'
  endpoint=$(sed -n 's/^ *kubeadm.kubernetes.io\/kube-apiserver.advertise-address.endpoint: //p' "$MANIFEST_YAML")
  req admin POST /api/v1/namespaces/kube-system/pods "$(printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kube-apiserver-%s","labels":{"component":"kube-apiserver","tier":"control-plane"},"annotations":{"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint":"%s"}},"spec":{"nodeName":"%s","containers":[{"name":"kube-apiserver","image":"%s"}]}}' "$NODE_NAME" "$endpoint" "$NODE_NAME" "$REF")"
  eq "the kube-apiserver mirror Pod exists (endpoint $endpoint)" "$CODE" 201
  NEXT=$(awk -F. '{ printf "%s.%s.%d", $1, $2, $3 + 1 }' <<<"$BASE")
  out=$(kadm upgrade diff "$NEXT" --kubeconfig /etc/kubernetes/super-admin.conf)
  ran $? "kubeadm --rootfs NODE upgrade diff $NEXT"
  contains "upgrade: kube-apiserver $BASE → $NEXT from $REPO" "$out" \
    "-    image: $REF"$'\n'"+    image: $REPO/kube-apiserver:$NEXT"
  hasnt "upgrade: never upstream's kube-apiserver image" "$out" 'registry\.k8s\.io/kube-apiserver'
  echo "$out" >"$TMP/upgrade.diff"
  hasnt "upgrade: the WASM flags and the mount stay" "$out" '^-.*(wasm-config-file|WASM|/etc/kubernetes/wasm|name: wasm)'
  eq "upgrade: only the three images change" "$(grep -c '^[-+] ' <<<"$out")" 6
fi

# --- podman, where installed ------------------------------------------------------------------
# On this kind of machine podman needs runc (crun refuses the hybrid cgroup v1/v2 layout) and
# limits no higher than the machine's hard limits (CAP_SYS_RESOURCE is withheld):
# see docs/operator-guide.md §6.1. PODMAN_FLAGS (global) and PODMAN_RUN_FLAGS override them.
if command -v podman >/dev/null; then
  section "podman"
  if [[ -z ${PODMAN_FLAGS+set} ]]; then
    PODMAN_FLAGS=
    if command -v runc >/dev/null; then PODMAN_FLAGS="--runtime runc"; fi
  fi
  PODMAN_RUN_FLAGS=${PODMAN_RUN_FLAGS-"--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"}
  read -ra pflags <<<"$PODMAN_FLAGS"
  read -ra prflags <<<"$PODMAN_RUN_FLAGS"
  out=$(podman load -i "$IMAGE_DIR/kube-apiserver.tar" 2>&1)
  ran $? "podman load -i kube-apiserver.tar"
  out=$(podman "${pflags[@]}" run --rm --network=host "${prflags[@]}" "$REF" --version 2>&1)
  eq "podman run $REF --version" "$out" "Kubernetes $BASE-kubewasm"
  # The server in a container, as the kubelet would start it: the manifest's command line (with
  # the changes above, its own port and etcd prefix), the node's directories mounted read-only.
  if ((${ready:-0})); then
    PODMAN_PORT=$(free_port)
    CONTAINER=kubewasm-image-test-$$
    out=$(podman "${pflags[@]}" run -d --name "$CONTAINER" --network=host "${prflags[@]}" \
      -v "$NODE/etc/kubernetes/pki:/etc/kubernetes/pki:ro" -v "$NODE/etc/kubernetes/wasm:/etc/kubernetes/wasm:ro" \
      "$REF" "${ARGS[@]}" --secure-port="$PODMAN_PORT" --etcd-prefix=/podman \
      --etcd-servers="$ETCD_URL" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none 2>&1)
    ran $? "podman run -d: the image's kube-apiserver in a container"
    URL=https://127.0.0.1:$PODMAN_PORT ready=0 t0=$SECONDS
    for ((i = 0; i < 240; i++)); do
      if curl -sf --cacert "$PKI/ca.crt" "${admin[@]}" "$URL/readyz" -o /dev/null; then ready=1; break; fi
      [[ $(podman inspect -f '{{.State.Running}}' "$CONTAINER" 2>/dev/null) == true ]] || break
      sleep 0.5
    done
    if ((ready)); then
      pass "the container serves on $URL ($((SECONDS - t0))s)"
      req magic-token POST /apis/authentication.k8s.io/v1/selfsubjectreviews \
        '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
      has "container: whoami (magic-token) is magic-user" "$CODE $BODY" '^201 .*"username":"magic-user"'
      req magic-token POST /api/v1/namespaces/default/configmaps "$(configmap podman-magic "$OWNER" '{"a":"b"}')"
      has "container: a new ConfigMap gains magic-value: foobar" "$CODE $BODY" '^201 .*"magic-value":"foobar"'
      req magic-token POST /api/v1/namespaces/default/configmaps "$(configmap podman-rejected "$OWNER" '{"not-allowed-value":"x"}')"
      has "container: not-allowed-value is rejected by magic-validator" "$CODE $BODY" '^403 .*magic-validator'
    else
      fail "the container serves on $URL" "$(podman logs "$CONTAINER" 2>&1 | tail -15)"
    fi
    podman stop -t 30 "$CONTAINER" >/dev/null 2>&1
    podman rm -f "$CONTAINER" >/dev/null 2>&1
    CONTAINER=
  fi
  podman rmi "$REF" >/dev/null 2>&1
fi

echo "image-test: $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
