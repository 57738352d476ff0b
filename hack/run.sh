#!/usr/bin/env bash
# `make run`: start etcd and the patched kube-apiserver on https://127.0.0.1:$PORT with the
# example WASM configuration in examples/, write an admin and a magic-token kubeconfig, and stop
# both processes cleanly on Ctrl-C (or SIGTERM).
#
# Environment:
#   PORT            API server port (default 6443)
#   ETCD_PORT       etcd client port (default: the first free port from 2379)
#   ETCD_SERVERS    use this running etcd (e.g. http://127.0.0.1:2379) instead of starting one;
#                   pass --etcd-prefix in APISERVER_FLAGS to share it between servers
#   AUTHORIZATION_CONFIG  a structured AuthorizationConfiguration file (listing
#                   {type: WASM, name: wasm}) used with --authorization-config instead of
#                   --authorization-mode=Node,RBAC,WASM
#   RUN_DIR         state: certificates, keys, tokens, etcd data, logs, kubeconfigs
#                   (default _output/run; the etcd data is wiped at every start)
#   KUBEWASM_BIN    where kube-apiserver, etcd, kubectl are (default _output/bin)
#   EXAMPLES        directory with authentication.yaml, authorization.yaml, admission.yaml
#                   (default examples/)
#   APISERVER_FLAGS extra kube-apiserver flags (word-split)
#   WASM            set to "off" to start the same binary without any WASM flag (authorization
#                   Node,RBAC, no WASM admission plugin): the baseline of hack/bench-apiserver.sh
#   VERBOSITY       kube-apiserver -v level (default 1)
#
# While it is serving, $RUN_DIR/ready exists (it holds the server URL); scripts such as
# `make demo` wait for it. $RUN_DIR/apiserver.pid and etcd.pid hold the process ids (removed
# when they are stopped).
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=lib.sh
  source "$ROOT/hack/lib.sh"
  PORT=${PORT:-6443}
  RUN_DIR=${RUN_DIR:-$ROOT/_output/run}
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  EXAMPLES=${EXAMPLES:-$ROOT/examples}
  VERBOSITY=${VERBOSITY:-1}
  mkdir -p "$RUN_DIR"
  RUN_DIR=$(cd "$RUN_DIR" && pwd)
  EXAMPLES=$(cd "$EXAMPLES" && pwd)

  for b in kube-apiserver etcd kubectl; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'make apiserver' (make run does it for you)"
  done
  for f in authentication.yaml authorization.yaml admission.yaml; do
    [[ -f $EXAMPLES/$f ]] || die "$EXAMPLES/$f is missing"
  done
  command -v openssl >/dev/null || die "openssl is needed (certificates and the service-account key)"
  port_free "$PORT" || die "port $PORT is in use (another 'make run'?); choose another with PORT="

  rm -f "$RUN_DIR/ready"
  make_pki
  make_tokens
  admission_config=$(admission_config_file)

  trap cleanup EXIT
  trap 'exit 0' INT # Ctrl-C is the way to stop it: not an error
  trap 'exit 143' TERM
  if [[ -n ${ETCD_SERVERS:-} ]]; then
    log "using etcd at $ETCD_SERVERS"
  else
    ETCD_PORT=${ETCD_PORT:-$(first_free_port 2379)}
    ETCD_SERVERS=http://127.0.0.1:$ETCD_PORT
    rm -rf "$RUN_DIR/etcd-data"
    log "starting etcd on 127.0.0.1:$ETCD_PORT (log: $RUN_DIR/etcd.log)"
    setsid "$BIN/etcd" --name kubewasm --data-dir "$RUN_DIR/etcd-data" \
      --listen-client-urls "$ETCD_SERVERS" --advertise-client-urls "$ETCD_SERVERS" \
      --listen-peer-urls http://127.0.0.1:0 --log-level warn >"$RUN_DIR/etcd.log" 2>&1 &
    ETCD_PID=$!
    echo "$ETCD_PID" >"$RUN_DIR/etcd.pid"
  fi
  wait_for "etcd" 30 curl -sf "$ETCD_SERVERS/health" -o /dev/null \
    || { [[ -z ${ETCD_PID:-} ]] || tail -20 "$RUN_DIR/etcd.log" >&2; die "etcd at $ETCD_SERVERS did not become healthy"; }

  log "starting kube-apiserver on https://127.0.0.1:$PORT (log: $RUN_DIR/apiserver.log)"
  # Own sessions (setsid): a Ctrl-C reaches only this script, which stops the API server first,
  # then etcd.
  # Working directory: examples/. The admission framework hands the WASM plugin its configuration
  # without the file's name, so relative module paths there resolve against the working directory.
  cd "$EXAMPLES"
  if [[ ${WASM:-on} == off ]]; then
    wasm_flags=(--authorization-mode=Node,RBAC)
  else
    wasm_flags=(--authentication-wasm-config-file="$EXAMPLES/authentication.yaml")
    if [[ -n ${AUTHORIZATION_CONFIG:-} ]]; then
      wasm_flags+=(--authorization-config="$AUTHORIZATION_CONFIG")
    else
      wasm_flags+=(--authorization-mode=Node,RBAC,WASM)
    fi
    wasm_flags+=(--authorization-wasm-config-file="$EXAMPLES/authorization.yaml"
      --enable-admission-plugins=WASM --admission-control-config-file="$admission_config")
  fi
  # shellcheck disable=SC2086 # APISERVER_FLAGS is deliberately word-split
  setsid "$BIN/kube-apiserver" \
    --etcd-servers="$ETCD_SERVERS" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT" \
    --tls-cert-file="$RUN_DIR/pki/apiserver.crt" --tls-private-key-file="$RUN_DIR/pki/apiserver.key" \
    --client-ca-file="$RUN_DIR/pki/ca.crt" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$RUN_DIR/pki/sa.key" --service-account-signing-key-file="$RUN_DIR/pki/sa.key" \
    --token-auth-file="$RUN_DIR/tokens.csv" \
    "${wasm_flags[@]}" \
    --v="$VERBOSITY" ${APISERVER_FLAGS:-} >"$RUN_DIR/apiserver.log" 2>&1 &
  APISERVER_PID=$!
  echo "$APISERVER_PID" >"$RUN_DIR/apiserver.pid"

  if ! wait_for "kube-apiserver /readyz" 120 ready; then
    tail -30 "$RUN_DIR/apiserver.log" >&2
    die "kube-apiserver did not become ready"
  fi

  write_kubeconfig admin "$(cat "$RUN_DIR/admin-token")"
  write_kubeconfig magic magic-token
  echo "https://127.0.0.1:$PORT" >"$RUN_DIR/ready"

  cat <<EOF

  kube-apiserver $("$BIN/kube-apiserver" --version | awk '{print $2}') with kubewasm is serving on https://127.0.0.1:$PORT$([[ ${WASM:-on} != off ]] || echo " (WASM=off: no WASM flags)")

    admin (system:masters):   export KUBECONFIG=$RUN_DIR/admin.kubeconfig
    magic-token (WASM authn): export KUBECONFIG=$RUN_DIR/magic.kubeconfig

    $BIN/kubectl --kubeconfig $RUN_DIR/magic.kubeconfig auth whoami
    $BIN/kubectl --kubeconfig $RUN_DIR/magic.kubeconfig get configmaps
    $BIN/kubectl --kubeconfig $RUN_DIR/magic.kubeconfig get secrets        # denied by the WASM authorizer
    make demo                                                              # the whole scenario

  configuration: $EXAMPLES/{authentication,authorization,admission}.yaml
  logs:          $RUN_DIR/apiserver.log, $RUN_DIR/etcd.log
  Ctrl-C stops the API server and etcd.

