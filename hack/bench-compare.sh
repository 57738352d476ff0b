#!/usr/bin/env bash
# `make bench-compare`: what one admission policy costs a ConfigMap create through the patched
# kube-apiserver, done four ways, side by side, in one run on this machine.
#
# One etcd, ONE kube-apiserver (hack/run.sh), one webhook server (hack/webhook), and every policy
# configured once at start. Each column has a namespace of its own and every policy selects only
# its column's namespace (namespaceSelector on kubernetes.io/metadata.name), so switching columns
# changes nothing but the namespace of the create; a create in another column's namespace matches
# nothing (for the WASM plugin: no serialization, no cgo call).
#
#   column            namespace                what runs on the create
#   none              bench-none               nothing
#   wasm              bench-wasm               WASM plugin: magic-validator + safe-annotations
#   vap               bench-vap                ValidatingAdmissionPolicy, the same two checks in CEL
#   webhook           bench-webhook            validating webhook (hack/webhook), the same checks
#   wasm-mutating     bench-wasm-mutating      WASM plugin: magic-mutator
#   webhook-mutating  bench-webhook-mutating   mutating webhook producing the same patch
#   map               bench-map                MutatingAdmissionPolicy (when the server serves it)
#   wasm-floor        bench-wasm-floor         WASM plugin: floor-validator twice, a module that does
#                                              not parse its input (what the mechanism costs on its
#                                              own: two fresh instances, the envelope in and out)
#   wasm-b            bench-wasm-b             with KUBEWASM_MODULES_B=DIR only: the `wasm` column's two
#                                              modules built another way, taken from DIR (an A/B
#                                              of module builds in one server, one run)
#
# Every create uses the admin token (static token, system:masters): authentication and
# authorization cost the same in every column. The validating columns are measured with an
# allowed create and with a rejected one (a data key "not-allowed-value": 403 from all three).
# Each batch is BATCH creates over one keep-alive HTTPS connection (curl -w %{time_total}; the
# first create of a batch, which pays the TLS handshake, is not counted), batches interleaved
# column by column with the order rotated every round, so machine noise hits every column alike.
#
# Prints p50, p90, p99 and mean per column and the added latency over `none`; then the server's
# own view, column by column (VIEW_N more creates each): CPU per create of kube-apiserver, the
# webhook server and etcd (/proc/PID/stat), and the mean per create of the admission plugins', the
# library calls', the modules', the webhook calls' and the policies' time (/metrics). The last
# line is exactly
#   bench-compare: p50 added ms: wasm=X vap=Y webhook=Z
# (allowed creates, ms, two decimals), for scripts.
#
# Environment: N (creates per column, default 1000), BATCH (default 100), WARMUP (per column,
# default 50), VIEW_N (default 500), KUBEWASM_BIN (default _output/bin; make bench-compare
# PROFILE=1 uses the unstripped build), KUBEWASM_MODULES (default build/modules),
# KUBEWASM_MODULES_B (adds the wasm-b column), BENCH_WEBHOOK (the webhook binary, default
# $KUBEWASM_BIN/bench-webhook, built from hack/webhook when missing), KEEP=1 keeps the scratch
# directory, PPROF=COLUMN: after the measurement, create in COLUMN for PPROF_SECONDS (default
# 20) while taking a CPU profile from /debug/pprof/profile into PPROF_OUT (default
# _output/bench-compare.<column>.pprof).
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=lib.sh
  source "$ROOT/hack/lib.sh"
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  N=${N:-1000}
  BATCH=${BATCH:-100}
  WARMUP=${WARMUP:-50}
  MODULES=${KUBEWASM_MODULES:-$ROOT/build/modules}
  MODULES_B=${KUBEWASM_MODULES_B:-}
  if [[ -n $MODULES_B ]]; then
    for m in magic-validator safe-annotations; do
      [[ -f $MODULES_B/$m.wasm ]] || die "KUBEWASM_MODULES_B: $MODULES_B/$m.wasm is missing"
    done
  fi
  for b in kube-apiserver etcd kubectl; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'make apiserver'"
  done
  for m in magic-validator magic-mutator safe-annotations floor-validator; do
    [[ -f $MODULES/$m.wasm ]] || die "$MODULES/$m.wasm is missing: run 'make fixtures policies'"
  done
  WEBHOOK=${BENCH_WEBHOOK:-$BIN/bench-webhook}
  if [[ ! -x $WEBHOOK ]]; then
    (cd "$ROOT/hack/webhook" && GOWORK=off go build -trimpath -o "$WEBHOOK" .) || die "cannot build hack/webhook"
  fi
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/kubewasm-bench-compare.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  echo "bench-compare: $("$BIN/kube-apiserver" --version), $(nproc) CPUs ($(cpu_model)), N=$N per column, batches of $BATCH"
  echo "bench-compare: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  start_etcd bench-compare "$TMP" || exit 1
  start_webhook
  start_server
  setup_policies

  local rows=() r
  rows=("none allow" "wasm allow" "vap allow" "webhook allow" "wasm deny" "vap deny" "webhook deny"
    "wasm-mutating allow" "webhook-mutating allow" "wasm-floor allow" "wasm-floor deny")
  [[ -n $MAP ]] && rows+=("map allow")
  [[ -n $MODULES_B ]] && rows+=("wasm-b allow" "wasm-b deny")
  for r in "${rows[@]}"; do creates $r "$WARMUP" >/dev/null; done
  local done_=0 n round=0 i k=${#rows[@]}
  while ((done_ < N)); do
    n=$((N - done_ < BATCH ? N - done_ : BATCH))
    for ((i = 0; i < k; i++)); do
      r=${rows[(i + round) % k]}
      creates $r "$n" >>"$TMP/times.${r// /-}"
    done
    done_=$((done_ + n))
    round=$((round + 1))
  done
  echo "bench-compare: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

  echo
  printf '%-26s %6s %9s %9s %9s %9s %13s\n' "ConfigMap create (ms)" n p50 p90 p99 mean "p50 over none"
  local none_p50
  none_p50=$(quantile "$TMP/times.none-allow" 0.5)
  for r in "${rows[@]}"; do
    stats "$r" "$TMP/times.${r// /-}" "$none_p50"
  done
  echo "(\"deny\" rows: rejected before storage, so they are compared with each other, not with none)"
  echo
  server_view
  if [[ -n ${PPROF:-} ]]; then profile "$PPROF"; fi
  echo
  echo "command: N=$N BATCH=$BATCH hack/bench-compare.sh   (make bench-compare)"
  printf 'bench-compare: p50 added ms: wasm=%.2f vap=%.2f webhook=%.2f\n' \
    "$(added wasm-allow "$none_p50")" "$(added vap-allow "$none_p50")" "$(added webhook-allow "$none_p50")"
}

