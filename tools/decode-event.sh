#!/usr/bin/env bash
# Decode raw protobuf bytes on stdin as a type from proto/, in protobuf text format.
# Usage: tools/decode-event.sh bizclub.membership.v1.MemberRegistered < event.bin
#   e.g. tools/kcat -C -b 127.0.0.1:9092 -t bizclub.membership.v1 -o -1 -e -c 1 -f '%s' \
#          | tools/decode-event.sh bizclub.membership.v1.MemberRegistered
# Thai (any UTF-8) text is printed as text, not octal escapes.
# Uses protoc if installed, else the one in grpcio-tools (uv run python -m grpc_tools.protoc).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TYPE="${1:-}"
if [[ -z "$TYPE" || "$TYPE" != *.* ]]; then
    echo "usage: $0 <package.Message>  (e.g. bizclub.membership.v1.MemberRegistered) < bytes" >&2
    exit 2
fi
NAME="${TYPE##*.}"
PACKAGE="${TYPE%.*}"
cd "$ROOT"

# The file under proto/ that defines top-level message NAME in package PACKAGE.
FILE=""
while IFS= read -r candidate; do
    if grep -Eq "^[[:space:]]*package[[:space:]]+${PACKAGE//./\\.}[[:space:]]*;" "$candidate"; then
        FILE="$candidate"
        break
    fi
done < <(grep -rlE "^[[:space:]]*message[[:space:]]+${NAME}[[:space:]]*\{" proto --include='*.proto' || true)
if [[ -z "$FILE" ]]; then
    echo "decode-event: no 'message ${NAME}' in package ${PACKAGE} under proto/" >&2
    exit 1
fi

WELL_KNOWN="$(uv run --quiet python -c \
    "import importlib.resources as r; print(r.files('grpc_tools') / '_proto')" </dev/null)"
if command -v protoc >/dev/null; then
    PROTOC=(protoc)
else
    PROTOC=(uv run --quiet python -m grpc_tools.protoc)
fi
# protoc prints non-ASCII string bytes as octal escapes (\340\270\252...); turn those
# bytes back into raw bytes so Thai text is readable. "\\" and escapes below 0x80 stay.
"${PROTOC[@]}" --decode="$TYPE" -I proto -I "$WELL_KNOWN" "${FILE#proto/}" \
    | perl -pe 's/\\(\\|[0-7]{3})/length($1) == 3 && oct($1) >= 128 ? chr(oct($1)) : "\\$1"/ge'
