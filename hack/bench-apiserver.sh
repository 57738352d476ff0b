#!/usr/bin/env bash
# `make bench-apiserver`: the latency of creating a ConfigMap through the patched kube-apiserver,
# with and without kubewasm, on this machine, in one run.
#
# One etcd, two API servers from the same binary (hack/run.sh, each with its own etcd prefix):
#   off    no WASM flag at all (authorization Node,RBAC; no WASM admission plugin)
#   wasm   examples/ as `make run` uses it: WASM authentication and authorization, and the WASM
#          admission plugin with magic-mutator, magic-validator and the Kubewarden policy
#          safe-annotations, all three matching ConfigMap creation
# and three clients, each creating N ConfigMaps (POST with generateName, one keep-alive HTTPS
# connection per batch: `curl -w %{time_total}` over many URLs), interleaved in batches so that
# machine noise hits every column alike:
#   off              admin (static token, system:masters) on the server without WASM
#   wasm admin       admin on the WASM server: the admission plugin's three modules run
#   wasm magic-token the magic user on the WASM server: WASM authentication (behind the API
#                    server's 10 s token cache), WASM authorization and the three admission modules
#
# Prints median, p90 and mean per column, plus the modules' own time from the server's
# apiserver_wasm_module_duration_seconds metric.
#
# Environment: N (creates per column, default 200), BATCH (default 50), WARMUP (default 20),
# KUBEWASM_BIN (default _output/bin), KEEP=1 keeps the scratch directory.
set -euo pipefail

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # shellcheck source=lib.sh
  source "$ROOT/hack/lib.sh"
  BIN=${KUBEWASM_BIN:-$ROOT/_output/bin}
  N=${N:-200}
  BATCH=${BATCH:-50}
  WARMUP=${WARMUP:-20}
  for b in kube-apiserver etcd; do
    [[ -x $BIN/$b ]] || { echo "bench-apiserver: $BIN/$b is missing: run 'make apiserver'" >&2; exit 2; }
  done
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/kubewasm-bench.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  echo "bench-apiserver: $("$BIN/kube-apiserver" --version), $(nproc) CPUs, N=$N per column"
  start_etcd bench "$TMP" || exit 1
  start_server off WASM=off
  start_server wasm

  local body
  body='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"bench-","annotations":{"puzzle.ch/owner":"bench"}},"data":{"greeting":"hello"}}'
  printf '%s' "$body" >"$TMP/configmap.json"
  local columns=("off admin" "wasm admin" "wasm magic-token")
  local c
  for c in "${columns[@]}"; do creates $c "$WARMUP" >/dev/null; done
  local done_=0 n
  while ((done_ < N)); do
    n=$((N - done_ < BATCH ? N - done_ : BATCH))
    for c in "${columns[@]}"; do creates $c "$n" >>"$TMP/times.${c// /-}"; done
    done_=$((done_ + n))
  done

  echo
  printf '%-26s %8s %10s %10s %10s\n' "ConfigMap create" "n" "median" "p90" "mean"
  for c in "${columns[@]}"; do
    stats "$c" "$TMP/times.${c// /-}"
  done
  echo
  echo "time inside the modules (apiserver_wasm_module_duration_seconds, mean per call, wasm server):"
  module_times
  echo
  echo "command: N=$N hack/bench-apiserver.sh   (make bench-apiserver)"
}


# start_server NAME [VAR=VALUE...]: hack/run.sh with examples/, in the background, until ready.
declare -A URLS RUN_PIDS
start_server() {
  local name=$1 port dir=$TMP/$1
  shift
  port=$(free_port)
  mkdir -p "$dir"
  env RUN_DIR="$dir" PORT="$port" KUBEWASM_BIN="$BIN" ETCD_SERVERS="$ETCD_URL" \
    APISERVER_FLAGS="--etcd-prefix=/$name" VERBOSITY=0 "$@" \
    setsid "$ROOT/hack/run.sh" >"$dir/run.log" 2>&1 &
  RUN_PIDS[$name]=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if [[ -f $dir/ready ]]; then
      URLS[$name]=https://127.0.0.1:$port
      return 0
    fi
    kill -0 "${RUN_PIDS[$name]}" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$dir/run.log" >&2
  echo "bench-apiserver: the '$name' server did not start" >&2
  exit 1
}

# creates SERVER USER COUNT: COUNT ConfigMap creates over one connection; prints the seconds of
# each (and fails on any status but 201).
creates() {
  local server=$1 user=$2 count=$3 dir=$TMP/$1 token
  case $user in
    admin) token=$(cat "$dir/admin-token") ;;
    *) token=$user ;;
  esac
  local url=${URLS[$server]}/api/v1/namespaces/default/configmaps args=() i
  for ((i = 0; i < count; i++)); do args+=(-o /dev/null "$url"); done
  curl -sS -A kubewasm-bench --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/configmap.json" \
    -w '%{http_code} %{time_total}\n' "${args[@]}" |
    awk -v what="$server $user" '$1 != 201 { print "bench-apiserver: " what ": HTTP " $1 > "/dev/stderr"; bad = 1 }
      { print $2 } END { exit bad }'
}

stats() {
  sort -g "$2" | awk -v name="$1" '
    { v[NR] = $1; s += $1 }
    END {
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      p90 = v[int(NR * 0.9 + 0.999999)]
      printf "%-26s %8d %8.2f ms %7.2f ms %7.2f ms\n", name, NR, med * 1000, p90 * 1000, s / NR * 1000
    }'
}

module_times() {
  local dir=$TMP/wasm
  curl -sS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$dir/admin-token")" \
    "${URLS[wasm]}/metrics" |
    awk '/^apiserver_wasm_module_duration_seconds_(sum|count)\{/ {
        match($0, /module="[^"]*"/); m = substr($0, RSTART + 8, RLENGTH - 9)
        match($0, /kind="[^"]*"/); k = substr($0, RSTART + 6, RLENGTH - 7)
        key = k " " m
        if ($0 ~ /_sum\{/) sum[key] += $NF; else cnt[key] += $NF
      }
      END { for (key in cnt) if (cnt[key] > 0) printf "  %-40s %8d calls %9.1f µs\n", key, cnt[key], sum[key] / cnt[key] * 1e6 }' |
    sort
}


cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${RUN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${RUN_PIDS[@]}"; do
    for ((i = 0; i < 900; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [[ -n ${ETCD_PID:-} ]]; then
    kill -TERM "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  if [[ -n ${KEEP:-} ]]; then echo "bench-apiserver: kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

main "$@"
