#!/usr/bin/env bash
# medchain's reliability harnesses, with one command (docs/reliability.md says what each tests
# and holds the figures of the last full run):
#
#   scripts/chaos.sh [--quick] [--only kill,damage,restart,partition,api,fuzz] [--keep] [--seed N]
#
#   kill       kill -9 of random nodes under write load
#   damage     raw damage trials (flipped bytes, zeroed page, truncation, deletion) on every file
#              of a node's store, on stopped and on killed nodes (64 trials; 4 with --quick)
#   restart    a provider killed again during its rebuild and its catch-up, writes arriving
#   partition  5 nodes in network namespaces split 2/3 for 60 s under load, healed (goal: converged
#              within 10 s); SIGSTOP/SIGCONT under load. Needs root and iproute2 (installed if missing)
#              (restart and partition write 400 records/s in all; --load-rate N changes it, 0 writes
#              as fast as the nodes answer, as kill does)
#   api        the HTTP API fuzzed from its OpenAPI document with schemathesis (pinned, installed in
#              a venv under scratch/)
#   fuzz       scripts/fuzz.sh: coverage-guided fuzzing of every decoder, 1,000,000 inputs per target
#              (20,000 with --quick)
#
# Builds the release binaries first (MEDCHAIN_BIN_DIR=DIR uses binaries from DIR instead). Prints,
# for each harness, what it did and `N lost`, `N equivocations`, `N panics`; exits non-zero on any
# loss, equivocation, panic or other broken promise. Every node, namespace and process a harness
# starts is stopped when it ends, also on failure or Ctrl-C. The nodes' data and logs go under
# /tmp/medchain-chaos-<time>/ (MEDCHAIN_CHAOS_WORK moves it); a failed harness's are kept there.
# It refuses to start with less than 10 GiB free there (3 with --quick), listing earlier runs' data.
# The outcome of every harness: testnet/run/chaos/latest.json (and a copy named by time).
# Full run: about an hour and a half on 2 cores (a failed harness's data, kept, can take tens of
# gigabytes); --quick: about 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
quick=0
keep=0
only=""
pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; pass+=(--quick); shift ;;
    --only) only=$2; shift 2 ;;
    --keep) keep=1; pass+=(--keep); shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done
wants() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
for name in ${only//,/ }; do
  case $name in
    kill|damage|restart|partition|api|fuzz) ;;
    *) echo "chaos: no harness $name (kill, damage, restart, partition, api, fuzz)" >&2; exit 2 ;;
  esac
done
started=$(date +%s)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=testnet/run/chaos
mkdir -p "$results"
work=${MEDCHAIN_CHAOS_WORK:-/tmp/medchain-chaos-$stamp}

if [ -z "${MEDCHAIN_BIN_DIR:-}" ]; then
  echo "chaos: building medchain and medchain-chaos (release; the first build takes a few minutes)"
  cargo build --release --locked -q -p medchain-node -p medchain-chaos
fi
bin_dir=${MEDCHAIN_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}

# Namespaces and bridges left by a harness that was killed outright (SIGKILL skips its cleanup):
# ours are named mcchaos-<pid>-<n> and mcc<pid>b; only those whose process is gone are removed.
clean_stale_namespaces() {
  command -v ip >/dev/null 2>&1 || return 0
  local ns pid alive=" "
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^mcchaos-' || true); do
    pid=${ns#mcchaos-}; pid=${pid%%-*}
    if kill -0 "$pid" 2>/dev/null; then
      alive+="$((pid % 100000)) "
    else
      # Its nodes outlived it (the harness was killed outright): stop them, then the namespace.
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  for link in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^mcc[0-9]+b$' || true); do
    pid=${link#mcc}; pid=${pid%b}
    case "$alive" in *" $pid "*) ;; *) ip link del "$link" 2>/dev/null || true ;; esac
  done
}

harnesses=()
for h in kill damage restart partition api; do wants "$h" && harnesses+=("$h"); done

# Free disk: a full run writes a few GiB, and a failed harness keeps its data (nodes' stores and
# the damaged stores they moved aside), which can reach tens of GiB. A disk that fills during a
# run fails it for the wrong reason, so refuse to start short of room and name what to remove.
need_gib=${MEDCHAIN_CHAOS_MIN_FREE_GIB:-$([ $quick = 1 ] && echo 3 || echo 10)}
if ! [[ $need_gib =~ ^[0-9]+$ ]]; then
  echo "chaos: MEDCHAIN_CHAOS_MIN_FREE_GIB must be a whole number of GiB, not '$need_gib'" >&2
  exit 2
