#!/usr/bin/env bash
# Install grpcurl v1.9.4 into tools/bin/ (gitignored). Takes ~1-2 minutes the first time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="v1.9.4"
BIN_DIR="$ROOT/tools/bin"
GRPCURL="$BIN_DIR/grpcurl"
command -v go >/dev/null || { echo "install-grpcurl: go not found; install Go first" >&2; exit 1; }
# `go install` builds report "dev build" from -version; the module version is in the binary.
if [[ -x "$GRPCURL" ]] && go version -m "$GRPCURL" | grep -Eq "^\s*mod\s+github.com/fullstorydev/grpcurl\s+${VERSION}\s"; then
    echo "grpcurl ${VERSION} already installed" >&2
    echo "$GRPCURL"
    exit 0
fi
mkdir -p "$BIN_DIR"
echo "installing grpcurl ${VERSION} into ${BIN_DIR} (about 2 minutes)..." >&2
GOBIN="$BIN_DIR" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${VERSION}"
echo "$GRPCURL"
