#!/usr/bin/env bash
# Installs what the dashboard's browser test drives Chromium with: npm playwright-core, pinned
# (it has no dependencies of its own), into a directory of its own, once. Chromium itself is
# Debian's `chromium` (browsers cannot be downloaded by playwright here; .ci/run installs it with
# apt). Prints the directory whose node_modules holds playwright-core.
# Usage: scripts/install-browser-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.61.1
tag=browser-tools-2
dir=${MEDCHAIN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medchain}/$tag
check() { (cd "$dir" && node -e "const p = require('playwright-core/package.json'); if (p.version !== '$version') process.exit(1)") >/dev/null 2>&1; }
command -v node >/dev/null 2>&1 || { echo "node (Node.js) is not installed" >&2; exit 1; }
# playwright-core 1.61 runs on Node.js 18 and later (Debian bookworm's nodejs is 18; 1.62 and
# later need 20).
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || { echo "Node.js $(node --version) is too old for playwright-core $version (18 or later)" >&2; exit 1; }
if ! check; then
  command -v npm >/dev/null 2>&1 || { echo "npm is not installed" >&2; exit 1; }
  echo "installing playwright-core $version into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && echo '{"private": true}' >package.json &&
    npm install --silent --no-audit --no-fund --save-exact "playwright-core@$version" >&2)
fi
check || { echo "playwright-core $version cannot be loaded from $dir" >&2; exit 1; }
echo "$dir"
