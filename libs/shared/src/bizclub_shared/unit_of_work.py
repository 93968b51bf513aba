"""Unit of work with group commit.

Every write operation runs through one writer thread. It takes the operations that
are waiting, runs each inside its own SAVEPOINT (so one operation's failure undoes
only its own rows), and commits them all in one transaction: one fsync for many
requests. An operation's rows and its events (outbox rows) always commit together
or not at all; its caller hears back only after the commit.

Operations are plain functions `op(uow) -> result`: they do database work only.
Anything slow or remote (another service's answer) is fetched before, never while
the write lock is held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bizclub_shared.audit import AuditRecord, audit_row
from bizclub_shared.auth import CallContext, current_call
from bizclub_shared.db import Database
from bizclub_shared.envelope import Envelope
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.telemetry import current_traceparent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bizclub.unit_of_work")
T = TypeVar("T")


class UnitOfWork:
    """What one operation sees: the session, and a way to record events."""

    def __init__(self, session: Session, source: str) -> None:
        self.session = session
        self._source = source
        self.events: list[dict[str, Any]] = []

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
        self._source = source
        self._max_batch = max_batch
        self.on_commit: Callable[[], None] | None = None
        self._queue: list[_Pending[Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"{self._source}-writer")
        self._task = asyncio.create_task(self._run(), name=f"{self._source}-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("service is shutting down"))
        self._queue.clear()

    async def run(self, operation: Operation[T], name: str) -> T:
        """Run one operation in the next batch; return its result once committed."""
        if self._task is None or self._task.done():
            raise RuntimeError("writer is not running")
        span = tracer.start_span(f"transaction {name}", kind=trace.SpanKind.INTERNAL)
        pending: _Pending[T] = _Pending(
            operation=operation,
            future=asyncio.get_running_loop().create_future(),
            span=span,
            context=trace.set_span_in_context(span),
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
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                # A caller gone before we started (deadline, cancel) is skipped.
                batch = [p for p in batch if not p.future.done()]
                if not batch:
                    continue
                try:
                    await loop.run_in_executor(self._thread, self._commit_batch, batch)
                except Exception as exc:  # the commit itself failed: nobody's rows were written
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

    def _commit_batch(self, batch: list[_Pending[Any]]) -> None:
        """In the writer thread: every operation in its savepoint, then one commit."""
        with self._db.write_sessions() as session, session.begin():
            events: list[dict[str, Any]] = []
            audit: list[dict[str, Any]] = []
            for pending in batch:
                token = otel_context.attach(pending.context)
                try:
                    with session.begin_nested():
                        uow = UnitOfWork(session, self._source)
                        pending.result = pending.operation(uow)
                        session.flush()
                    pending.ok, pending.events = True, uow.events
                    events.extend(uow.events)
                    if pending.call is not None:
                        audit.append(audit_row(pending.call, uow.events))
                except Exception as exc:  # this operation only; its savepoint undid it
                    pending.ok, pending.result = False, exc
                finally:
                    otel_context.detach(token)
            if events:
                session.execute(insert(OutboxEvent), events)
            if audit:  # who wrote what, committed with the writes themselves
                session.execute(insert(AuditRecord), audit)
