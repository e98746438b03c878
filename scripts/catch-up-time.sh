#!/usr/bin/env bash
# Times a fresh auditor's catch-up on the network a bench run left on disk: every provider
# started, auditor-1's store removed, auditor-1 started, then the seconds until its chains'
# blocks number hospital-1's. Repeated RUNS times (default 3); every node is stopped at the end.
#
#   scripts/catch-up-time.sh [RUNS]
#
# Run `scripts/bench.sh --quick` (or the full bench) first: it leaves its network in
# testnet/run/bench. MEDCHAIN_TESTNET_DIR moves it; MEDCHAIN_BIN_DIR picks the medchain binary
# (default target/release), so two builds can be alternated run by run. Each catch-up is given at
# most 30 minutes. docs/performance.md quotes this script's figures.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
export MEDCHAIN_TESTNET_DIR=${MEDCHAIN_TESTNET_DIR:-testnet/run/bench}
export MEDCHAIN_BIN_DIR=${MEDCHAIN_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
root=$MEDCHAIN_TESTNET_DIR
[ -d "$root/nodes/auditor-1" ] || { echo "no bench network in $root: run scripts/bench.sh --quick first" >&2; exit 2; }

trap 'scripts/testnet.sh down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM

# Blocks held by node $1: the sum of (height + 1) over its chains; 0 while it does not answer.
blocks_of() {
  local chains
  chains=$("$MEDCHAIN_BIN_DIR/medchain" chain list --config "$root/nodes/$1/data/medchain.toml" 2>/dev/null) || true
  printf '%s\n' "$chains" | awk '{
    while (match($0, /"height": *[0-9]+/)) {
      h = substr($0, RSTART, RLENGTH); sub(/.*: */, "", h); n += h + 1
      $0 = substr($0, RSTART + RLENGTH)
    }
  } END { print n + 0 }'
}

for node in "$root"/nodes/hospital-*; do
  scripts/testnet.sh start "$(basename "$node")" >/dev/null
done
want=0
for _ in $(seq 1 100); do
  want=$(blocks_of hospital-1)
  [ "$want" -gt 0 ] && break
  sleep 0.1
done
[ "$want" -gt 0 ] || { echo "hospital-1 does not answer" >&2; exit 1; }

for run in $(seq 1 "$runs"); do
  scripts/testnet.sh stop auditor-1 >/dev/null 2>&1 || true
  rm -rf "$root/nodes/auditor-1/data/store"
  started=$(date +%s%N)
  scripts/testnet.sh start auditor-1 >/dev/null
  deadline=$((started + 1800 * 1000000000))
  until [ "$(blocks_of auditor-1)" -ge "$want" ]; do
    [ "$(date +%s%N)" -lt "$deadline" ] || { echo "run $run: no catch-up within 30 minutes" >&2; exit 1; }
    sleep 0.05
  done
  elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
  echo "run $run: $want blocks in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s ($MEDCHAIN_BIN_DIR)"
done
