"""Unit of work with group commit.

Every write operation runs through one writer thread. It takes the operations that
are waiting and commits them all in one transaction: one fsync for many requests.
An operation's rows and its events (outbox rows) always commit together or not at
all; its caller hears back only after the commit.

A batch is first tried as a whole, without savepoints, and the rows operations hand
to `UnitOfWork.insert` (and every event and audit row) are written after the last
operation, one statement per table. If anything in that try fails (an operation
raises, a deferred insert breaks a constraint), it is rolled back and the batch runs
again one operation at a time, each in its own SAVEPOINT, inserts at once: then one
operation's failure undoes only its own rows. Savepoints and per-row statements are
most of a write's cost, and nearly every batch succeeds whole.

Operations are plain functions `op(uow) -> result`: they do database work only.
Anything slow or remote (another service's answer) is fetched before, never while
the write lock is held.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from bizclub_shared.audit import AuditRecord, audit_row
from bizclub_shared.auth import CallContext, current_call
from bizclub_shared.db import DATABASE_UNAVAILABLE, Database
from bizclub_shared.envelope import Envelope
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.telemetry import current_traceparent, exporting_spans

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bizclub.unit_of_work")
T = TypeVar("T")


_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]
_AUDIT: Table = AuditRecord.__table__  # type: ignore[attr-defined]


class UnitOfWork:
    """What one operation sees: the session, and ways to insert rows and record events."""

    def __init__(
        self, session: Session, source: str, deferred: dict[Table, list[dict[str, Any]]] | None
    ) -> None:
        self.session = session
        self._source = source
        self._deferred = deferred
        self.events: list[dict[str, Any]] = []

    @property
    def one_at_a_time(self) -> bool:
        """Whether this is the one-at-a-time retry of a batch: its inserts happen at once,
        and a constraint's violation is this operation's own (see the module)."""
        return self._deferred is None

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Insert a row, perhaps only after the batch's last operation (see the module).

        The batch's other operations do not see it meanwhile, so use it for rows whose
        conflicts a constraint catches (a unique key): a violation sends the batch to the
        one-at-a-time retry, where the row is inserted at once and the operation that
        caused it fails alone. Insert parents before children, as the retry does too.
        """
        if self._deferred is None:
            self.session.connection().execute(insert(table), [row])
        else:
            self._deferred.setdefault(table, []).append(row)

    def emit(self, topic: str, key: str, event: Message, province: str) -> None:
        """Record an event to be published after commit, in this transaction."""
        envelope = Envelope.new(
            event_type=event.DESCRIPTOR.full_name,
            source=self._source,
            province=province,
            traceparent=current_traceparent(),
        )
        # Written with the whole batch's events in one insert, in the same transaction.
        self.events.append(
            {
                "event_id": envelope.event_id,
                "topic": topic,
                "key": key,
                "event_type": envelope.event_type,
                "source": envelope.source,
                "province": province,
                "payload": event.SerializeToString(),
                "occurred_at": envelope.time,
                "traceparent": envelope.traceparent,
                "attempts": 0,
            }
        )


Operation = Callable[[UnitOfWork], T]


@dataclass
class _Pending(Generic[T]):
    operation: Operation[T]
    future: asyncio.Future[T]
    span: trace.Span
    context: otel_context.Context
    call: CallContext | None  # the authenticated call that asked for it; None for reactions
    ok: bool = False
    result: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)


