"""The database: a SQLite file by default, PostgreSQL by URL.

Access is synchronous SQLAlchemy run in threads: reads in a small pool, writes in
the one writer thread (see unit_of_work). An asyncio driver pays a thread hop on
every statement (about 0.6 ms each on a 2-core machine); this pays one per
request or per batch.

SQLite runs in WAL mode with synchronous=FULL: a committed write survives a crash
and a power cut; group commit pays the fsync once per batch. Transactions are begun
explicitly (BEGIN IMMEDIATE for writes) so SAVEPOINT works under pysqlite and a
read-then-write transaction never fails on a stale snapshot.

Several processes writing one SQLite file (a service's worker processes) queue for
it on a file lock, `<database file>.write-lock`, taken before BEGIN IMMEDIATE: the
kernel hands it to the next waiter as soon as it is released. SQLite's own busy
wait polls with sleeps of up to 100 ms, which would put those sleeps in the
requests' latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import DateTime, Engine, Select, TypeDecorator, event, text
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

T = TypeVar("T")
WRITE_OPTION = "bizclub_write"
# A read of one statement: on SQLite no BEGIN around it (the statement is its own snapshot).
SINGLE_STATEMENT_OPTION = "bizclub_single_statement"
# Async driver names people may paste from other projects, mapped to the sync ones used here.
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}
# The database cannot be reached, or stayed locked past the lock timeout: a condition that
# passes, not the fault of a request or an event. Callers answer UNAVAILABLE or wait.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def create_engine(url: str, *, echo: bool = False, lock_timeout: float = 30.0) -> Engine:
    """`lock_timeout`: how long a SQLite write waits for another writer's lock before the
    database counts as unavailable. Database errors never carry the statement's values
    (`hide_parameters`): they hold personal data, and errors are logged."""
    url = sync_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa_create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": lock_timeout, "check_same_thread": False},
        )
        _configure_sqlite(engine, lock_timeout)
        return engine
    return sa_create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: Engine, lock_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the write lock up front: a deferred one that read
        # first would fail at once with SQLITE_BUSY once another commit moved on.
        options = conn.get_execution_options()
        if options.get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(SINGLE_STATEMENT_OPTION):
            conn.exec_driver_sql("BEGIN")


class Database:
    """A service's database: the engine, and reads run off the event loop."""

    def __init__(self, url: str, *, read_threads: int = 4, lock_timeout: float = 30.0) -> None:
        self.engine = create_engine(url, lock_timeout=lock_timeout)
        self.url = self.engine.url
        self.write_sessions = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._single_statements = self.engine.execution_options(**{SINGLE_STATEMENT_OPTION: True})
        self._readers = ThreadPoolExecutor(read_threads, thread_name_prefix="db-read")
        database = self.url.database
        self._write_lock_path = (
            f"{database}.write-lock"
            if self.is_sqlite and database and database != ":memory:"
            else None
        )
        self._write_lock_fd: int | None = None
        self._row_reader: PoolProxiedConnection | None = None  # read_row's, on SQLite
        self._compiled_reads: dict[Select[Any], tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Held around a write transaction (blocking: the writer thread takes it). Queues
        this process's writer behind other processes' on a SQLite file; nothing elsewhere."""
        if self._write_lock_path is None:
            yield
            return
        if self._write_lock_fd is None:
            self._write_lock_fd = os.open(self._write_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def read(self, query: Callable[[Session], T]) -> T:
        """Run `query(session)` in a read thread; nothing it does is committed."""

        def run() -> T:
            with self._read_sessions() as session:
                return query(session)

        context = contextvars.copy_context()  # keeps the caller's trace context
        return await asyncio.get_running_loop().run_in_executor(self._readers, context.run, run)

    async def read_row(
        self, statement: Select[Any], params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of one SELECT of plain columns (no type conversion), without a
        session: what an access check pays on every call. Build `statement` once.

        On SQLite it runs on the caller's thread, on a connection of its own in
        autocommit, from SQL compiled once: a point read by key takes microseconds and a
        WAL reader never waits for a writer, where a read thread and SQLAlchemy's
        statement handling cost fifty times the read. Elsewhere (a round trip to
        PostgreSQL) in a read thread."""
        if self.is_sqlite:
            return self._read_row_sqlite(statement, params)

        def run() -> tuple[Any, ...] | None:
            with self._single_statements.connect() as connection:
                row = connection.execute(statement, params).first()
                return None if row is None else tuple(row)

        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._readers, context.run, run)

    def _read_row_sqlite(
        self, statement: Select[Any], params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        compiled = self._compiled_reads.get(statement)
        if compiled is None:
            compiler = statement.compile(dialect=self.engine.dialect)
            # The SQL, its parameters' names in order, and the values bound in it.
            compiled = (compiler.string, tuple(compiler.positiontup or ()), compiler.params)
            self._compiled_reads[statement] = compiled
        sql, names, bound = compiled
        positional = [params[name] if name in params else bound[name] for name in names]
        if self._row_reader is None:
            self._row_reader = self.engine.raw_connection()
        sqlite = cast(sqlite3.Connection, self._row_reader.driver_connection)
        try:
            # fetchall: the statement runs to its end, so no read snapshot stays open
            # to hold back WAL checkpoints.
            rows = sqlite.execute(sql, positional).fetchall()
        except sqlite3.Error as exc:
            raise OperationalError(sql, positional, exc) from exc
        return tuple(rows[0]) if rows else None

    async def ping(self) -> bool:
        try:
            await self.read(lambda s: s.execute(text("SELECT 1")).scalar_one())
            return True
        except Exception:
            return False

    def close(self) -> None:
        self._readers.shutdown(wait=True, cancel_futures=True)
        if self._row_reader is not None:
            self._row_reader.close()
            self._row_reader = None
        self.engine.dispose()
        if self._write_lock_fd is not None:
            os.close(self._write_lock_fd)
            self._write_lock_fd = None


class UTCDateTime(TypeDecorator[datetime]):
    """Times are stored as naive UTC and come back timezone-aware, on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
