"""The databases tests run services on: SQLite files, or PostgreSQL when asked.

Every fixture that builds a service's settings takes its database_url from
`database_url(tmp_path, name)`: a SQLite file under the test's tmp_path by default,
or, when BIZCLUB_TEST_POSTGRES_URL points at a server (`make test-postgres` starts a
throwaway one), a database of its own on that server, created for the test. The same
(tmp_path, name) gives the same database, so a test can restart a service on its data.

`query(url, sql, *args)` reads a database the way an operator's SQL client would,
with `?` placeholders, on either.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from bizclub_shared.db import sync_url
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get("BIZCLUB_TEST_POSTGRES_URL", "")
_created: set[str] = set()


def on_postgres() -> bool:
    return bool(POSTGRES_URL)


def database_url(tmp_path: Path, name: str) -> str:
    """A database for service `name` in this test: empty the first time it is asked for."""
    if not POSTGRES_URL:
        return f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"
    digest = hashlib.sha1(str(tmp_path.resolve()).encode()).hexdigest()[:12]
    database = f"t_{name.replace('-', '_')}_{digest}"[:63]
    if database not in _created:
        create_database(database)
        _created.add(database)
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _server() -> psycopg.Connection[Any]:
    """An autocommit connection to the test server's maintenance database."""
    server = make_url(sync_url(POSTGRES_URL))
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        dbname=server.database or "postgres",
        autocommit=True,
    )


def create_database(database: str) -> None:
    with _server() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


@contextmanager
def connections_refused(url: str) -> Iterator[None]:
    """The PostgreSQL database at `url` gone for the block, as a failover or an operator
    taking it away would make it: new connections are refused (ALLOW_CONNECTIONS false
    binds superusers too, unlike a revoked CONNECT) and open ones are terminated."""
    database = make_url(url).database
    with _server() as conn:
        conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        try:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')


def query(url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows of `sql` (with `?` placeholders) on the database at `url`."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        if engine.dialect.name == "postgresql":
            sql = sql.replace("%", "%%").replace("?", "%s")
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(args)).fetchall()]
    finally:
        engine.dispose()


def execute(url: str, sql: str, *args: object) -> None:
    """Run one statement (with `?` placeholders) on the database at `url`, committed."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        if engine.dialect.name == "postgresql":
            sql = sql.replace("%", "%%").replace("?", "%s")
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, tuple(args))
    finally:
        engine.dispose()