die() { echo "bench-compare: $*" >&2; exit 1; }
log() { echo ">>> bench-compare: $*" >&2; }

cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }

# The webhook server on a free port; its CA goes into the webhook configurations' caBundle.
start_webhook() {
  local port i
  port=$(free_port)
  WEBHOOK_URL=https://127.0.0.1:$port
  setsid "$WEBHOOK" -listen "127.0.0.1:$port" -ca-file "$TMP/webhook-ca.crt" >"$TMP/webhook.log" 2>&1 &
  WEBHOOK_PID=$!
  for ((i = 0; i < 60; i++)); do
    [[ -s $TMP/webhook-ca.crt ]] && curl -sf --cacert "$TMP/webhook-ca.crt" "$WEBHOOK_URL/healthz" -o /dev/null && return 0
    kill -0 "$WEBHOOK_PID" 2>/dev/null || break
    sleep 0.5
  done
  cat "$TMP/webhook.log" >&2
  die "the webhook server did not start"
}

# hack/run.sh with this benchmark's configuration: the examples' authentication and
# authorization modules (the admin token never reaches them) and hack/bench/admission.yaml.
start_server() {
  local cfg=$TMP/config port i flags
  mkdir -p "$cfg" "$TMP/run"
  sed "s#\.\./build/modules#$MODULES#" "$ROOT/examples/authentication.yaml" >"$cfg/authentication.yaml"
  sed "s#\.\./build/modules#$MODULES#" "$ROOT/examples/authorization.yaml" >"$cfg/authorization.yaml"
  sed "s#MODULES/#$MODULES/#" "$ROOT/hack/bench/admission.yaml" >"$cfg/admission.yaml"
  if [[ -n $MODULES_B ]]; then
    # The wasm column's two modules again, from MODULES_B, named *-b, for namespace bench-wasm-b.
    awk '/^    - name: magic-validator$/ { on = 1 } on { print }' "$ROOT/hack/bench/admission.yaml" |
      sed -e "s#MODULES/#$MODULES_B/#" -e 's#^\(    - name: [a-z-]*\)$#\1-b#' \
        -e 's#kubernetes.io/metadata.name: bench-wasm$#kubernetes.io/metadata.name: bench-wasm-b#' \
        >>"$cfg/admission.yaml"
  fi
  flags="--profiling=true ${BENCH_APISERVER_FLAGS:-}"
  port=$(free_port)
  RUN_DIR=$TMP/run
  env RUN_DIR="$RUN_DIR" PORT="$port" KUBEWASM_BIN="$BIN" ETCD_SERVERS="$ETCD_URL" EXAMPLES="$cfg" \
    APISERVER_FLAGS="$flags" VERBOSITY=0 setsid "$ROOT/hack/run.sh" >"$TMP/run.log" 2>&1 &
  RUN_PID=$!
  for ((i = 0; i < 300; i++)); do
    if [[ -f $RUN_DIR/ready ]]; then
      URL=https://127.0.0.1:$port
      TOKEN=$(cat "$RUN_DIR/admin-token")
      return 0
    fi
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$TMP/run.log" >&2
  die "the API server did not start"
}

