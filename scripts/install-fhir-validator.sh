#!/usr/bin/env bash
# Installs the independent FHIR R4 validator the FHIR endpoints' tests use: fhir.resources 6.2.2
# (PyPI), the last release modelling FHIR R4 (4.0.1) (later ones model R4B and R5), with the
# pydantic 1 it is built on, pinned, in a virtual environment of its own, once. Prints the
# environment's python. Every package is pinned, dependencies included
# (scripts/fhir-validator.constraints.txt). Usage: scripts/install-fhir-validator.sh
set -euo pipefail
cd "$(dirname "$0")/.."
constraints=$PWD/scripts/fhir-validator.constraints.txt
tag=fhir-r4-3
venv=${MEDCHAIN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medchain}/$tag
python=$venv/bin/python
check='import fhir.resources; from fhir.resources import construct_fhir_element; assert fhir.resources.__fhir_version__ == "4.0.1"; construct_fhir_element("OperationOutcome", {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]})'
if ! "$python" -c "$check" >/dev/null 2>&1; then
  echo "installing fhir.resources (FHIR R4) into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" \
    "fhir.resources==6.2.2" "pydantic==1.10.22" >&2
fi
"$python" -c "$check" || { echo "$python cannot validate FHIR R4" >&2; exit 1; }
echo "$python"
