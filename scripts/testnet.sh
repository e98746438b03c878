#!/usr/bin/env bash
# A local medchain testnet: a consortium CA and N provider + M auditor nodes, each its own
# process on loopback ports, with state under testnet/run/net (git-ignored).
#
#   scripts/testnet.sh up [--providers N] [--auditors M]   create and start (default 3 + 1)
#   scripts/testnet.sh status [--json]                     one line per node
#   scripts/testnet.sh logs NAME                           the node's last 100 log lines
#   scripts/testnet.sh stop NAME | start NAME              stop (SIGTERM) or start one node
#   scripts/testnet.sh down                                stop every node this script started
#   scripts/testnet.sh demo                                the paper's scenarios (starts the
#                                                          testnet first if it is not running)
#
# Nodes are named hospital-1..N and auditor-1..M. Only processes whose PIDs this script wrote are
# ever signalled.
#
# Environment: MEDCHAIN_TESTNET_DIR moves the state directory (tests use a temporary one);
# MEDCHAIN_BIN_DIR uses medchain (and, for demo, medchain-demo) from there instead of building the release;
# MEDCHAIN_VERIFIER_INTERVAL sets the nodes' scheduled scan, seconds (default 60; 0 = on demand);
# MEDCHAIN_API_TLS=off serves the APIs over plain HTTP (the bench's comparison without TLS).
#
# The APIs serve https with ECDSA P-256 certificates from the testnet's own API CA
# ($root/api-ca/api-ca.pem: `status --json` gives its absolute path as each node's api_ca).
# `medchain ... --config DATA_DIR/medchain.toml` trusts it by itself; with --api, add --api-ca.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

root=${MEDCHAIN_TESTNET_DIR:-testnet/run/net}
bin_dir=${MEDCHAIN_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
bin=$bin_dir/medchain

die() { echo "testnet: $*" >&2; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on and this run has not handed out, in $port.
# (Bash only: a fresh machine may have no python or ss.)
handed_out=" "
next_port() {
  while :; do
    port=$((20000 + RANDOM % 12000)) # below the kernel's ephemeral range (32768+)
    case "$handed_out" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      handed_out+="$port "
      return
    fi
  done
}

build() {
  if [ -n "${MEDCHAIN_BIN_DIR:-}" ]; then
    [ -x "$bin" ] || die "MEDCHAIN_BIN_DIR=$bin_dir lacks medchain"
    return
  fi
  echo "building medchain (release; the first build takes a few minutes)"
  cargo build --release --locked -q -p medchain-node -p medchain-demo
}
nodes() { [ -d "$root/nodes" ] && ls "$root/nodes" | sort || true; }
# A node's API URL (a state directory written before the APIs served https, or by the chaos
# harness, has only the address: plain HTTP).
api_url() {
  local dir="$root/nodes/$1"
  if [ -f "$dir/api_url" ]; then cat "$dir/api_url"; else echo "http://$(cat "$dir/api")"; fi
}
pid_of() { cat "$root/nodes/$1/pid" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start_node() {
  local name=$1 dir="$root/nodes/$1"
  alive "$name" && { echo "$name already running (pid $(pid_of "$name"))"; return; }
  nohup "$bin" --log-format json run --config "$dir/data/medchain.toml" >>"$dir/node.log" 2>&1 &
  echo $! >"$dir/pid"
  # Ready when the API answers, after the start-up scan (bounded: 600 s; a store of a million
  # records takes over a minute to scan).
  for _ in $(seq 1 1200); do
    if "$bin" status --config "$dir/data/medchain.toml" >/dev/null 2>&1; then return; fi
    alive "$name" || die "$name exited; see $dir/node.log"
    sleep 0.5
  done
  die "$name not ready within 600 s; see $dir/node.log"
}

stop_node() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if ! alive "$name"; then echo "$name is not running"; return; fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do alive "$name" || { echo "$name stopped"; return; }; sleep 0.25; done
  echo "$name did not stop within 15 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

table() {
  printf '%-12s %-9s %-24s %-62s %-8s %s\n' NAME ROLE API P2P PID DATA
  for name in $(nodes); do
    local dir="$root/nodes/$name" pid state
    pid=$(pid_of "$name"); alive "$name" && state=$pid || state="stopped"
    printf '%-12s %-9s %-24s %-62s %-8s %s\n' "$name" "$(cat "$dir/role")" "$(api_url "$name")" \
      "$(cat "$dir/p2p")" "$state" "$dir/data"
  done
}

up() {
  local providers=3 auditors=1
  while [ $# -gt 0 ]; do
    case $1 in
      --providers) providers=$2; shift 2 ;;
      --auditors) auditors=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  for name in $(nodes); do alive "$name" && die "the testnet is running; run 'scripts/testnet.sh down' first"; done
  build
  rm -rf "$root" && mkdir -p "$root/nodes"
  "$bin" ca init --name "Local Testnet Consortium" --out "$root/ca" >/dev/null
  local tls=on
  case "${MEDCHAIN_API_TLS:-on}" in on) ;; off) tls=off ;; *) die "MEDCHAIN_API_TLS must be on or off" ;; esac
  [ $tls = on ] && "$bin" tls ca --name "Local Testnet API CA" --out "$root/api-ca" >/dev/null
  local bootstrap=() names=()
  for i in $(seq 1 "$providers"); do names+=("hospital-$i:provider:Hospital $i"); done
  for i in $(seq 1 "$auditors"); do names+=("auditor-$i:auditor:Auditor $i"); done
  for spec in "${names[@]}"; do
    IFS=: read -r name role org <<<"$spec"
    local dir="$root/nodes/$name" api p2p peer
    mkdir -p "$dir"
    peer=$("$bin" ca issue --ca "$root/ca" --role "$role" --org "$org" --out "$dir/member" | awk '/peer id/ {print $3}')
    next_port; api="127.0.0.1:$port"
    next_port; p2p="/ip4/127.0.0.1/tcp/$port"
    local args=(init --role "$role" --ca "$root/ca" --member "$dir/member" --data-dir "$dir/data"
      --network medchain-local --api-listen "$api" --p2p-listen "$p2p"
      --verifier-interval "${MEDCHAIN_VERIFIER_INTERVAL:-60}")
    # Each hospital has its recovery key (kept here for the demo's backup drill; a real one
    # lives offline, like the CA key).
    if [ "$role" = provider ]; then
      "$bin" recovery init --out "$dir/recovery" >/dev/null
      args+=(--recovery-public "$dir/recovery/recovery.pub")
    fi
    if [ $tls = on ]; then
      "$bin" tls issue --ca "$root/api-ca" --host localhost --host 127.0.0.1 --out "$dir/api-tls" >/dev/null
      args+=(--api-tls-cert "$dir/api-tls/api.pem" --api-tls-key "$dir/api-tls/api.key"
        --api-tls-ca "$root/api-ca/api-ca.pem")
      echo "https://$api" >"$dir/api_url"
    else
      args+=(--api-plain-http)
      echo "http://$api" >"$dir/api_url"
    fi
    # Every node dials every node made before it, so the network is a full mesh, not a star.
    for peer_addr in "${bootstrap[@]}"; do args+=(--bootstrap "$peer_addr"); done
    "$bin" "${args[@]}" >/dev/null
    echo "$role" >"$dir/role"; echo "$api" >"$dir/api"; echo "$p2p/p2p/$peer" >"$dir/p2p"
    bootstrap+=("$p2p/p2p/$peer")
  done
  for name in $(nodes); do start_node "$name"; done
  # A provider signs nothing until its peers have confirmed its chain's head (for a new node:
  # that none of them holds its chain); wait for that before handing the testnet over.
  for name in $(nodes); do wait_writable "$name"; done
  table
}