kubectl_() { "$BIN/kubectl" --kubeconfig "$RUN_DIR/admin.kubeconfig" "$@"; }

# Namespaces, the ValidatingAdmissionPolicy, the webhook configurations and (when served) the
# MutatingAdmissionPolicy; then waits until every column behaves as it should.
setup_policies() {
  kubectl_ apply -f "$ROOT/hack/bench/namespaces.yaml" >/dev/null
  [[ -n $MODULES_B ]] && kubectl_ create namespace bench-wasm-b >/dev/null
  kubectl_ apply -f "$ROOT/hack/bench/vap.yaml" >/dev/null
  sed -e "s#WEBHOOK_URL#$WEBHOOK_URL#" -e "s#CA_BUNDLE#$(base64 -w0 <"$TMP/webhook-ca.crt")#" \
    "$ROOT/hack/bench/webhooks.yaml" | kubectl_ apply -f - >/dev/null
  MAP=
  if kubectl_ get --raw /apis/admissionregistration.k8s.io/v1 2>/dev/null |
    grep -q '"name":"mutatingadmissionpolicies"'; then
    kubectl_ apply -f "$ROOT/hack/bench/map.yaml" >/dev/null
    MAP=1
  else
    log "the server does not serve admissionregistration.k8s.io/v1 MutatingAdmissionPolicy: no map column"
  fi
  write_bodies
  # Policies take effect asynchronously (informers): wait until each column answers as expected.
  local c
  for c in wasm vap webhook wasm-floor ${MODULES_B:+wasm-b}; do
    wait_until "$c rejects" expect "$c" deny 403 "not-allowed-value" || die "column $c does not reject"
    expect "$c" allow 201 '"puzzle.ch/owner"' || die "column $c does not allow a valid create"
  done
  for c in wasm-mutating webhook-mutating ${MAP:+map}; do
    wait_until "$c mutates" expect "$c" allow 201 '"magic-value":"foobar"' || die "column $c does not mutate"
  done
  expect none deny 201 '"not-allowed-value"' || die "column none rejects a create"
  if expect none allow 201 '"magic-value"'; then die "column none mutates"; fi
  if expect wasm allow 201 '"magic-value"'; then die "column wasm mutates"; fi
}

