#!/usr/bin/env bash
for round in 1 2; do
  for v in parent head; do
    echo "=== $v round $round $(date +%T)"
    case $v in
      parent) cd /tmp/wt-parent && MEDCHAIN_BIN_DIR=/tmp/bin-parent MEDCHAIN_BENCH_RESULTS=/tmp/bench-results4-parent timeout 900 scripts/bench.sh --quick 2>&1 | tail -22 ;;
      head) cd /work/main && MEDCHAIN_API_TLS=off MEDCHAIN_BIN_DIR=/tmp/bin-head2 MEDCHAIN_BENCH_RESULTS=/tmp/bench-results4-head timeout 900 scripts/bench.sh --quick 2>&1 | tail -22 ;;
    esac
  done
done
echo "=== end $(date +%T)"
