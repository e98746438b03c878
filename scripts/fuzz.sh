#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of every decoder that takes outside bytes.
#
# Usage: scripts/fuzz.sh [--runs N] [--target NAME] [--max-time SECS] [--keep]
#   --runs N        inputs per target (default 1000000)
#   --target NAME   one target only (default: every target in fuzz/Cargo.toml)
#   --max-time S    time bound per target in seconds (default 3600): libFuzzer stops there even
#                   if N inputs have not run, and the line says so
#   --keep          merge what fuzzing found into the kept corpus fuzz/corpus/<target>/ and
#                   minimise it (cargo fuzz cmin, set-cover merge); without it the kept corpus
#                   is only read
#
# Prints per target the inputs run, exec/s, libFuzzer's peak RSS and "0 panics", or the crash
# file. Exits non-zero on any crash, out-of-memory, timeout or build failure. Crash inputs go to
# fuzz/artifacts/<target>/; keep one as a regression in fuzz/regressions/<target>/ (the replay
# test in `cargo test --workspace` runs those and the kept corpus through the same harness).
#
# The targets are thin wrappers around crates/fuzz-harness; the fuzz workspace has its own lock
# file and target dir (fuzz/target). New finds go to fuzz/target/found/<target>/ (not kept).
#
# Stable toolchain: cargo-fuzz's default AddressSanitizer needs `-Zsanitizer`, a nightly-only
# flag, so the targets are built with `--sanitizer none` (the code under test forbids `unsafe`, so
# a sanitizer would watch only dependencies; a panic, an overflow under debug assertions, an
# allocation over the limit and a timeout are all still caught). The remaining flags cargo-fuzz
# passes (-Cpasses=sancov-module, -Cllvm-args=..., --cfg fuzzing) are stable, so RUSTC_BOOTSTRAP
# is not needed; FUZZ_RUSTC_BOOTSTRAP=1 sets it anyway, as a way out should a future cargo-fuzz
# pass a -Z flag.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
RUNS=1000000
ONLY=""
MAX_TIME=3600
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --target) ONLY="$2"; shift 2 ;;
    --max-time) MAX_TIME="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "fuzz: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# cargo-fuzz, pinned.
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
# libfuzzer-sys compiles libFuzzer (C++) from source.
if ! command -v c++ >/dev/null 2>&1; then
  echo "fuzz: installing a C++ compiler (libFuzzer is built from source)"
  (apt-get update -qq && apt-get install -y -qq g++) >/dev/null
fi
if [ "${FUZZ_RUSTC_BOOTSTRAP:-0}" = 1 ]; then
  export RUSTC_BOOTSTRAP=1
fi

FUZZ=fuzz
TARGET_DIR="$PWD/fuzz/target"
# Release build with debug assertions (so integer overflow panics), no sanitizer (see above).
BUILD=(--sanitizer none --debug-assertions --target-dir "$TARGET_DIR")
# Limits. The largest legitimate allocation is a sync response frame's buffer (16 MiB, allocated
# once its length prefix is checked) and copies of it while it decodes and re-encodes, so one
# allocation over 256 MiB can only be a bug; 2 GiB of RSS likewise. libFuzzer enforces
# -malloc_limit_mb only through a sanitizer's allocator hooks, so without one the targets enforce
# FUZZ_MALLOC_LIMIT_MB themselves (fuzz/src/lib.rs: a global allocator that aborts, which
# libFuzzer reports as a crash with the input saved); the flag is still passed for sanitizer
# builds (FUZZ_MALLOC_LIMIT_MB set beforehand overrides 256). One input taking over 10 s is
# reported as a timeout (a hang).
MALLOC_LIMIT_MB=${FUZZ_MALLOC_LIMIT_MB:-256}
export FUZZ_MALLOC_LIMIT_MB=$MALLOC_LIMIT_MB
LIMITS=(-rss_limit_mb=2048 -malloc_limit_mb=$MALLOC_LIMIT_MB -timeout=10 -print_final_stats=1)

if [ -n "$ONLY" ]; then
  TARGETS=("$ONLY")