wait_writable() {
  local name=$1 dir="$root/nodes/$1"
  [ "$(cat "$dir/role")" = provider ] || return 0
  for _ in $(seq 1 240); do
    if "$bin" status --config "$dir/data/medchain.toml" 2>/dev/null | grep -q '"writes_paused": null'; then return; fi
    sleep 0.25
  done
  die "$name did not confirm its chain with its peers within 60 s (writes stay paused); see $dir/node.log"
}

status() {
  if [ "${1:-}" = "--json" ]; then
    local first=1 api_ca=null
    [ -f "$root/api-ca/api-ca.pem" ] && api_ca="\"$(cd "$root/api-ca" && pwd)/api-ca.pem\""
    printf '['
    for name in $(nodes); do
      local dir="$root/nodes/$name" pid running=false url ca=null
      pid=$(pid_of "$name"); alive "$name" && running=true
      url=$(api_url "$name")
      case $url in https://*) ca=$api_ca ;; esac
      [ $first = 1 ] || printf ','; first=0
      printf '{"name":"%s","role":"%s","api":"%s","api_ca":%s,"p2p":"%s","pid":%s,"running":%s,"data_dir":"%s"}' \
        "$name" "$(cat "$dir/role")" "$url" "$ca" "$(cat "$dir/p2p")" "${pid:-null}" "$running" "$dir/data"
    done
    printf ']\n'
  else
    table
  fi
}

demo() {
  local running=0 total=0
  for name in $(nodes); do total=$((total + 1)); alive "$name" && running=$((running + 1)); done
  if [ "$running" = 0 ]; then
    up
  elif [ "$running" != "$total" ]; then
    die "$running of $total nodes are running; start them (or 'down' then 'demo') first"
  else
    build
  fi
  [ -x "$bin_dir/medchain-demo" ] || die "$bin_dir lacks medchain-demo (cargo build --release -p medchain-demo)"
  "$bin_dir/medchain-demo" --testnet "$root" --script "$self" --medchain "$bin"
  echo
  echo "The testnet keeps running: scripts/testnet.sh status | logs NAME | down"
}

[ $# -ge 1 ] || { sed -n '2,23p' "$0"; exit 2; }
command=$1; shift
case $command in
  up) up "$@" ;;
  status) status "$@" ;;
  logs) [ $# -eq 1 ] || die "usage: logs NAME"; tail -n 100 "$root/nodes/$1/node.log" ;;
  stop) [ $# -eq 1 ] || die "usage: stop NAME"; [ -d "$root/nodes/$1" ] || die "no node $1"; stop_node "$1" ;;
  start) [ $# -eq 1 ] || die "usage: start NAME"; [ -d "$root/nodes/$1" ] || die "no node $1"; start_node "$1"; table ;;
  down) for name in $(nodes); do stop_node "$name"; done ;;
  demo) demo ;;
  *) die "unknown command $command (up, status, logs, stop, start, down, demo)" ;;
esac
