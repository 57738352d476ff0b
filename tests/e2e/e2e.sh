#!/usr/bin/env bash
# End-to-end tests of the patched kube-apiserver (`make test-e2e`, part of `make test`).
#
# The real binaries of `make apiserver` (_output/bin) and the fixture modules of
# `make fixtures policies` (build/modules); one etcd for the whole run; the API servers are
# started with hack/run.sh (the script behind `make run`) on free ports of 127.0.0.1, one per
# scenario group, each with its own etcd prefix, temp directory and certificates.
#
#   tests/e2e/e2e.sh [GROUP...]     default: every group, in this order
#
#   flags     flag validation: WASM mode without its file and the reverse (both styles), a
#             missing authentication file (no server needed: the server stops before etcd)
#   broken    the server refuses to start on a broken configuration of each of the three flags
#             and names the file, the module and the field
#   examples  examples/ exactly as `make run` uses it: the demo (hack/demo.sh) and every step
#             of the scenario asserted through the HTTP API; the admin is unaffected
#   rego      Rego modules (type opa and gatekeeper: the modules/rego fixtures) on ConfigMaps and
#             Pods of one namespace: the opa policy's message, rejections listing several
#             violations of each Gatekeeper-style policy, admitted objects; other namespaces are
#             not governed
#   hostile   hostile-loop as authenticator, authorizer (failurePolicy Deny, via a structured
#             --authorization-config) and admission module on ConfigMaps in one namespace
#             (admission configured by path:): each such call fails within its timeout
#             while other requests keep being served; hostile-answer's doubling JSONPatch
#             copies fail fast naming the bound, without the server's memory growing; the
#             admin never reaches the WASM
#             authorizer; the server stays healthy and stops cleanly
#   rollout   validationActions on the magic validator, with an audit log: Warn admits the
#             ConfigMap it rejects and kubectl prints the module's message as a warning; Audit
#             admits it and the audit event carries the validation-failure annotation; Deny
#             (the default) still rejects; the mutator's patch is applied in every case
#   reload    KUBEWASM_CONFIG_RELOAD_INTERVAL=1s: a module file replaced while the server runs
#             changes the decision within 10 s, no restart; a broken configuration (a bad field,
#             a module that is not WebAssembly) leaves the old one serving, is logged naming the
#             file, module and field, and shows in /metrics; requests in a loop while the three
#             configurations are reloaded several times all succeed (reliability rows 19, 20)
#
# Prints one line per assertion and a final line `N passed, M failed`; exits non-zero when an
# assertion failed. Everything started is stopped on exit (trap), the temp directory removed
# (kept with E2E_KEEP=1). Environment: KUBEWASM_BIN (default _output/bin), MODULES (default
# build/modules).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
# shellcheck source=../../hack/lib.sh
source "$ROOT/hack/lib.sh"
MODULES=${MODULES:-$ROOT/build/modules}
PASSED=0
FAILED=0
FAILURES=()
RUN_PIDS=()
ETCD_PID=

# --- assertions ------------------------------------------------------------------------------

pass() {
  PASSED=$((PASSED + 1))
  printf '  ok    %s\n' "$1"
}
fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("[$GROUP] $1")
  printf '  FAIL  %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '        %s\n' "$line"; done
}
# check NAME COMMAND...: COMMAND succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
# has NAME TEXT ERE: TEXT matches the extended regular expression ERE.
has() {
  if grep -Eq -- "$3" <<<"$2"; then
    pass "$1"
  else
    fail "$1" "expected /$3/ in:" "$(head -c 1500 <<<"$2")"
  fi
}
hasnt() {
  if grep -Eq -- "$3" <<<"$2"; then
    fail "$1" "unexpected /$3/ in:" "$(head -c 1500 <<<"$2")"
  else
    pass "$1"
  fi
}
# eq NAME GOT WANT
eq() {
  if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}
# between NAME VALUE LOW HIGH: LOW <= VALUE < HIGH (decimals)
between() {
  if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v < hi) }'; then
    pass "$1 ($2 s)"
  else
    fail "$1" "got $2 s, want [$3, $4) s"
  fi
}

# --- processes -------------------------------------------------------------------------------


# start_server NAME EXAMPLES_DIR [VAR=VALUE...]: hack/run.sh in the background with its own
# RUN_DIR ($TMP/NAME), port, etcd prefix; waits until it serves (returns 0) or exits (returns 1).
# Sets RUN_DIR, URL, CA, ADMIN (the admin's token), RUN_PID.
start_server() {
  local name=$1 examples=$2
  shift 2
  RUN_DIR=$TMP/$name
  mkdir -p "$RUN_DIR"
  local port
  port=$(free_port)
  env RUN_DIR="$RUN_DIR" PORT="$port" EXAMPLES="$examples" KUBEWASM_BIN="$BIN" \
    ETCD_SERVERS="$ETCD_URL" APISERVER_FLAGS="--etcd-prefix=/$name ${APISERVER_FLAGS:-}" "$@" \
    setsid "$ROOT/hack/run.sh" >"$RUN_DIR/run.log" 2>&1 &
  RUN_PID=$!
  RUN_PIDS+=("$RUN_PID")
  URL=https://127.0.0.1:$port
  CA=$RUN_DIR/pki/ca.crt
  START_SECONDS=$SECONDS
  local i
  for ((i = 0; i < 400; i++)); do
    if [[ -f $RUN_DIR/ready ]]; then
      ADMIN=$(cat "$RUN_DIR/admin-token")
      return 0
    fi
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

# stop_server: TERM to hack/run.sh (as Ctrl-C on `make run`); it stops the API server.
stop_server() {
  local pid=$RUN_PID i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 900; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$pid" 2>/dev/null
}

# stopped NAME: stop_server, then the API server process must be gone.
stopped() {
  local pid
  pid=$(cat "$RUN_DIR/apiserver.pid" 2>/dev/null)
  stop_server
  if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && [[ ! -e $RUN_DIR/apiserver.pid ]]; then
    pass "$1: SIGTERM to hack/run.sh stops the API server"
  else
    fail "$1: SIGTERM to hack/run.sh stops the API server" "pid ${pid:-?} still there"
  fi
}

# wait_exit PID SECONDS: wait for a run.sh that is expected to give up by itself.
wait_exit() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  return 1
}

