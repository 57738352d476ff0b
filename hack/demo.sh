#!/usr/bin/env bash
# `make demo`: the user's scenario, narrated, against the patched kube-apiserver that `make run`
# is serving (found through the kubeconfigs it writes to $RUN_DIR), or against one this script
# starts for the occasion (and stops at the end) when none is serving.
#
#   1. magic-token is authenticated by the WASM module magic-authenticator: magic-user/magic-group
#   2. the WASM authorizer magic-authorizer lets magic-group list ConfigMaps ...
#   3. ... and has no opinion on Secrets, so RBAC's denial stands
#   4. a new ConfigMap (with the puzzle.ch/owner annotation) gains magic-value: foobar (magic-mutator)
#   5. one with a not-allowed-value entry is rejected with magic-validator's message
#   6. one without puzzle.ch/owner is rejected by the Kubewarden policy safe-annotations
#
# Every step prints the command, the server's answer and whether it is the expected one; the
# exit status is non-zero when a step did not behave as expected (the end-to-end tests run it).
#
# Environment:
#   RUN_DIR       where `make run` keeps its kubeconfigs (default _output/run)
#   KUBEWASM_BIN  where kubectl is (default _output/bin)
#   NAMESPACE     where the demo's ConfigMaps go (default default)
#   PORT          port of a self-started server (default 6443, or the next free one)
#   NO_COLOR      set to disable colours
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=lib.sh
  source "$ROOT/hack/lib.sh"
  RUN_DIR=${RUN_DIR:-$ROOT/_output/run}
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  NAMESPACE=${NAMESPACE:-default}
  colours

  if ! serving && ! starting; then
    start_server
  fi
  server=$(cat "$RUN_DIR/ready")
  version=$(kubectl_admin version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | tail -1)
  say "${bold}kubewasm demo${reset} against $server (kube-apiserver ${version:-?})"
  say "  magic user: kubectl --kubeconfig $(short "$RUN_DIR/magic.kubeconfig")  (bearer token magic-token)"
  say "  modules:    authentication, authorization and admission configured in $(short "$ROOT/examples")/"

  # Leftovers of an earlier demo (as the admin, who bypasses the demo's modules when deleting).
  kubectl_admin -n "$NAMESPACE" delete configmap magic-demo magic-demo-rejected magic-demo-no-owner \
    --ignore-not-found >/dev/null

  failed=0

  step 1 "Who is magic-token? The WASM authenticator (magic-authenticator.wasm) recognises it."
  run kubectl auth whoami
  expect_ok && expect_out 'Username[[:space:]]+magic-user' && expect_out 'Groups[[:space:]]+\[magic-group' \
    && verdict "authenticated as magic-user in magic-group"

  step 2 "May magic-user list ConfigMaps? The WASM authorizer (magic-authorizer.wasm) allows magic-group on configmaps."
  run kubectl get configmaps -n "$NAMESPACE"
  expect_ok && verdict "allowed"

  step 3 "May magic-user list Secrets? magic-authorizer has no opinion, RBAC grants nothing: denied."
  run kubectl get secrets -n "$NAMESPACE"
  expect_fail && expect_out 'Forbidden' && expect_out 'cannot list resource "secrets"' && verdict "denied (403 Forbidden)"

  step 4 "A new ConfigMap with the puzzle.ch/owner annotation: magic-mutator.wasm adds magic-value: foobar."
  run_manifest kubectl create -o yaml -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: magic-demo
  namespace: $NAMESPACE
  annotations:
    puzzle.ch/owner: magic-user
data:
  greeting: hello
EOF
  expect_ok && expect_out 'magic-value: foobar' && expect_out 'greeting: hello' \
    && verdict "created, and the server's answer carries magic-value: foobar"

  step 5 "A ConfigMap with a not-allowed-value entry: magic-validator.wasm rejects it."
  run_manifest kubectl create -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: magic-demo-rejected
  namespace: $NAMESPACE
  annotations:
    puzzle.ch/owner: magic-user
data:
  not-allowed-value: "1"
EOF
  expect_fail && expect_out "admission module \"magic-validator\" \\(WASM\\) denied the request: value 'not-allowed-value' not allowed in configmap" \
    && verdict "rejected with the module's message"

  step 6 "A ConfigMap without the puzzle.ch/owner annotation: the Kubewarden policy safe-annotations.wasm rejects it."
  run_manifest kubectl create -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: magic-demo-no-owner
  namespace: $NAMESPACE
data:
  greeting: hello