write_bodies() {
  printf '%s' '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"bench-","annotations":{"puzzle.ch/owner":"bench"}},"data":{"greeting":"hello"}}' >"$TMP/allow.json"
  printf '%s' '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"bench-","annotations":{"puzzle.ch/owner":"bench"}},"data":{"greeting":"hello","not-allowed-value":"x"}}' >"$TMP/deny.json"
}

# expect COLUMN BODY CODE TEXT: one create answers CODE with TEXT in the body.
expect() {
  local out code
  out=$(curl -sS -A kubewasm-bench --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/$2.json" -w '\n%{http_code}' \
    "$URL/api/v1/namespaces/bench-$1/configmaps") || return 1
  code=${out##*$'\n'}
  [[ $code == "$3" && $out == *"$4"* ]]
}

wait_until() {
  local what=$1 i
  shift
  for ((i = 0; i < 60; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  log "timed out waiting for: $what"
  return 1
}

# creates COLUMN BODY COUNT: COUNT creates over one connection (after one uncounted create that
# pays the TLS handshake); prints the seconds of each, and fails on an unexpected status.
creates() {
  local column=$1 body=$2 count=$3 want=201 i
  [[ $body == deny ]] && want=403
  local url=$URL/api/v1/namespaces/bench-$column/configmaps args=()
  for ((i = 0; i <= count; i++)); do args+=(-o /dev/null "$url"); done
  curl -sS -A kubewasm-bench --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/$body.json" \
    -w '%{http_code} %{time_total}\n' "${args[@]}" |
    awk -v what="$column $body" -v want="$want" '
      $1 != want { print "bench-compare: " what ": HTTP " $1 " (want " want ")" > "/dev/stderr"; bad = 1 }
      NR > 1 { print $2 } END { exit bad }'
}

# quantile FILE Q: the Q-quantile (nearest rank) of the seconds in FILE, in ms.
quantile() {
  sort -g "$1" | awk -v q="$2" '{ v[NR] = $1 } END { i = int(NR * q + 0.999999); if (i < 1) i = 1; printf "%.4f", v[i] * 1000 }'
}

stats() {
  sort -g "$2" | awk -v name="$1" -v none="$3" '
    function q(p,   i) { i = int(NR * p + 0.999999); if (i < 1) i = 1; return v[i] * 1000 }
    { v[NR] = $1; s += $1 }
    END {
      added = (name ~ / allow$/ && name != "none allow") ? sprintf("%+.2f", q(0.5) - none) : ""
      printf "%-26s %6d %9.2f %9.2f %9.2f %9.2f %13s\n", name, NR, q(0.5), q(0.9), q(0.99), s / NR * 1000, added
    }'
}

added() { awk -v a="$(quantile "$TMP/times.$1" 0.5)" -v b="$2" 'BEGIN { printf "%.4f", a - b }'; }

# The server's own accounting, from /metrics: for each policy column, COUNT more creates in that
# column alone, and the mean per create of what the server recorded meanwhile (the difference
# of two scrapes): the admission plugins' time, the kubewasm library calls as Go sees them, the
# modules' own time, the webhook calls, the policies' checks.
server_view() {
  local count=${VIEW_N:-500} c
  echo "inside the server: mean per create over $count more creates per column (difference of two /metrics scrapes)"
  local apiserver_pid s0 s1 w0 w1 e0 e1
  apiserver_pid=$(cat "$RUN_DIR/apiserver.pid")
  for c in none wasm vap webhook wasm-mutating webhook-mutating ${MAP:+map} wasm-floor ${MODULES_B:+wasm-b}; do
    scrape "$TMP/metrics.before"
    s0=$(cpu_ticks "$apiserver_pid") w0=$(cpu_ticks "$WEBHOOK_PID") e0=$(cpu_ticks "$ETCD_PID")
    creates "$c" allow "$count" >/dev/null
    s1=$(cpu_ticks "$apiserver_pid") w1=$(cpu_ticks "$WEBHOOK_PID") e1=$(cpu_ticks "$ETCD_PID")
    scrape "$TMP/metrics.after"
    # (creates makes one more, uncounted, create per batch: it is in the metrics too)
    awk -v c="$c" -v n=$((count + 1)) -v s=$((s1 - s0)) -v w=$((w1 - w0)) -v e=$((e1 - e0)) -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "  %s: CPU per create: kube-apiserver %.2f ms, webhook server %.2f ms, etcd %.2f ms\n", c, s / hz / n * 1e3, w / hz / n * 1e3, e / hz / n * 1e3 }'
    metric_means "$TMP/metrics.before" "$TMP/metrics.after" $((count + 1))
  done
}

# cpu_ticks PID: user + system CPU time of the process so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

scrape() { curl -sS --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $TOKEN" "$URL/metrics" >"$1"; }

# metric_means BEFORE AFTER CREATES: per series of interest, (sum after - sum before) / CREATES
# in µs, and the number of observations per create.
metric_means() {
  awk -v creates="$3" '
    function label(s, k,   re) { re = k "=\"[^\"]*\""; if (!match(s, re)) return ""; return substr(s, RSTART + length(k) + 2, RLENGTH - length(k) - 3) }
    function key() {
      if ($0 ~ /^apiserver_wasm_module_duration_seconds_/) return "wasm module " label($0, "module") " (" label($0, "outcome") ")"
      if ($0 ~ /^apiserver_wasm_library_call_duration_seconds_/) return "wasm library call, " label($0, "kind") " (cgo call as Go sees it)"
      if ($0 ~ /^apiserver_admission_webhook_admission_duration_seconds_/) return "webhook " label($0, "name") " (" label($0, "type") ", as the server sees it)"
      if ($0 ~ /^apiserver_validating_admission_policy_check_duration_seconds_/) return "ValidatingAdmissionPolicy " label($0, "policy") " check"
      if ($0 ~ /^apiserver_mutating_admission_policy_check_duration_seconds_/) return "MutatingAdmissionPolicy " label($0, "policy") " check"
      if ($0 ~ /^apiserver_admission_controller_admission_duration_seconds_/ && $0 ~ /operation="CREATE"/ &&
        label($0, "name") ~ /^(WASM|ValidatingAdmissionPolicy|MutatingAdmissionPolicy|ValidatingAdmissionWebhook|MutatingAdmissionWebhook)$/)
        return "plugin " label($0, "name") " (" label($0, "type") ")"
      return ""
    }
    /^[a-z_]+_(sum|count)\{/ {
      k = key(); if (k == "") next
      sign = (FILENAME == ARGV[1]) ? -1 : 1
      if ($1 ~ /_sum\{/) sum[k] += sign * $NF; else cnt[k] += sign * $NF
    }
    END {
      for (k in cnt) if (cnt[k] > 0 && sum[k] > 0)
        printf "    %-62s %6.2f per create %9.1f us per create\n", k, cnt[k] / creates, sum[k] / creates * 1e6
    }' "$1" "$2" | sort
}

# profile COLUMN: a CPU profile of the server while only COLUMN's allowed creates run.
profile() {
  local column=$1 secs=${PPROF_SECONDS:-20} out=${PPROF_OUT:-$ROOT/_output/bench-compare.$1.pprof} pid
  echo
  log "profiling the server for ${secs}s while creating in column $column"
  curl -sS --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
    "$URL/debug/pprof/profile?seconds=$secs" -o "$out" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do creates "$column" allow 50 >/dev/null || true; done
  wait "$pid" || die "the profile request failed"
  echo "CPU profile of column $column: $out (go tool pprof -top $BIN/kube-apiserver $out)"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  if [[ -n ${RUN_PID:-} ]]; then
    kill -TERM "$RUN_PID" 2>/dev/null || true
    for ((i = 0; i < 900; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n ${WEBHOOK_PID:-} ]]; then
    kill -TERM "$WEBHOOK_PID" 2>/dev/null || true
    wait "$WEBHOOK_PID" 2>/dev/null || true
  fi
  if [[ -n ${ETCD_PID:-} ]]; then
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  if [[ -n ${KEEP:-} ]]; then echo "bench-compare: kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

main "$@"
