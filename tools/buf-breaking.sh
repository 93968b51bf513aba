#!/usr/bin/env bash
# Breaking-change check: proto/ in the working tree against proto/ at a git ref.
# BUF_AGAINST=<ref> (default main). Skips (exit 0) if the ref does not exist yet.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="${BUF_AGAINST:-main}"
cd "$ROOT"
if ! git rev-parse --verify --quiet "${REF}^{commit}" >/dev/null; then
    echo "buf-breaking: skipped, git ref '${REF}' does not exist yet (nothing to compare against)"
    exit 0
fi
if ! git cat-file -e "${REF}:proto" 2>/dev/null; then
    echo "buf-breaking: skipped, '${REF}' has no proto/ directory yet"
    exit 0
fi
# A plain copy of proto/ at REF: works offline and needs no buf git support.
AGAINST="$(mktemp -d)"
trap 'rm -rf "$AGAINST"' EXIT
git archive "$REF" proto | tar -x -C "$AGAINST"
echo "buf-breaking: proto/ against ${REF}"
"$ROOT/tools/buf.sh" breaking proto --against "$AGAINST/proto"
echo "buf-breaking: no breaking changes"