EOF
  # Serve until a signal or until one of the two exits.
  while kill -0 "$APISERVER_PID" 2>/dev/null && { [[ -z ${ETCD_PID:-} ]] || kill -0 "$ETCD_PID" 2>/dev/null; }; do
    sleep 1
  done
  kill -0 "$APISERVER_PID" 2>/dev/null || { tail -20 "$RUN_DIR/apiserver.log" >&2; die "kube-apiserver exited"; }
  die "etcd exited (see $RUN_DIR/etcd.log)"
}

log() { echo ">>> run: $*" >&2; }
die() { echo "run: $*" >&2; exit 1; }

first_free_port() {
  local p=$1
  while ! port_free "$p" || ! port_free $((p + 1)); do p=$((p + 2)); done
  echo "$p"
}

# wait_for WHAT SECONDS COMMAND...: poll COMMAND every half second.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    "$@" 2>/dev/null && return 0
    if [[ -n ${APISERVER_PID:-} ]] && ! kill -0 "$APISERVER_PID" 2>/dev/null; then return 1; fi
    sleep 0.5
  done
  log "timed out after ${secs}s waiting for $what"
  return 1
}

ready() {
  curl -sf --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $(cat "$RUN_DIR/admin-token")" \
    "https://127.0.0.1:$PORT/readyz" -o /dev/null
}