fi
if [ ${#harnesses[@]} -gt 0 ]; then
  parent=$(dirname "$work")
  mkdir -p "$parent"
  free_kib=$(df -Pk "$parent" 2>/dev/null | awk 'NR==2 {print $4}' || true)
  if ! [[ $free_kib =~ ^[0-9]+$ ]]; then
    echo "chaos: cannot tell the free disk under $parent (df failed); going on without the check" >&2
  elif [ $((free_kib / 1024 / 1024)) -lt "$need_gib" ]; then
    echo "chaos: only $((free_kib / 1024 / 1024)) GiB free under $parent; the harnesses need $need_gib GiB (MEDCHAIN_CHAOS_MIN_FREE_GIB changes it)" >&2
    kept=()
    for dir in "$parent"/medchain-chaos-*; do if [ -d "$dir" ]; then kept+=("$dir"); fi; done
    if [ ${#kept[@]} -gt 0 ]; then
      echo "chaos: data kept from earlier runs (remove what you no longer need):" >&2
      du -sh "${kept[@]}" 2>/dev/null | sed 's/^/  /' >&2 || true
    fi
    exit 2
  fi
fi

if wants partition; then
  if [ "$(id -u)" != 0 ]; then
    echo "chaos: the partition harness needs root (network namespaces)" >&2
    exit 2
  fi
  if ! command -v ip >/dev/null 2>&1; then
    echo "chaos: installing iproute2 (network namespaces for the partition harness)"
    (apt-get update -qq && apt-get install -y -qq iproute2) >/dev/null
  fi
  clean_stale_namespaces
fi

schemathesis_args=()
if wants api; then
  venv=scratch/schemathesis-venv
  if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    echo "chaos: installing schemathesis $SCHEMATHESIS_VERSION in $venv"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      (apt-get update -qq && apt-get install -y -qq python3 python3-venv) >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  schemathesis_args=(--schemathesis "$PWD/$venv/bin/schemathesis")
fi

status=0
if [ ${#harnesses[@]} -gt 0 ]; then
  only_list=$(IFS=,; echo "${harnesses[*]}")
  set +e
  "$bin_dir/medchain-chaos" --only "$only_list" --medchain "$bin_dir/medchain" --work "$work" \
    --results "$results/$stamp.json" "${schemathesis_args[@]}" "${pass[@]}"
  status=$?
  set -e
  [ -f "$results/$stamp.json" ] && cp "$results/$stamp.json" "$results/latest.json"
fi

fuzz_line=""
if wants fuzz; then
  echo "== fuzz: scripts/fuzz.sh (coverage-guided, every decoder that takes outside bytes)"
  fuzz_log=$results/fuzz-$stamp.log
  runs=()
  [ $quick = 1 ] && runs=(--runs 20000 --max-time 120)
  set +e
  scripts/fuzz.sh "${runs[@]}" 2>&1 | tee "$fuzz_log"
  fuzz_status=${PIPESTATUS[0]}
  set -e
  targets=$(grep -c '^  .*: .* inputs' "$fuzz_log" || true)
  crashed=$(grep '^  ' "$fuzz_log" | grep -c 'FAILED' || true)
  echo "== fuzz: $targets targets, ${runs[1]:-1000000} inputs each at most (log $fuzz_log)"
  echo "0 lost"
  echo "0 equivocations"
  echo "$crashed panics"
  if [ "$fuzz_status" -ne 0 ]; then
    echo "   result: FAILED (exit $fuzz_status; crash inputs in fuzz/artifacts/)"
    status=1
  else
    echo "   result: passed"
  fi
  fuzz_line=", fuzz $([ "$fuzz_status" -eq 0 ] && echo passed || echo FAILED)"
fi

elapsed=$(( $(date +%s) - started ))
if [ $status -eq 0 ]; then
  echo "chaos.sh: every harness passed${fuzz_line} in $((elapsed / 60)) min $((elapsed % 60)) s; outcomes in $results/latest.json"
  [ $keep = 1 ] || rm -rf "$work"
else
  echo "chaos.sh: FAILED${fuzz_line} after $((elapsed / 60)) min $((elapsed % 60)) s; outcomes in $results/latest.json, nodes' data and logs in $work"
fi
exit $status
