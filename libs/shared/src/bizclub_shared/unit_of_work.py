"""Unit of work with group commit.

Every write operation runs through one writer task. It takes the operations that
are waiting, runs each inside its own SAVEPOINT (so one operation's failure undoes
only its own rows), and commits them all in one transaction: one fsync for many
requests. An operation's rows and its events (outbox rows) always commit together
or not at all; its caller hears back only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bizclub_shared.db import for_writing, session_factory, utcnow
from bizclub_shared.envelope import Envelope
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.telemetry import current_traceparent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bizclub.unit_of_work")
T = TypeVar("T")


class UnitOfWork:
    """What one operation sees: the session, and a way to record events."""

    def __init__(self, session: AsyncSession, source: str) -> None:
        self.session = session
        self._source = source
        self.events: list[OutboxEvent] = []

    def emit(self, topic: str, key: str, event: Message, province: str) -> None:
        """Record an event to be published after commit, in this transaction."""
        envelope = Envelope.new(
            event_type=event.DESCRIPTOR.full_name,
            source=self._source,
            province=province,
            traceparent=current_traceparent(),
        )
        row = OutboxEvent(
            event_id=envelope.event_id,
            topic=topic,
            key=key,
            event_type=envelope.event_type,
            source=envelope.source,
            province=province,
            payload=event.SerializeToString(),
            occurred_at=envelope.time,
            traceparent=envelope.traceparent,
        )
        self.session.add(row)
        self.events.append(row)


Operation = Callable[[UnitOfWork], Awaitable[T]]


@dataclass
class _Pending(Generic[T]):
    operation: Operation[T]
    name: str
    future: asyncio.Future[T]
    span: trace.Span
    context: otel_context.Context = field(default_factory=otel_context.get_current)


class Writer:
    """Runs write operations with group commit. Start it before use; stop it after."""

    def __init__(
        self,
        engine: AsyncEngine,
        source: str,
        *,
        on_commit: Callable[[], None] | None = None,
        max_batch: int = 200,
    ) -> None:
        self._sessions = session_factory(for_writing(engine))
        self._source = source
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: list[_Pending[Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._source}-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
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
            name=name,
            future=asyncio.get_running_loop().create_future(),
            span=span,
            context=trace.set_span_in_context(span),
        )
        self._queue.append(pending)
        self._wake.set()
        try:
            return await pending.future
        finally:
            span.end()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Pending[Any]]) -> None:
        outcomes: list[tuple[_Pending[Any], bool, Any]] = []
        try:
            async with self._sessions() as session, session.begin():
                for pending in batch:
                    if pending.future.done():  # caller gone before we started: skip it
                        continue
                    token = otel_context.attach(pending.context)
                    try:
                        async with session.begin_nested():
                            uow = UnitOfWork(session, self._source)
                            result = await pending.operation(uow)
                            await session.flush()
                        outcomes.append((pending, True, result))
                    except Exception as exc:  # this operation only; the savepoint undid it
                        outcomes.append((pending, False, exc))
                    finally:
                        otel_context.detach(token)
        except Exception as exc:  # the commit itself failed: nobody's rows were written
            log.error("commit of %d operations failed: %s", len(batch), exc)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        committed_at = utcnow()
        for pending, ok, value in outcomes:
            pending.span.set_attribute("db.committed_at", committed_at.isoformat())
            if pending.future.done():  # the caller went away (deadline); its rows stand
                continue
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)
        if self._on_commit is not None and any(ok for _, ok, _ in outcomes):
            self._on_commit()