class Writer:
    """Runs write operations with group commit. Start it before use; stop it after.

    `on_commit` (if set) is called on the event loop after a commit that wrote events.
    """

    def __init__(self, db: Database, source: str, *, max_batch: int = 256) -> None:
        self._db = db
        self.source = source  # the service's name: its events' ce_source
        self._max_batch = max_batch
        self.on_commit: Callable[[], None] | None = None
        # Appended on the event loop, taken in the writer thread (deque: both atomic).
        self._queue: collections.deque[_Pending[Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix=f"{self.source}-writer", initializer=_yield_to_event_loop
        )
        self._task = asyncio.create_task(self._run(), name=f"{self.source}-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._thread is not None:
            # A batch already in the thread finishes (its callers may be gone; its rows
            # stand), off the event loop so other services in this process keep going.
            await asyncio.to_thread(self._thread.shutdown, wait=True)
            self._thread = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("service is shutting down"))
        self._queue.clear()

    async def run(self, operation: Operation[T], name: str) -> T:
        """Run one operation in the next batch; return its result once committed."""
        if self._task is None or self._task.done():
            raise RuntimeError("writer is not running")
        if exporting_spans() or not trace.get_current_span().get_span_context().is_valid:
            span = tracer.start_span(f"transaction {name}", kind=trace.SpanKind.INTERNAL)
            context = trace.set_span_in_context(span)
        else:  # nothing would record a span: the events carry the caller's trace on as it is
            span, context = trace.INVALID_SPAN, otel_context.get_current()
        pending: _Pending[T] = _Pending(
            operation=operation,
            future=asyncio.get_running_loop().create_future(),
            span=span,
            context=context,
            call=current_call(),
        )
        self._queue.append(pending)
        self._wake.set()
        try:
            return await pending.future
        finally:
            span.end()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch: list[_Pending[Any]] = []  # filled in the writer thread
                try:
                    await loop.run_in_executor(self._thread, self._commit_next_batch, batch)
                except Exception as exc:  # the commit itself failed: nobody's rows were written
                    if not batch:  # the write lock could not be taken: those waiting hear it
                        self._take_batch(batch)
                    log.error("commit of %d operations failed: %s", len(batch), exc)
                    for pending in batch:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                    continue
                for pending in batch:
                    if pending.future.done():  # the caller went away; its rows stand
                        continue
                    if pending.ok:
                        pending.future.set_result(pending.result)
                    else:
                        pending.future.set_exception(pending.result)
                if self.on_commit is not None and any(p.ok and p.events for p in batch):
                    self.on_commit()

    def _commit_next_batch(self, batch: list[_Pending[Any]]) -> None:
        """In the writer thread: take the write lock, then the operations waiting now, and
        commit them: the whole batch in one try, else one at a time.

        The batch is taken once the lock is held, not before: operations that arrived
        while another process held the lock go in this commit instead of waiting for
        the next (RegisterMember at c64, two workers: ~25 operations a batch instead of
        ~16, and more calls a second with a lower p99 in each of five alternated runs)."""
        with self._db.write_lock():
            self._take_batch(batch)
            if not batch:
                return
            # One operation alone too: the retry's savepoint and per-row inserts cost a
            # call on its own about a millisecond (c1: p50 3.5 -> 2-3 ms).
            try:
                self._commit_whole(batch)
                return
            except _RetryOneByOne as retry:  # rolled back: nothing of the try was written
                if len(batch) == 1 and retry.raised_before_deferring:
                    # Alone, and the retry would run it exactly as this try did (no
                    # deferred rows it could have missed): its failure is its answer.
                    batch[0].ok, batch[0].result = False, retry.__cause__
                    return
            self._commit_one_by_one(batch)

    def _take_batch(self, batch: list[_Pending[Any]]) -> None:
        while self._queue and len(batch) < self._max_batch:
            pending = self._queue.popleft()
            if not pending.future.done():  # a caller gone before we started is skipped
                batch.append(pending)

    def _commit_whole(self, batch: list[_Pending[Any]]) -> None:
        deferred: dict[Table, list[dict[str, Any]]] = {}
        with self._db.write_sessions() as session, session.begin():
            for pending in batch:
                token = otel_context.attach(pending.context)
                try:
                    uow = UnitOfWork(session, self.source, deferred)
                    pending.result = pending.operation(uow)
                    session.flush()
                    pending.events = uow.events
                except DATABASE_UNAVAILABLE:
                    raise  # the database, not this operation: the batch fails as a commit would
                except Exception as exc:
                    raise _RetryOneByOne(raised_before_deferring=not deferred) from exc
                finally:
                    otel_context.detach(token)
            deferred.setdefault(_OUTBOX, []).extend(e for p in batch for e in p.events)
            deferred[_AUDIT] = [audit_row(p.call, p.events) for p in batch if p.call is not None]
            try:
                self._insert_all(session, deferred)
            except DATABASE_UNAVAILABLE:
                raise
            except SQLAlchemyError as exc:  # a constraint: find whose row in the retry
                raise _RetryOneByOne(raised_before_deferring=False) from exc
        for pending in batch:
            pending.ok = True

    def _commit_one_by_one(self, batch: list[_Pending[Any]]) -> None:
        with self._db.write_sessions() as session, session.begin():
            after: dict[Table, list[dict[str, Any]]] = {_OUTBOX: [], _AUDIT: []}
            for pending in batch:
                token = otel_context.attach(pending.context)
                try:
                    with session.begin_nested():
                        uow = UnitOfWork(session, self.source, None)
                        pending.result = pending.operation(uow)
                        session.flush()
                    pending.ok, pending.events = True, uow.events
                    after[_OUTBOX].extend(uow.events)
                    if pending.call is not None:
                        after[_AUDIT].append(audit_row(pending.call, uow.events))
                except Exception as exc:  # this operation only; its savepoint undid it
                    pending.ok, pending.result, pending.events = False, exc, []
                finally:
                    otel_context.detach(token)
            # Events, and who wrote what, committed with the writes themselves.
            self._insert_all(session, after)

    @staticmethod
    def _insert_all(session: Session, rows: dict[Table, list[dict[str, Any]]]) -> None:
        connection = session.connection()
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            if connection.dialect.name == "sqlite":
                statement = _MultiRowInsert.for_rows(table, table_rows, connection.dialect)
                if statement is not None:
                    statement.execute(connection, table_rows)
                    continue
            connection.execute(insert(table), table_rows)


# The writer thread's niceness (Linux: per thread). The event loop answers the callers;
# the writer, behind it, finds more operations queued each time it runs and commits them
# as one batch. Measured on 2 cores, RegisterMember at c64 with two workers: niceness 0,
# ~1,740 calls/s and p99 ~69 ms; 5, ~1,880 and ~60; 10, ~1,990 and ~57 (19: no better).
WRITER_NICENESS = 10


def _yield_to_event_loop() -> None:
    """Runs in the writer thread as it starts: lowers that thread's priority only."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        log.debug("writer thread priority unchanged: %s", exc)


class _RetryOneByOne(Exception):
    """The whole-batch try failed in a way one operation may have caused: an operation
    raised (before the batch deferred any row, or after), or a deferred insert broke a
    constraint."""

    def __init__(self, *, raised_before_deferring: bool) -> None:
        super().__init__()
        self.raised_before_deferring = raised_before_deferring


class _MultiRowInsert:
    """One `INSERT ... VALUES (...), (...), ...` for a batch's rows of one table (SQLite).

    SQLAlchemy's executemany steps SQLite once per row, and the driver releases the GIL
    around every step; the writer, holding the write lock, then waits each time for its
    event loop to hand the GIL back. One statement per table is one step. Measured at
    c64 in alternated runs: p99 51-56 against 56-64 ms, 3-5% more calls a second.
    Values go through their column types' own bind processors, as SQLAlchemy's would.
    """

    # SQLite's bound-parameter limit (32,766 since 3.32); larger batches are split.
    MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999

    def __init__(self, table: Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        columns = [table.c[key] for key in keys]
        self._keys = keys
        self._processors = [column.type.bind_processor(dialect) for column in columns]
        names = ", ".join(quote(column.name) for column in columns)
        self._head = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) VALUES "
        )
        self._row = "(" + ", ".join("?" * len(keys)) + ")"
        self._rows_per_statement = max(1, self.MAX_PARAMETERS // len(keys))

    @classmethod
    def for_rows(
        cls, table: Table, rows: list[dict[str, Any]], dialect: Dialect
    ) -> _MultiRowInsert | None:
        """The statement for these rows, or None when SQLAlchemy must insert them: the
        rows name different columns, or a column left out has a Python-side default."""
        keys = tuple(rows[0])
        if any(len(row) != len(keys) or row.keys() != rows[0].keys() for row in rows):
            return None
        if (table, keys) not in _MULTI_ROW_INSERTS:
            missing = [c for c in table.columns if c.key not in keys]
            unknown = set(keys) - set(table.columns.keys())
            usable = not unknown and all(c.default is None for c in missing)
            _MULTI_ROW_INSERTS[(table, keys)] = cls(table, keys, dialect) if usable else None
        return _MULTI_ROW_INSERTS[(table, keys)]

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        sqlite = cast(sqlite3.Connection, connection.connection.driver_connection)
        step = self._rows_per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            values = [
                value if process is None else process(value)
                for row in chunk
                for process, value in zip(
                    self._processors, map(row.__getitem__, self._keys), strict=True
                )
            ]
            sql = self._head + ", ".join([self._row] * len(chunk))
            try:
                sqlite.execute(sql, values)
            except sqlite3.Error as exc:
                # As SQLAlchemy would raise it: IntegrityError sends the batch to the
                # one-at-a-time retry, OperationalError means the database is unavailable.
                # The values (personal data among them) stay out of the message.
                raise DBAPIError.instance(
                    sql, values, exc, sqlite3.Error, hide_parameters=True
                ) from exc


# Built once per table and set of columns; None: SQLAlchemy inserts those rows.
_MULTI_ROW_INSERTS: dict[tuple[Table, tuple[str, ...]], _MultiRowInsert | None] = {}
