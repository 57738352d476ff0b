# Shell helpers shared by hack/run.sh, hack/demo.sh, hack/bench-apiserver.sh and
# tests/e2e/e2e.sh. Source it; it defines functions only.

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a random free port from 20000 up to the kernel's ephemeral range (32768 by
# default), not handed out before by this shell. Below the ephemeral range, so that no client
# socket (curl, kubectl, the servers' own connections) takes the port between this check and
# the server's bind.
USED_PORTS=" "
free_port() {
  local p lo=20000 hi=32768 ephemeral
  if read -r ephemeral _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
    ((ephemeral > lo + 1000)); then
    hi=$ephemeral
  fi
  while :; do
    p=$((lo + RANDOM % (hi - lo)))
    [[ $USED_PORTS == *" $p "* ]] && continue
    port_free "$p" && break
  done
  USED_PORTS+="$p "
  echo "$p"
}

# start_etcd NAME DIR: etcd ($BIN/etcd) on a free loopback port with its data and log in DIR,
# in its own session. Sets ETCD_URL and ETCD_PID; returns 1 (after showing the log's end) when
# it does not become healthy within 30 s.
start_etcd() {
  local name=$1 dir=$2 port i
  port=$(free_port)
  ETCD_URL=http://127.0.0.1:$port
  setsid "$BIN/etcd" --name "$name" --data-dir "$dir/etcd-data" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls http://127.0.0.1:0 --log-level warn >"$dir/etcd.log" 2>&1 &
  ETCD_PID=$!
  for ((i = 0; i < 60; i++)); do
    curl -sf "$ETCD_URL/health" -o /dev/null && return 0
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -20 "$dir/etcd.log" >&2
  echo "$name: etcd did not start" >&2
  return 1
}