# A CA, a serving certificate for 127.0.0.1/localhost and the service-account key; kept across
# runs (so exported kubeconfigs stay valid), regenerated when missing.
make_pki() {
  local d=$RUN_DIR/pki
  [[ -f $d/ca.crt && -f $d/apiserver.crt && -f $d/sa.key ]] && return 0
  log "generating a CA, a serving certificate and the service-account key in $d"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=kubewasm-run-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    rm -f apiserver.csr apiserver.ext ca.srl
    chmod 600 ./*.key
  )
}

# Static tokens: only the admin (system:masters). magic-token is for the WASM authenticator.
make_tokens() {
  [[ -s $RUN_DIR/admin-token ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN_DIR/admin-token"
  chmod 600 "$RUN_DIR/admin-token"
  echo "$(cat "$RUN_DIR/admin-token"),admin,admin-uid,\"system:masters\"" >"$RUN_DIR/tokens.csv"
  chmod 600 "$RUN_DIR/tokens.csv"
}

# examples/admission.yaml is either an AdmissionConfiguration (used as is) or the WASM plugin's
# own configuration (then wrapped in an AdmissionConfiguration that points at it by path:).
admission_config_file() {
  local f=$EXAMPLES/admission.yaml
  if grep -Eq '^kind:[[:space:]]*AdmissionConfiguration[[:space:]]*$' "$f"; then
    echo "$f"
    return
  fi
  cat >"$RUN_DIR/admission-configuration.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  path: $f
EOF
  echo "$RUN_DIR/admission-configuration.yaml"
}

write_kubeconfig() {
  local name=$1 token=$2 f=$RUN_DIR/$1.kubeconfig
  cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubewasm
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority-data: $(base64 -w0 <"$RUN_DIR/pki/ca.crt")
users:
- name: $name
  user:
    token: $token
contexts:
- name: $name@kubewasm
  context:
    cluster: kubewasm
    user: $name
    namespace: default
current-context: $name@kubewasm
EOF
  chmod 600 "$f"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  rm -f "$RUN_DIR/ready"
  if [[ -n ${APISERVER_PID:-} ]] && kill -0 "$APISERVER_PID" 2>/dev/null; then
    log "stopping kube-apiserver (pid $APISERVER_PID)"
    kill -TERM "$APISERVER_PID" 2>/dev/null || true
    stop_wait "$APISERVER_PID" 70
  fi
  rm -f "$RUN_DIR/apiserver.pid"
  if [[ -n ${ETCD_PID:-} ]] && kill -0 "$ETCD_PID" 2>/dev/null; then
    log "stopping etcd (pid $ETCD_PID)"
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    stop_wait "$ETCD_PID" 20
  fi
  rm -f "$RUN_DIR/etcd.pid"
  exit "$rc"
}

# stop_wait PID SECONDS: wait for a process we started to exit; SIGKILL it after SECONDS.
stop_wait() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "pid $pid did not stop within ${secs}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

main "$@"