else
  mapfile -t TARGETS < <(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^medchain-fuzz$')
fi
for t in "${TARGETS[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
    echo "fuzz: no target $t (fuzz/fuzz_targets/$t.rs)" >&2
    exit 2
  fi
done

echo "fuzz: building ${#TARGETS[@]} targets ($(cargo --version))"
if [ -n "$ONLY" ]; then
  cargo fuzz build --fuzz-dir "$FUZZ" "${BUILD[@]}" "$ONLY"
else
  cargo fuzz build --fuzz-dir "$FUZZ" "${BUILD[@]}"
fi

LOGS="$TARGET_DIR/logs"
mkdir -p "$LOGS"
failed=0
summary=()
for t in "${TARGETS[@]}"; do
  found="$TARGET_DIR/found/$t"
  mkdir -p "$found" "fuzz/artifacts/$t"
  log="$LOGS/$t.log"
  # A dictionary of the target's tokens, where the input is text with a grammar (JSON bodies).
  dict=()
  if [ -f "fuzz/dicts/$t.dict" ]; then dict=(-dict="fuzz/dicts/$t.dict"); fi
  echo "fuzz: $t: $RUNS inputs at most, $MAX_TIME s at most (log: ${log#"$PWD"/})"
  set +e
  # The outer timeout is a backstop should libFuzzer itself hang past its own bound.
  timeout --kill-after=30 "$((MAX_TIME + 600))" \
    cargo fuzz run --fuzz-dir "$FUZZ" "${BUILD[@]}" "$t" "$found" "fuzz/corpus/$t" -- \
    -runs="$RUNS" -max_total_time="$MAX_TIME" "${LIMITS[@]}" "${dict[@]}" >"$log" 2>&1
  status=$?
  set -e
  stat() { sed -n "s/^stat::$1: *\([0-9]*\)$/\1/p" "$log" | tail -1; }
  inputs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  rss=$(stat peak_rss_mb)
  if [ "${rate:-0}" = 0 ] && [ "${inputs:-0}" -gt 0 ]; then
    rate="n/a (under 1 s)"  # libFuzzer divides by whole seconds
  fi
  line="$t: ${inputs:-?} inputs, ${rate:-?} exec/s, peak RSS ${rss:-?} MB"
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  if [ "$status" -ne 0 ] || [ -n "$crash" ]; then
    failed=1
    kind=$(grep -oE 'libFuzzer: (deadly signal|out-of-memory|timeout|fuzz target exited)|malloc\([0-9]+\) exceeds limit|panicked at' "$log" | sort -u | paste -sd, - || true)
    line="$line, FAILED (exit $status${kind:+, $kind}): ${crash:-no crash file, see $log}"
    grep -m1 -A3 -E 'panicked at|exceeds limit|out-of-memory|ALARM' "$log" || true
  else
    line="$line, 0 panics"
    if [ "${inputs:-0}" -lt "$RUNS" ]; then
      line="$line (stopped by the $MAX_TIME s time bound)"
    fi
    if [ "$KEEP" = 1 ]; then
      cp -n "$found"/* "fuzz/corpus/$t/" 2>/dev/null || true
      before=$(find "fuzz/corpus/$t" -type f | wc -l)
      # Kept: a set of files covering every edge reached (-set_cover_merge keeps fewer files than
      # -merge; -use_counters=0 drops hit-count variants of an edge), about half the files of a
      # plain merge. Fuzzing from it finds the hit-count variants again within seconds.
      cargo fuzz cmin --fuzz-dir "$FUZZ" "${BUILD[@]}" "$t" "fuzz/corpus/$t" -- \
        -set_cover_merge=1 -use_counters=0 -rss_limit_mb=2048 -malloc_limit_mb=$MALLOC_LIMIT_MB -timeout=10 \
        >"$LOGS/$t.cmin.log" 2>&1
      after=$(find "fuzz/corpus/$t" -type f | wc -l)
      line="$line; kept corpus $before -> $after files"
    fi
  fi
  echo "fuzz: $line"
  summary+=("$line")
done

echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
exit "$failed"
