#!/usr/bin/env bash
# Installs the independent tools the API is checked with (issue 17), pinned, in a virtual
# environment of their own, once: openapi-spec-validator (the OpenAPI document is valid OpenAPI)
# and schemathesis (the running API keeps to its document). Prints the environment's bin
# directory. Every package is pinned, dependencies included (scripts/api-tools.constraints.txt,
# from `pip freeze` of a working install): a new release upstream cannot change what CI runs.
# Usage: scripts/install-api-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
constraints=$PWD/scripts/api-tools.constraints.txt
tag=api-tools-2
venv=${MEDCHAIN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medchain}/$tag
bin=$venv/bin
if ! "$bin/schemathesis" --version >/dev/null 2>&1 || [ ! -x "$bin/openapi-spec-validator" ]; then
  echo "installing the API check tools into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$bin/pip" install -q --disable-pip-version-check -c "$constraints" \
    "schemathesis==4.32.5" "openapi-spec-validator==0.9.0" >&2
fi
"$bin/schemathesis" --version >/dev/null 2>&1 || { echo "$bin/schemathesis does not run" >&2; exit 1; }
echo "$bin"
