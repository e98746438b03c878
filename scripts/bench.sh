#!/usr/bin/env bash
# End-to-end benchmark: starts a fresh local testnet (default 3 providers + 1 auditor) in its
# own state directory, runs medchain-bench against it, and always stops it.
#
#   scripts/bench.sh [--quick] [--providers N] [medchain-bench options...]
#
# --quick finishes in about a minute (shorter phases, 100,000 records for catch-up); the full
# run fills the network to 1,000,000 records (about 8 minutes on 2 cores). Every other option goes to medchain-bench
# (`target/release/medchain-bench --help`): --concurrency, --batch, --record-bytes, --seconds,
# --rate, --latency-batch, --catch-up-records, --corrupt-blocks, --poll-ms.
#
# Result: bench/results/latest.json (and a copy named by time) plus a table on stdout.
# Environment: MEDCHAIN_BENCH_DIR moves the testnet state (default testnet/run/bench);
# MEDCHAIN_BENCH_RESULTS moves the results (default bench/results); MEDCHAIN_BIN_DIR uses
# binaries from there instead of building the release (the test suite does all three);
# MEDCHAIN_API_TLS=off runs the nodes' APIs over plain HTTP (TLS's own cost is the difference).
set -euo pipefail
cd "$(dirname "$0")/.."

providers=3
pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --providers) providers=$2; shift 2 ;;
    *) pass+=("$1"); shift ;;
  esac
done

if [ -z "${MEDCHAIN_BIN_DIR:-}" ]; then
  echo "building medchain (release; the first build takes a few minutes)"
  cargo build --release --locked -q -p medchain-node -p medchain-bench
fi
bin_dir=${MEDCHAIN_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
export MEDCHAIN_BIN_DIR=$bin_dir
export MEDCHAIN_TESTNET_DIR=${MEDCHAIN_BENCH_DIR:-testnet/run/bench}
# No scheduled scans: a full scan would land in the middle of another phase; the verifier phase
# measures one on its own.
export MEDCHAIN_VERIFIER_INTERVAL=0
results=${MEDCHAIN_BENCH_RESULTS:-bench/results}
mkdir -p "$results"

scripts/testnet.sh down >/dev/null 2>&1 || true
trap 'scripts/testnet.sh down >/dev/null 2>&1 || true' EXIT INT TERM
scripts/testnet.sh up --providers "$providers" --auditors 1 >/dev/null
echo "testnet: $providers providers + 1 auditor under $MEDCHAIN_TESTNET_DIR"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
"$bin_dir/medchain-bench" --testnet "$MEDCHAIN_TESTNET_DIR" --script scripts/testnet.sh \
  --medchain "$bin_dir/medchain" --out "$results/$stamp.json" "${pass[@]}"
cp "$results/$stamp.json" "$results/latest.json"
