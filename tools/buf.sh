#!/usr/bin/env bash
# Run buf pinned by package.json/package-lock.json (@bufbuild/buf 1.75.0).
# Usage: tools/buf.sh lint proto | tools/buf.sh format -d proto | ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF="$ROOT/node_modules/.bin/buf"
if [[ ! -x "$BUF" ]]; then
    command -v npm >/dev/null || { echo "buf.sh: npm not found; install Node.js (with npm) first" >&2; exit 1; }
    (cd "$ROOT" && npm ci --silent)
fi
exec "$BUF" "$@"
