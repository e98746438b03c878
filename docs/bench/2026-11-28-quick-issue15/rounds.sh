#!/usr/bin/env bash
# A/B/C: parent (its own scripts), head over plain HTTP, head over TLS; quick runs, alternating.
# Set up: git worktree add /tmp/wt-parent 5f73fbe; release binaries of each build (medchain,
# medchain-bench) copied to /tmp/bin-parent and /tmp/bin-head.
for round in 1 2 3 4 5; do
  for v in parent plain tls; do
    echo "=== $v round $round $(date +%T)"
    case $v in
      parent) cd /tmp/wt-parent && MEDCHAIN_BIN_DIR=/tmp/bin-parent MEDCHAIN_BENCH_RESULTS=/tmp/bench-results-parent timeout 900 scripts/bench.sh --quick 2>&1 | tail -22 ;;
      plain) cd /work/main && MEDCHAIN_API_TLS=off MEDCHAIN_BIN_DIR=/tmp/bin-head MEDCHAIN_BENCH_RESULTS=/tmp/bench-results-plain timeout 900 scripts/bench.sh --quick 2>&1 | tail -22 ;;
      tls) cd /work/main && MEDCHAIN_BIN_DIR=/tmp/bin-head MEDCHAIN_BENCH_RESULTS=/tmp/bench-results-tls timeout 900 scripts/bench.sh --quick 2>&1 | tail -22 ;;
    esac
  done
done
echo "=== end $(date +%T)"