cleanup() {
  local pid f
  trap - EXIT INT TERM
  for pid in "${RUN_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait_exit "$pid" 90
  done
  # Anything hack/run.sh could not stop (it writes the ids, and removes them when done).
  for f in "$TMP"/*/apiserver.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$BIN/kube-apiserver" ]] && kill -KILL "$pid" 2>/dev/null
  done
  if [[ -n $ETCD_PID ]] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill -TERM "$ETCD_PID" 2>/dev/null
    wait_exit "$ETCD_PID" 20 || kill -KILL "$ETCD_PID" 2>/dev/null
  fi
  if [[ -n ${E2E_KEEP:-} ]]; then
    echo "e2e: kept $TMP"
  else
    rm -rf "$TMP"
  fi
}

# --- HTTP ------------------------------------------------------------------------------------

# req TOKEN METHOD PATH [JSON]: sets CODE (HTTP status), TIME (seconds) and BODY.
req() {
  local token=$1 method=$2 path=$3 data=${4:-}
  local out=$TMP/body.$BASHPID
  # (not curl's user agent: the server pretty-prints JSON for curl)
  local args=(-sS -A kubewasm-e2e --cacert "$CA" -H "Authorization: Bearer $token" -X "$method" -o "$out"
    -w '%{http_code} %{time_total}' --max-time 60)
  [[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  read -r CODE TIME < <(curl "${args[@]}" "$URL$path" 2>&1 || true)
  BODY=$(cat "$out" 2>/dev/null)
  rm -f "$out"
}

# configmap NAME [ANNOTATIONS-JSON] [DATA-JSON]
configmap() {
  printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","annotations":%s},"data":%s}' \
    "$1" "${2:-"{}"}" "${3:-"{}"}"
}
namespace() {
  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","annotations":{"puzzle.ch/owner":"e2e"}}}' "$1"
}

# metric NAME-AND-LABELS-ERE: the sum of the matching samples of /metrics (0 if none).
metric() {
  curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" |
    grep -E "^$1" | awk '{ s += $NF } END { printf "%d\n", s }'
}

OWNER='{"puzzle.ch/owner":"e2e"}'

# --- groups ----------------------------------------------------------------------------------

# A kube-apiserver started with FLAGS must exit with an error matching every ERE given.
# (These fail in flag validation or before the storage is touched; etcd is not needed.)
refuses() {
  local name=$1 flags=$2
  shift 2
  local pki=$TMP/flags-pki out rc
  # shellcheck disable=SC2086 # flags are word-split on purpose
  out=$(cd "$TMP" && timeout 60 "$BIN/kube-apiserver" --etcd-servers="$ETCD_URL" --etcd-prefix=/flags \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$(free_port)" \
    --cert-dir="$pki" --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$SA_KEY" --service-account-signing-key-file="$SA_KEY" \
    $flags 2>&1)
  rc=$?
  if ((rc == 0 || rc == 124)); then
    fail "$name: the server refuses to start" "exit status $rc" "$(tail -5 <<<"$out")"
    return
  fi
  local want
  for want in "$@"; do has "$name: says /$want/" "$(grep -E 'command failed|^\s' <<<"$out")" "$want"; done
}

group_flags() {
  SA_KEY=$TMP/flags-sa.key
  openssl genrsa -out "$SA_KEY" 2048 2>/dev/null
  local authz=$TMP/flags-authz.yaml wasm=$TMP/flags-wasm.yaml
  printf 'modules:\n- module: %s/magic-authorizer.wasm\n' "$MODULES" >"$wasm"
  cat >"$authz" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: RBAC
  name: rbac
- type: WASM
  name: wasm
EOF
  refuses "mode WASM without --authorization-wasm-config-file" "--authorization-mode=RBAC,WASM" \
    'authorization-mode WASM requires --authorization-wasm-config-file'
  refuses "--authorization-wasm-config-file without mode WASM" \
    "--authorization-mode=RBAC --authorization-wasm-config-file=$wasm" \
    'cannot specify --authorization-wasm-config-file without mode WASM'
  refuses "--authorization-config with type WASM without --authorization-wasm-config-file" \
    "--authorization-config=$authz" 'authorization-wasm-config-file'
  refuses "--authentication-wasm-config-file naming a missing file" \
    "--authentication-wasm-config-file=$TMP/missing.yaml" \
    'authentication-wasm-config-file' "$TMP/missing.yaml"
}

# examples/ with absolute module paths, in a directory of its own (for a variant of one file).
copy_examples() {
  local dir=$1 f
  mkdir -p "$dir"
  for f in authentication authorization admission; do
    sed "s#\.\./build/modules#$MODULES#" "$ROOT/examples/$f.yaml" >"$dir/$f.yaml"
  done
}

# broken NAME FILE ERE...: examples with FILE (authentication|authorization|admission) replaced
# by stdin; the server must refuse to start and its log must match every ERE.
broken() {
  local name=$1 file=$2 dir=$TMP/broken-$1
  shift 2
  copy_examples "$dir"
  cat >"$dir/$file.yaml"
  if start_server "broken-$name" "$dir"; then
    fail "$name: the server refuses to start" "it is serving on $URL"
    stop_server
    return
  fi
  if ! wait_exit "$RUN_PID" 60; then
    fail "$name: the server refuses to start" "hack/run.sh is still waiting after $((SECONDS - START_SECONDS))s"
    return
  fi
  pass "$name: the server refuses to start ($((SECONDS - START_SECONDS))s)"
  local log want
  log=$(grep -A12 'command failed' "$RUN_DIR/apiserver.log")
  [[ -n $log ]] || log=$(tail -20 "$RUN_DIR/apiserver.log")
  for want in "$@"; do has "$name: says /$want/" "$log" "$want"; done
}

group_broken() {
  local d=$TMP/broken-
  broken authentication authentication \
    'authentication-wasm-config-file' "${d}authentication/authentication\.yaml" \
    'modules\[0\] "magic-authenticator"' 'field "colour": unknown field' 'field "timeout"' <<EOF
modules:
- name: magic-authenticator
  module: $MODULES/magic-authenticator.wasm
  timeout: 5 seconds
  colour: blue
EOF
  broken authorization authorization \
    'authorization-wasm-config-file' "${d}authorization/authorization\.yaml" \
    'modules\[1\] "strict"' 'field "failurePolicy": must be NoOpinion or Deny, got "Allow"' <<EOF
modules:
- name: magic-authorizer
  module: $MODULES/magic-authorizer.wasm
- name: strict
  module: $MODULES/magic-authorizer.wasm
  failurePolicy: Allow
EOF
  broken admission admission \
    "admission-control-config-file ${d}admission/admission\.yaml" 'admission plugin "WASM"' \
    'modules\[0\] "safe-annotations"' 'invalid settings: Provided settings are not valid' 'modules\[1\] "magic-validator"' 'nowhere\.wasm' <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: safe-annotations
      type: kubewarden
      module: $MODULES/safe-annotations.wasm
      settings:
        mandatory_annotations: 42
      rules:
      - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
    - name: magic-validator
      module: $MODULES/nowhere.wasm
      rules:
      - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
EOF
  # The matching fields are the plugin's to validate (the library passes them through).
  broken admission-matching admission \
    "admission-control-config-file ${d}admission-matching/admission\.yaml" 'admission plugin "WASM"' \
    'modules\[0\] "magic-validator": rules\[0\]\.operations\[0\]: Unsupported value: "EXPLODE"' \
    'modules\[0\] "magic-validator": objectSelector\.matchExpressions\[0\]\.operator: Invalid value: "Near"' <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: magic-validator
      module: $MODULES/magic-validator.wasm
      objectSelector: {matchExpressions: [{key: a, operator: Near}]}
      rules:
      - {operations: [EXPLODE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
EOF
}

group_examples() {
  if ! start_server examples "$ROOT/examples"; then
    fail "examples: the server starts" "$(tail -30 "$RUN_DIR/run.log")"
    return
  fi
  pass "examples: the server starts with examples/ ($((SECONDS - START_SECONDS))s)"

  # The narrated demo, against this server (found through RUN_DIR, as `make demo` finds `make run`).
  local out rc
  out=$(RUN_DIR=$RUN_DIR KUBEWASM_BIN=$BIN NO_COLOR=1 "$ROOT/hack/demo.sh" 2>&1)
  rc=$?
  eq "demo: exits 0" "$rc" 0
  has "demo: 1 whoami shows magic-user" "$out" 'Username[[:space:]]+magic-user'
  has "demo: 1 whoami shows magic-group" "$out" 'Groups[[:space:]]+\[magic-group'
  has "demo: 3 secrets are forbidden" "$out" 'Forbidden.*cannot list resource "secrets"'
  has "demo: 4 the new ConfigMap carries magic-value: foobar" "$out" 'magic-value: foobar'
  has "demo: 5 not-allowed-value is rejected with the module's message" "$out" \
    "admission module \"magic-validator\" \\(WASM\\) denied the request: value 'not-allowed-value' not allowed in configmap"
  has "demo: 6 a ConfigMap without puzzle.ch/owner is rejected by safe-annotations" "$out" \
    'admission module "safe-annotations" \(WASM\) denied the request: The following mandatory annotations are missing: puzzle.ch/owner'
  eq "demo: every step as expected" "$(grep -c '^=> as expected' <<<"$out")" 6
  hasnt "demo: nothing unexpected" "$out" 'UNEXPECTED'

  # The same scenario through the HTTP API, asserted on status codes and bodies.
  local magic=magic-token
  req "$magic" POST /apis/authentication.k8s.io/v1/selfsubjectreviews \
    '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  eq "whoami (magic-token): 201" "$CODE" 201
  has "whoami (magic-token): magic-user" "$BODY" '"username":"magic-user"'
  has "whoami (magic-token): magic-group" "$BODY" '"groups":\["magic-group"'
  req "$magic" GET /api/v1/namespaces/default/configmaps
  eq "magic-user lists ConfigMaps: 200" "$CODE" 200
  req "$magic" GET /api/v1/namespaces/kube-system/configmaps
  eq "magic-user lists ConfigMaps in kube-system: 200" "$CODE" 200
  req "$magic" GET /api/v1/namespaces/default/secrets
  eq "magic-user lists Secrets: 403" "$CODE" 403
  req "$magic" GET /api/v1/namespaces/default/pods
  eq "magic-user lists Pods: 403" "$CODE" 403
  req "$magic" POST /api/v1/namespaces/default/configmaps "$(configmap e2e-magic "$OWNER" '{"a":"b"}')"
  eq "magic-user creates a ConfigMap: 201" "$CODE" 201
  has "the created ConfigMap has magic-value: foobar" "$BODY" '"magic-value":"foobar"'
  has "the created ConfigMap keeps its data" "$BODY" '"a":"b"'
  req "$magic" GET /api/v1/namespaces/default/configmaps/e2e-magic
  has "the stored ConfigMap has magic-value: foobar" "$BODY" '"magic-value":"foobar"'
  req "$magic" PUT /api/v1/namespaces/default/configmaps/e2e-magic "$(configmap e2e-magic "$OWNER" '{"a":"c"}')"
  eq "an update: 200" "$CODE" 200
  has "an update is mutated too" "$BODY" '"magic-value":"foobar"'
  req "$magic" POST /api/v1/namespaces/default/configmaps \
    "$(configmap e2e-rejected "$OWNER" '{"not-allowed-value":"x"}')"
  eq "not-allowed-value: 403" "$CODE" 403
  has "not-allowed-value: the module's message" "$BODY" \
    "admission module \\\\\"magic-validator\\\\\" \\(WASM\\) denied the request: value 'not-allowed-value' not allowed in configmap"
  req "$magic" POST /api/v1/namespaces/default/configmaps "$(configmap e2e-no-owner '{}' '{"a":"b"}')"
  eq "no puzzle.ch/owner: 400-499" "${CODE:0:1}" 4
  has "no puzzle.ch/owner: denied by safe-annotations" "$BODY" \
    'admission module \\"safe-annotations\\" \(WASM\) denied the request: The following mandatory annotations are missing: puzzle.ch/owner'
  req "$magic" GET /api/v1/namespaces/default/configmaps/e2e-no-owner
  eq "the rejected ConfigMaps were not stored" "$CODE" 404
  req "not-a-magic-token" GET /api/v1/namespaces/default/configmaps
  eq "an unknown token: 401" "$CODE" 401

  # The admin (system:masters, static token) never reaches the WASM authorizer.
  local before after
  before=$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="authorization"')
  req "$ADMIN" POST /apis/authentication.k8s.io/v1/selfsubjectreviews \
    '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
  has "whoami (admin): system:masters" "$BODY" '"groups":\["system:masters"'
  req "$ADMIN" GET /api/v1/namespaces/default/secrets
  eq "admin lists Secrets: 200" "$CODE" 200
  req "$ADMIN" GET /api/v1/pods
  eq "admin lists Pods: 200" "$CODE" 200
  req "$ADMIN" POST /api/v1/namespaces/kube-system/configmaps "$(configmap e2e-admin "$OWNER")"
  eq "admin creates a ConfigMap: 201 (admission still applies)" "$CODE" 201
  has "admin's ConfigMap is mutated too" "$BODY" '"magic-value":"foobar"'
  after=$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="authorization"')
  eq "admin requests made no WASM authorizer call" "$after" "$before"
  check "metrics: the WASM authorizer answered magic-user" \
    test "$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="authorization",module="magic-authorizer"')" -gt 0
  check "metrics: the admission modules ran" \
    test "$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="admission",module="safe-annotations"')" -gt 0

  stopped examples
}

# pod NAME IMAGE...: a Pod with one container per image (c0, c1, ...).
pod() {
  local name=$1 i=0 img containers=
  shift
  for img in "$@"; do
    containers+="${containers:+,}{\"name\":\"c$i\",\"image\":\"$img\"}"
    i=$((i + 1))
  done
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s"},"spec":{"containers":[%s]}}' "$name" "$containers"
}

# labelled_configmap NAME LABELS-JSON DATA-JSON
labelled_configmap() {
  printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s","labels":%s},"data":%s}' "$1" "$2" "$3"
}

group_rego() {
  local dir=$TMP/rego-config
  copy_examples "$dir"
  cat >"$dir/admission.yaml" <<EOF
modules:
- name: configmaps
  type: opa
  module: $MODULES/opa-configmap.wasm
  settings: {forbidden_keys: [password]}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps, pods]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rego}
- name: required-labels
  type: gatekeeper
  module: $MODULES/gatekeeper-required-labels.wasm
  settings:
    labels: [{key: owner}, {key: env, allowedRegex: '^(dev|prod)\$'}]
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rego}
- name: allowed-repos
  type: gatekeeper
  module: $MODULES/gatekeeper-allowed-repos.wasm
  settings: {repos: [registry.example.com/]}
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rego}
EOF
  if ! start_server rego "$dir"; then
    fail "rego: the server starts" "$(tail -30 "$RUN_DIR/run.log")"
    return
  fi
  pass "rego: the server starts with opa and gatekeeper modules ($((SECONDS - START_SECONDS))s)"
  req "$ADMIN" POST /api/v1/namespaces "$(namespace rego)"
  eq "admin creates namespace rego: 201" "$CODE" 201
  req "$ADMIN" POST /api/v1/namespaces/rego/serviceaccounts \
    '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}'
  eq "admin creates rego's default ServiceAccount: 201" "$CODE" 201

  # The API server's JSON escapes < and > (as \u003c, \u003e): the patterns take either.
  local labels='{"owner":"e2e","env":"dev"}'
  req "$ADMIN" POST /api/v1/namespaces/rego/configmaps "$(labelled_configmap labelled "$labels" '{"color":"blue"}')"
  eq "rego: a labelled ConfigMap: 201" "$CODE" 201
  req "$ADMIN" POST /api/v1/namespaces/rego/configmaps "$(labelled_configmap secret "$labels" '{"password":"x"}')"
  eq "rego: a ConfigMap with a password: 403" "$CODE" 403
  has "rego: a ConfigMap with a password: the opa policy's message" "$BODY" \
    'admission module \\"configmaps\\" \(WASM\) denied the request: ConfigMap secret: key \\"password\\" is not allowed'
  req "$ADMIN" POST /api/v1/namespaces/rego/configmaps "$(labelled_configmap unlabelled '{"env":"qa"}' '{}')"
  eq "rego: a ConfigMap without owner, env qa: 403" "$CODE" 403
  has "rego: a ConfigMap without owner, env qa: both violations listed" "$BODY" \
    'admission module \\"required-labels\\" \(WASM\) denied the request: label (<|\\u003c)env: qa(>|\\u003e) does not satisfy allowed regex: \^\(dev\|prod\)\$, you must provide label \\"owner\\"'
  req "$ADMIN" POST /api/v1/namespaces/default/configmaps "$(labelled_configmap elsewhere '{}' '{"password":"x"}')"
  eq "rego: another namespace is not governed: 201" "$CODE" 201

  req "$ADMIN" POST /api/v1/namespaces/rego/pods \
    "$(pod hub nginx:1.27 registry.example.com/ok:1 evil.example.org/miner)"
  eq "rego: a Pod with two images from elsewhere: 403" "$CODE" 403
  has "rego: a Pod with two images from elsewhere: both containers listed" "$BODY" \
    'admission module \\"allowed-repos\\" \(WASM\) denied the request: container (<|\\u003c)c0(>|\\u003e) has an invalid image repo (<|\\u003c)nginx:1.27(>|\\u003e), allowed repos are \[\\"registry.example.com/\\"\], container (<|\\u003c)c2(>|\\u003e) has an invalid image repo (<|\\u003c)evil.example.org/miner(>|\\u003e)'
  req "$ADMIN" POST /api/v1/namespaces/rego/pods "$(pod good registry.example.com/web:1)"
  eq "rego: a Pod from the allowed registry: 201" "$CODE" 201
  check "metrics: the Rego modules ran" \
    test "$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="admission",module="allowed-repos"')" -gt 0

  stopped rego
}

group_hostile() {
  local dir=$TMP/hostile-config
  mkdir -p "$dir"
  cat >"$dir/authentication.yaml" <<EOF
modules:
- name: magic-authenticator
  module: $MODULES/magic-authenticator.wasm
- name: hostile-loop
  module: $MODULES/hostile-loop.wasm
  timeout: 1s
EOF
  cat >"$dir/authorization.yaml" <<EOF
modules:
- name: magic-authorizer
  module: $MODULES/magic-authorizer.wasm
- name: hostile-loop
  module: $MODULES/hostile-loop.wasm
  timeout: 1s
  failurePolicy: Deny
EOF
  cat >"$dir/authorization-config.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers:
- type: Node
  name: node
- type: RBAC
  name: rbac
- type: WASM
  name: wasm
EOF
  # The plugin's own configuration: hack/run.sh refers to it by path: from an
  # AdmissionConfiguration.
  cat >"$dir/admission.yaml" <<EOF
modules:
- name: magic-mutator
  module: $MODULES/magic-mutator.wasm
  mutating: true
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
- name: hostile-loop
  module: $MODULES/hostile-loop.wasm
  timeout: 2s
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: hostile}
- name: hostile-ignore
  module: $MODULES/hostile-loop.wasm
  timeout: 1s
  failurePolicy: Ignore
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: hostile-ignore}
- name: hostile-patch
  module: $MODULES/hostile-answer.wasm
  mutating: true
  memoryLimit: 256Mi
  settings: {attack: patch-copies}
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: hostile-patch}
EOF
  if ! start_server hostile "$dir" AUTHORIZATION_CONFIG="$dir/authorization-config.yaml"; then
    fail "hostile: the server starts" "$(tail -30 "$RUN_DIR/run.log")"
    return
  fi
  pass "hostile: the server starts (structured --authorization-config, admission by path:) ($((SECONDS - START_SECONDS))s)"
  local ns
  for ns in hostile hostile-ignore hostile-patch other; do
    req "$ADMIN" POST /api/v1/namespaces "$(namespace "$ns")"
    eq "admin creates namespace $ns: 201" "$CODE" 201
  done

  # Admission: two requests into the looping module at once; meanwhile, other requests.
  local i pids=()
  for i in 1 2; do
    (
      req "$ADMIN" POST /api/v1/namespaces/hostile/configmaps "$(configmap "loop-$i")"
      printf '%s %s %s\n' "$CODE" "$TIME" "$(date +%s%N)" >"$TMP/hostile.$i"
      printf '%s' "$BODY" >"$TMP/hostile.$i.body"
    ) &
    pids+=($!)
  done
  sleep 0.3 # both are inside the module now
  local slow=0 n=0 t_first=
  for i in 1 2 3; do
    req "$ADMIN" POST /api/v1/namespaces/other/configmaps "$(configmap "meanwhile-$i")"
    [[ $CODE == 201 ]] && n=$((n + 1))
    [[ -n $t_first ]] || t_first=$(date +%s%N)
    awk -v t="$TIME" 'BEGIN { exit !(t >= 1) }' && slow=$((slow + 1))
    req "$ADMIN" GET /api/v1/namespaces/default/secrets
    [[ $CODE == 200 ]] && n=$((n + 1))
    awk -v t="$TIME" 'BEGIN { exit !(t >= 1) }' && slow=$((slow + 1))
    req magic-token GET /api/v1/namespaces/hostile/configmaps
    [[ $CODE == 200 ]] && n=$((n + 1))
    awk -v t="$TIME" 'BEGIN { exit !(t >= 1) }' && slow=$((slow + 1))
  done
  wait "${pids[@]}"
  eq "while two requests loop in a module, 9 other requests succeed" "$n" 9
  eq "... each in less than a second" "$slow" 0
  local code time end
  for i in 1 2; do
    read -r code time end <"$TMP/hostile.$i"
    eq "looping admission module, request $i: 500 (failurePolicy Fail)" "$code" 500
    between "looping admission module, request $i: fails within its 2s timeout" "$time" 1.9 5
    has "looping admission module, request $i: names the module" "$(cat "$TMP/hostile.$i.body")" \
      'hostile-loop'
    # Served while the module looped: the first other request ended before the looping ones.
    # (Not all nine: on a loaded machine they can together take longer than the 2 s timeout.)
    check "looping admission module, request $i: still running when another request was served" \
      test "$end" -gt "$t_first"
  done
  has "the failure says why" "$(cat "$TMP/hostile.1.body")" 'call to validate failed: timed out after 2s'
  req "$ADMIN" GET /api/v1/namespaces/hostile/configmaps/loop-1
  eq "the failed ConfigMap was not stored" "$CODE" 404
  req "$ADMIN" POST /api/v1/namespaces/hostile-ignore/configmaps "$(configmap ignored)"
  eq "failurePolicy Ignore: the request is admitted (201)" "$CODE" 201
  between "failurePolicy Ignore: after the 1s timeout" "$TIME" 0.9 4
  has "failurePolicy Ignore: the earlier module's mutation is kept" "$BODY" '"magic-value":"foobar"'
  req "$ADMIN" POST /api/v1/namespaces/other/configmaps "$(configmap fast)"
  eq "a ConfigMap in another namespace: 201" "$CODE" 201
  between "a ConfigMap in another namespace: fast" "$TIME" 0 1

  # A JSONPatch whose copies double the object 20 times (1 GiB if applied): a bounded failed
  # call naming the bound, the server's peak memory barely moves, the next request is served.
  local hwm_before hwm_after apiserver_pid
  apiserver_pid=$(cat "$RUN_DIR/apiserver.pid")
  hwm_before=$(awk '/^VmHWM/ { print $2 }' "/proc/$apiserver_pid/status")
  req "$ADMIN" POST /api/v1/namespaces/hostile-patch/configmaps "$(configmap doubling)"
  eq "doubling JSONPatch copies: 500 (failurePolicy Fail)" "$CODE" 500
  between "doubling JSONPatch copies: fails fast" "$TIME" 0 5
  has "doubling JSONPatch copies: names the module and the bound" "$BODY" \
    'hostile-patch.*the accumulated copy size limit'
  hwm_after=$(awk '/^VmHWM/ { print $2 }' "/proc/$apiserver_pid/status")
  check "doubling JSONPatch copies: the server's peak resident memory grew by less than 256 MiB ($(((hwm_after - hwm_before) / 1024)) MiB, peak $((hwm_after / 1024)) MiB)" \
    test $((hwm_after - hwm_before)) -lt $((256 * 1024))
  req "$ADMIN" POST /api/v1/namespaces/other/configmaps "$(configmap after-patch)"
  eq "the next ConfigMap: 201" "$CODE" 201

  # Authentication: a token no module recognises reaches the looping module: 401 after 1s.
  req "unknown-token" GET /api/v1/namespaces/default/configmaps
  eq "looping authenticator, unknown token: 401" "$CODE" 401
  between "looping authenticator: fails within its 1s timeout" "$TIME" 0.9 4
  req magic-token GET /api/v1/namespaces/default/configmaps
  eq "magic-token (first module) still authenticates: 200" "$CODE" 200

  # Authorization: magic-user on Secrets reaches the looping authorizer (failurePolicy Deny).
  req magic-token GET /api/v1/namespaces/default/secrets
  # Deny with the module's failure as the error, as the webhook authorizer does: the API
  # server answers 500 (an authorizer error without an Allow) or 403.
  has "looping authorizer, failurePolicy Deny: not allowed (403/500)" "$CODE" '^(403|500)$'
  between "looping authorizer: fails within its 1s timeout" "$TIME" 0.9 4

  # The admin (system:masters) is unaffected by the WASM authorizer: fast, allowed, no call.
  local before after
  before=$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="authorization"')
  local all=0
  for i in 1 2 3 4 5; do
    req "$ADMIN" GET /api/v1/namespaces/default/secrets
    [[ $CODE == 200 ]] && awk -v t="$TIME" 'BEGIN { exit !(t < 1) }' && all=$((all + 1))
  done
  eq "admin lists Secrets 5 times, each allowed in less than a second" "$all" 5
  req "$ADMIN" POST /apis/authorization.k8s.io/v1/subjectaccessreviews \
    '{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"admin","groups":["system:masters"],"resourceAttributes":{"verb":"delete","resource":"secrets","namespace":"default"}}}'
  has "SubjectAccessReview for system:masters: allowed" "$BODY" '"allowed":true'
  after=$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="authorization"')
  eq "... without a WASM authorizer call" "$after" "$before"
  check "metrics: timeouts of the looping modules are counted" \
    test "$(metric 'apiserver_wasm_module_duration_seconds_count\{kind="admission",module="hostile-loop"')" -ge 2

  req "$ADMIN" GET /readyz
  eq "the server is still healthy (/readyz)" "$CODE" 200
  hasnt "no panic in the server log" "$(cat "$RUN_DIR/apiserver.log")" 'panic|SIGSEGV|fatal error'
  stopped hostile
}

# audit_event LOG NAMESPACE NAME: the audit event (one JSON line) of the ConfigMap's create, once
# the server has written it (up to 10 s).
audit_event() {
  local log=$1 ns=$2 name=$3 i line
  for ((i = 0; i < 100; i++)); do
    line=$(grep -F '"verb":"create"' "$log" 2>/dev/null | grep -F "\"namespace\":\"$ns\",\"name\":\"$name\"" |
      grep -F '"stage":"ResponseComplete"' | tail -1)
    [[ -n $line ]] && { printf '%s\n' "$line"; return 0; }
    sleep 0.1
  done
  return 1
}

group_rollout() {
  command -v jq >/dev/null || { fail "rollout: jq is needed (it reads the audit log)"; return; }
  local dir=$TMP/rollout-config
  copy_examples "$dir"
  # The magic validator three times, one per namespace: Warn, Audit, and the default (Deny).
  cat >"$dir/admission.yaml" <<EOF
modules:
- name: magic-mutator
  module: $MODULES/magic-mutator.wasm
  mutating: true
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
- name: magic-warn
  module: $MODULES/magic-validator.wasm
  validationActions: [Warn]
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rollout-warn}
- name: magic-audit
  module: $MODULES/magic-validator.wasm
  validationActions: [Audit]
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rollout-audit}
- name: magic-deny
  module: $MODULES/magic-validator.wasm
  rules:
  - {operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: rollout-deny}
EOF
  # Validation failures are recorded at level Metadata, as ValidatingAdmissionPolicy's are.
  cat >"$dir/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: [configmaps]
- level: None
EOF
  local audit_log=$TMP/rollout-audit.log
  if ! APISERVER_FLAGS="--audit-policy-file=$dir/audit-policy.yaml --audit-log-path=$audit_log --audit-log-mode=blocking" \
    start_server rollout "$dir"; then
    fail "rollout: the server starts" "$(tail -30 "$RUN_DIR/run.log")"
    return
  fi
  pass "rollout: the server starts with validationActions and an audit log ($((SECONDS - START_SECONDS))s)"
  local ns
  for ns in rollout-warn rollout-audit rollout-deny; do
    req "$ADMIN" POST /api/v1/namespaces "$(namespace "$ns")"
    eq "admin creates namespace $ns: 201" "$CODE" 201
  done
  local kubectl=("$BIN/kubectl" --kubeconfig "$RUN_DIR/admin.kubeconfig")
  local msg="value 'not-allowed-value' not allowed in configmap" out rc event failure

  # Warn: admitted; kubectl prints the module's message as a warning (on stderr).
  out=$("${kubectl[@]}" -n rollout-warn create -o yaml -f - 2>&1 <<<"$(configmap warned "$OWNER" '{"not-allowed-value":"x"}')")
  rc=$?
  eq "Warn: kubectl create exits 0 (admitted)" "$rc" 0
  has "Warn: kubectl prints the module's message as a warning" "$out" \
    "^Warning: Validation failed for admission module \"magic-warn\" \\(WASM\\): $msg"
  has "Warn: the mutator's patch is applied" "$out" 'magic-value: foobar'
  req "$ADMIN" GET /api/v1/namespaces/rollout-warn/configmaps/warned
  eq "Warn: the ConfigMap was stored" "$CODE" 200
  req "$ADMIN" POST /api/v1/namespaces/rollout-warn/configmaps "$(configmap fine "$OWNER" '{"a":"b"}')"
  eq "Warn: an allowed ConfigMap: 201" "$CODE" 201
  event=$(audit_event "$audit_log" rollout-warn warned)
  check "Warn: the create is in the audit log" test -n "$event"
  hasnt "Warn: no validation-failure annotation" "$event" 'validation\.wasm\.admission\.kubewasm\.io/'

  # Audit: admitted without a warning; the audit event carries the validation failure.
  out=$("${kubectl[@]}" -n rollout-audit create -o yaml -f - 2>&1 <<<"$(configmap audited "$OWNER" '{"not-allowed-value":"x"}')")
  rc=$?
  eq "Audit: kubectl create exits 0 (admitted)" "$rc" 0
  hasnt "Audit: no warning" "$out" '^Warning:'
  has "Audit: the mutator's patch is applied" "$out" 'magic-value: foobar'
  event=$(audit_event "$audit_log" rollout-audit audited)
  check "Audit: the create is in the audit log" test -n "$event"
  failure=$(jq -r '.annotations["validation.wasm.admission.kubewasm.io/validation_failure"] // "null"' <<<"${event:-{\}}")
  eq "Audit: the audit event's validation failure names the module, its message and actions" \
    "$(jq -c . <<<"$failure" 2>&1)" \
    "[{\"message\":\"$msg\",\"module\":\"magic-audit\",\"validationActions\":[\"Audit\"]}]"
  eq "Audit: the audit event says the request was admitted (201)" \
    "$(jq -r '.responseStatus.code' <<<"${event:-{\}}")" 201

  # Deny (the default): rejected as before.
  out=$("${kubectl[@]}" -n rollout-deny create -f - 2>&1 <<<"$(configmap denied "$OWNER" '{"not-allowed-value":"x"}')")
  rc=$?
  check "Deny: kubectl create fails" test "$rc" -ne 0
  has "Deny: the rejection names the module" "$out" \
    "admission module \"magic-deny\" \\(WASM\\) denied the request: $msg"
  req "$ADMIN" GET /api/v1/namespaces/rollout-deny/configmaps/denied
  eq "Deny: the ConfigMap was not stored" "$CODE" 404

  stopped rollout
}

# replace SRC DST: DST gets SRC's content the way a ConfigMap volume updates a file: written
# next to it, then renamed over it.
replace() {
  cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"
}

# reload_admission_config MODULE-FILE [EXTRA-MODULE-FIELD-LINE]: the AdmissionConfiguration of
# the reload group: one module, "policy", by a relative path, for ConfigMap creates in the
# namespace "reload"; settings-admitter reads its settings (deny every ConfigMap),
# magic-validator ignores them.
reload_admission_config() {
  cat <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: policy
      module: $1
      settings: {"allowed": false, "message": "denied by the reloaded policy"}
      namespaceSelector:
        matchLabels: {kubernetes.io/metadata.name: reload}
      rules:
      - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}
${2:-}
EOF
}

# write_admission_config ARGS...: reload_admission_config ARGS over admission.yaml (renamed
# over it, as a ConfigMap volume updates it).
write_admission_config() {
  reload_admission_config "$@" >"$dir/admission.yaml.tmp" && mv -f "$dir/admission.yaml.tmp" "$dir/admission.yaml"
}

# reload_loop SECONDS OUT: requests in a loop for SECONDS, one line per request into OUT:
# "<expected|UNEXPECTED> <what> <code>". The magic token's list goes through the WASM
# authenticator and authorizer (200); the admin's ConfigMap creates in "reload" through the
# policy module, which either admits (201) or denies with its message (403).
reload_loop() {
  local end=$((SECONDS + $1)) out=$2 i=0
  while ((SECONDS < end)); do
    i=$((i + 1))
    req magic-token GET /api/v1/namespaces/default/configmaps
    if [[ $CODE == 200 ]]; then echo "expected list $CODE"; else echo "UNEXPECTED list $CODE ${BODY:0:300}"; fi
    req "$ADMIN" POST /api/v1/namespaces/reload/configmaps "$(configmap "load-$BASHPID-$i" "$OWNER" '{"a":"b"}')"
    if [[ $CODE == 201 ]] || [[ $CODE == 403 && $BODY == *"denied by the reloaded policy"* ]]; then
      echo "expected create $CODE"
    else
      echo "UNEXPECTED create $CODE ${BODY:0:300}"
    fi
  done >"$out"
}

# atleast NAME COUNT MIN: COUNT >= MIN (integers).
atleast() {
  if (($2 >= $3)); then pass "$1 ($2)"; else fail "$1" "got $2, want at least $3"; fi
}

# reloads KIND STATUS: apiserver_wasm_config_controller_automatic_reloads_total{kind,status}.
reloads() {
  metric "apiserver_wasm_config_controller_automatic_reloads_total\\{kind=\"$1\",status=\"$2\"\\}"
}

group_reload() {
  local dir=$TMP/reload-config
  copy_examples "$dir"
  cp "$MODULES/magic-validator.wasm" "$dir/policy.wasm"
  write_admission_config policy.wasm
  if ! start_server reload "$dir" KUBEWASM_CONFIG_RELOAD_INTERVAL=1s; then
    fail "reload: the server starts" "$(tail -30 "$RUN_DIR/run.log")"
    return
  fi
  pass "reload: the server starts, polling its configuration every second ($((SECONDS - START_SECONDS))s)"
  local log=$RUN_DIR/apiserver.log pid
  pid=$(cat "$RUN_DIR/apiserver.pid")
  req "$ADMIN" POST /api/v1/namespaces "$(namespace reload)"
  eq "admin creates namespace reload: 201" "$CODE" 201
  req "$ADMIN" POST /api/v1/namespaces/reload/configmaps "$(configmap before "$OWNER" '{"a":"b"}')"
  eq "magic-validator as policy.wasm admits a plain ConfigMap: 201" "$CODE" 201
  local info
  info=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" |
    grep -E '^apiserver_wasm_config_controller_last_config_info\{' | sort)
  eq "last_config_info: one series per kind" "$(grep -c 'hash="sha256:' <<<"$info")" 3

  # A module file replaced while the server runs: the decision changes within 10 s.
  local t0=$SECONDS n=0 changed=
  replace "$MODULES/settings-admitter.wasm" "$dir/policy.wasm"
  while ((SECONDS - t0 < 10)); do
    n=$((n + 1))
    req "$ADMIN" POST /api/v1/namespaces/reload/configmaps "$(configmap "after-$n" "$OWNER" '{"a":"b"}')"
    if [[ $CODE == 403 ]]; then changed=1; break; fi
    [[ $CODE == 201 ]] || { fail "reload: requests keep being served while the module changes" "$CODE $BODY"; break; }
    sleep 0.2
  done
  if [[ -n $changed ]]; then
    pass "the replaced module decides within 10 s, no restart ($((SECONDS - t0))s)"
  else
    fail "the replaced module decides within 10 s, no restart" "last: $CODE $BODY"
  fi
  has "the new module's message" "$BODY" 'admission module \\"policy\\" \(WASM\) denied the request: denied by the reloaded policy'
  check "the API server was not restarted" kill -0 "$pid"
  atleast "successful admission reloads" "$(reloads admission success)" 1
  local info2
  info2=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $ADMIN" "$URL/metrics" |
    grep -E '^apiserver_wasm_config_controller_last_config_info\{.*kind="admission"')
  check "last_config_info: the admission hash changed" test -n "$info2" -a "$info2" != "$(grep 'kind="admission"' <<<"$info")"

  # Reliability row 20: a broken configuration over a good one. The old one keeps serving, the
  # failure is logged naming the file, module and field, and counted.
  write_admission_config policy.wasm "      failurePolicy: Sometimes"
  t0=$SECONDS
  local failures=0
  while ((SECONDS - t0 < 10)); do
    failures=$(reloads admission failure)
    ((failures > 0)) && break
    sleep 0.5
  done
  atleast "a broken admission configuration is counted as a failed reload" "$failures" 1
  check "the failure's timestamp is set" test "$(metric 'apiserver_wasm_config_controller_automatic_reload_last_timestamp_seconds\{kind="admission",status="failure"\}')" -gt 0
  has "the failed reload is logged naming the file, the module and the field" \
    "$(grep -E 'reloading the admission configuration' "$log")" \
    "reloading the admission configuration $dir/admission\\.yaml failed, the previous configuration keeps serving: .*policy.*failurePolicy"
  req "$ADMIN" POST /api/v1/namespaces/reload/configmaps "$(configmap broken "$OWNER" '{"a":"b"}')"
  eq "the previous configuration keeps serving: 403" "$CODE" 403
  has "... with the previous module's message" "$BODY" 'denied by the reloaded policy'
  # A module file that is not WebAssembly: the same.
  echo "not webassembly" >"$dir/garbage.wasm"
  write_admission_config garbage.wasm
  t0=$SECONDS
  while ((SECONDS - t0 < 10)); do
    (($(reloads admission failure) > failures)) && break
    sleep 0.5
  done
  has "a module that is not WebAssembly is a failed reload naming it" \
    "$(grep -E 'reloading the admission configuration' "$log" | tail -1)" 'policy.*garbage\.wasm'
  req "$ADMIN" POST /api/v1/namespaces/reload/configmaps "$(configmap broken2 "$OWNER" '{"a":"b"}')"
  eq "the previous configuration still serves: 403" "$CODE" 403
  write_admission_config policy.wasm

  # Reliability row 19: requests in a loop (the WASM authenticator and authorizer, the admission
  # module) while all three configurations are reloaded several times: no request fails.
  local loop_out=$TMP/reload-loop before after i
  before=$(($(reloads authentication success) + $(reloads authorization success) + $(reloads admission success)))
  reload_loop 16 "$loop_out.1" &
  local loop1=$!
  reload_loop 16 "$loop_out.2" &
  local loop2=$!
  for i in 1 2 3; do
    sleep 2.5
    replace "$MODULES/magic-validator.wasm" "$dir/policy.wasm"
    printf '# reload %d\n' "$i" >>"$dir/authentication.yaml"
    printf '# reload %d\n' "$i" >>"$dir/authorization.yaml"
    sleep 2.5
    replace "$MODULES/settings-admitter.wasm" "$dir/policy.wasm"
  done
  wait "$loop1" "$loop2"
  local total unexpected seen
  total=$(cat "$loop_out".* | wc -l)
  unexpected=$(cat "$loop_out".* | grep -c '^UNEXPECTED')
  seen=$(cat "$loop_out".* | cut -d' ' -f1-3 | sort -u)
  check "requests were made during the reloads ($total)" test "$total" -gt 20
  eq "no request failed during the reloads" "$unexpected" 0
  ((unexpected)) && fail "the first unexpected answers" "$(grep -h '^UNEXPECTED' "$loop_out".* | head -5)"
  has "the module admitted during the reloads" "$seen" 'expected create 201'
  has "the module denied during the reloads" "$seen" 'expected create 403'
  after=$(($(reloads authentication success) + $(reloads authorization success) + $(reloads admission success)))
  check "the three configurations reloaded during the loop ($before -> $after)" test "$after" -ge $((before + 9))
  atleast "successful authentication reloads" "$(reloads authentication success)" 3
  atleast "successful authorization reloads" "$(reloads authorization success)" 3
  check "the API server was not restarted" kill -0 "$pid"
  stopped reload
}

# --- main ------------------------------------------------------------------------------------

main() {
  local groups=("$@") g b
  ((${#groups[@]})) || groups=(flags broken examples rego hostile rollout reload)
  for b in kube-apiserver etcd kubectl; do
    [[ -x $BIN/$b ]] || { echo "e2e: $BIN/$b is missing: run 'make apiserver'" >&2; exit 2; }
  done
  for m in magic-authenticator magic-authorizer magic-mutator magic-validator settings-admitter safe-annotations hostile-loop hostile-answer \
    opa-configmap gatekeeper-required-labels gatekeeper-allowed-repos; do
    [[ -f $MODULES/$m.wasm ]] || { echo "e2e: $MODULES/$m.wasm is missing: run 'make fixtures policies rego'" >&2; exit 2; }
  done
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/kubewasm-e2e.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "e2e: $("$BIN/kube-apiserver" --version), modules from $MODULES, scratch $TMP"
  start_etcd e2e "$TMP" || exit 1
  local start=$SECONDS
  for g in "${groups[@]}"; do
    GROUP=$g
    declare -F "group_$g" >/dev/null || { echo "e2e: unknown group $g" >&2; exit 2; }
    echo "--- $g"
    local t=$SECONDS
    "group_$g"
    echo "    ($((SECONDS - t))s)"
  done
  echo
  if ((FAILED)); then
    printf 'failed: %s\n' "${FAILURES[@]}"
  fi
  echo "e2e: $((SECONDS - start))s"
  echo "$PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

main "$@"
