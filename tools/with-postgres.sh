#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server: `tools/with-postgres.sh pytest ...`.
#
# initdb into a temporary directory, start on a free port, export
# BIZCLUB_TEST_POSTGRES_URL (the tests create a database per test on it), run the
# command, and stop and delete the server when it ends, whether it passed or not.
# Uses the machine's PostgreSQL binaries (Debian: /usr/lib/postgresql/<version>/bin);
# as root the server runs as the `postgres` user, as PostgreSQL requires.
set -euo pipefail

bindir="${PG_BINDIR:-}"
if [ -z "$bindir" ]; then
  if command -v pg_ctl >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v pg_ctl)")"
  else
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "with-postgres: no PostgreSQL binaries found (apt-get install postgresql, or set PG_BINDIR)" >&2
  exit 1
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/bizclub-pg.XXXXXX")"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chmod 755 "$dir"
  as_owner=(runuser -u postgres --)
fi
install -d -m 700 "$dir/data" "$dir/sock"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/data" "$dir/sock"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Thai ordering: the ICU th-TH collation (glibc has no th_TH locale here).
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
  --locale=C.UTF-8 --locale-provider=icu --icu-locale=th-TH >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a test server's data is thrown away. The server's time zone is Bangkok's,
# not UTC, so a timestamp that loses its zone on the way in or out shows up as 7 hours off.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w start \
  -o "-k $dir/sock -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c timezone=Asia/Bangkok" >/dev/null ||
  { cat "$dir/data/server.log" >&2; exit 1; }

export BIZCLUB_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