EOF
  expect_fail && expect_out 'admission module "safe-annotations" \(WASM\) denied the request: .*puzzle.ch/owner' \
    && verdict "rejected by the Kubewarden policy"

  echo
  if ((failed)); then
    say "${red}${bold}$failed step(s) did not behave as expected${reset} (server log: $(short "$RUN_DIR/apiserver.log"))"
    exit 1
  fi
  say "${green}${bold}all 6 steps behaved as expected${reset}"
}

# --- finding or starting the server ----------------------------------------------------------

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$RUN_DIR/admin.kubeconfig" "$@"; }

serving() {
  [[ -f $RUN_DIR/ready && -f $RUN_DIR/admin.kubeconfig && -f $RUN_DIR/magic.kubeconfig ]] || return 1
  kubectl_admin get --raw /readyz >/dev/null 2>&1
}

# `make run` is still starting (its API server process exists): wait for it to serve.
starting() {
  local pid i
  pid=$(cat "$RUN_DIR/apiserver.pid" 2>/dev/null) || return 1
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */kube-apiserver ]] || return 1
  say "${dim}waiting for the API server 'make run' is starting (pid $pid)${reset}"
  for ((i = 0; i < 240; i++)); do
    serving && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

start_server() {
  say "${dim}no kube-apiserver from 'make run' is serving (no ready server in $(short "$RUN_DIR")); starting one for the demo${reset}"
  local make=${MAKE:-make}
  "$make" --no-print-directory -C "$ROOT" apiserver fixtures policies >&2
  mkdir -p "$RUN_DIR"
  port_free "${PORT:-6443}" || PORT=$(first_free_port 6444)
  export PORT RUN_DIR
  setsid "$ROOT/hack/run.sh" >"$RUN_DIR/demo-run.log" 2>&1 &
  RUN_PID=$!
  trap stop_server EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -f $RUN_DIR/ready ]] && serving && return 0
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$RUN_DIR/demo-run.log" >&2
  echo "demo: the API server did not start (log: $RUN_DIR/demo-run.log)" >&2
  exit 1
}

stop_server() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n ${RUN_PID:-} ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    say "${dim}stopping the API server started for the demo${reset}"
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
  exit "$rc"
}

first_free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

# --- narration -------------------------------------------------------------------------------

colours() {
  if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
    bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' cyan=$'\e[36m' reset=$'\e[0m'
  else
    bold='' dim='' red='' green='' cyan='' reset=''
  fi
}
say() { printf '%s\n' "$*"; }
short() { local p=$1; echo "${p#"$PWD"/}"; }

step() {
  STEP=$1
  echo
  say "${bold}$1. $2${reset}"
}

# run kubectl ARGS...: print the command (as the magic user) and run it; the answer goes to OUT.
run() {
  shift # "kubectl"
  say "${cyan}\$ kubectl --kubeconfig $(short "$RUN_DIR/magic.kubeconfig") $*${reset}"
  set +e
  OUT=$("$BIN/kubectl" --kubeconfig "$RUN_DIR/magic.kubeconfig" "$@" 2>&1)
  RC=$?
  set -e
  printf '%s\n' "$OUT" | sed 's/^/  /'
}

# run_manifest kubectl ARGS... <<EOF: same, with a manifest on stdin (printed as a heredoc).
run_manifest() {
  local manifest
  manifest=$(cat)
  shift # "kubectl"
  say "${cyan}\$ kubectl --kubeconfig $(short "$RUN_DIR/magic.kubeconfig") $* <<EOF${reset}"
  printf '%s\n' "$manifest" | sed "s/^/${cyan}/; s/\$/${reset}/"
  say "${cyan}EOF${reset}"
  set +e
  OUT=$(printf '%s\n' "$manifest" | "$BIN/kubectl" --kubeconfig "$RUN_DIR/magic.kubeconfig" "$@" 2>&1)
  RC=$?
  set -e
  printf '%s\n' "$OUT" | sed 's/^/  /'
}

expect_ok() { ((RC == 0)) || unexpected "the command failed (exit status $RC)"; }
expect_fail() { ((RC != 0)) || unexpected "the command succeeded"; }
expect_out() { grep -Eq -- "$1" <<<"$OUT" || unexpected "the answer lacks /$1/"; }
verdict() { say "${green}=> as expected: $*${reset}"; }
unexpected() {
  say "${red}=> UNEXPECTED in step $STEP: $*${reset}"
  failed=$((failed + 1))
  return 1
}

main "$@"
