"""A tiny projection service for event tests: its own database, inbox and consumer.

Built the way a service's `reactions` module builds one: a ServiceRuntime, a
consumer group from `runtime.consumer(name)`, handlers that write a projection row
in the same transaction as the inbox row, subscribed on the runtime's Kafka broker.
What it did is read back from its database with plain SQL.
Real broker, real database; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bizclub.membership.v1 import events_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer, InboxEntry
from bizclub_shared.migrations import Migrations
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.service import ServiceRuntime
from bizclub_shared.settings import ServiceSettings
from bizclub_shared.unit_of_work import UnitOfWork
from sqlmodel import Field, SQLModel

from tests.databases import query

# Consumer group timings for tests: Tansu holds a first join for ~session_timeout/2.
GROUP_TIMINGS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}


class AppliedEvent(SQLModel, table=True):
    """One row per effect a handler had: the projection the tests count."""

    __tablename__ = "test_applied_event"

    seq: int | None = Field(default=None, primary_key=True)  # the order effects happened in
    consumer: str = Field(max_length=100)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=200)
    member_id: str = Field(max_length=64)


# Its schema comes from migrations, as a service's does.
MIGRATIONS = Migrations(
    "test_projection",
    Path(__file__).parent / "projection_migrations",
    [OutboxEvent, InboxEntry, AppliedEvent],
)


@dataclass(frozen=True)
class Applied:
    consumer: str
    event_id: str
    event_type: str
    member_id: str


def record(consumer: EventConsumer) -> Callable[[UnitOfWork, Any, Envelope], None]:
    """A handler that records the event it is given in the projection."""

    def handle(uow: UnitOfWork, event: Any, envelope: Envelope) -> None:
        uow.session.add(
            AppliedEvent(
                consumer=consumer.name,
                event_id=envelope.event_id,
                event_type=envelope.event_type,
                member_id=event.member_id,
            )
        )

    return handle


def record_member_events(consumer: EventConsumer) -> None:
    """Handlers that record MemberRegistered and MemberApproved in the projection."""
    consumer.handles(events_pb2.MemberRegistered)(record(consumer))
    consumer.handles(events_pb2.MemberApproved)(record(consumer))


@dataclass
class Projection:
    runtime: ServiceRuntime
    consumer: EventConsumer
    database_url: str

    def _query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        return query(self.database_url, sql, *args)

    async def applied(self) -> list[Applied]:
        """Every effect, in the order it happened."""
        return [
            Applied(*row)
            for row in self._query(
                "SELECT consumer, event_id, event_type, member_id FROM test_applied_event "
                "ORDER BY seq"
            )
        ]

    async def inbox(self) -> list[tuple[str, int]]:
        """(event_id, offset) of this consumer's inbox entries."""
        return [
            (event_id, offset)
            for event_id, offset in self._query(
                'SELECT event_id, "offset" FROM inbox WHERE consumer = ? ORDER BY "offset"',
                self.consumer.name,
            )
        ]


@asynccontextmanager
async def projection(
    database: str | Path,
    name: str,
    bootstrap_servers: str,
    *,
    topics: Sequence[str] = (),
    register: Callable[[EventConsumer], None] = record_member_events,
    max_attempts: int = 5,
    lock_timeout: float = 30.0,
) -> AsyncIterator[Projection]:
    """A started projection service; its consumer subscribes to `topics`, if any.

    `database`: a URL, or the path of a SQLite file (the fault tests lock and read it).
    """
    database_url = f"sqlite+aiosqlite:///{database}" if isinstance(database, Path) else database
    settings = ServiceSettings(
        service_name="test-projection",
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap_servers,
        grpc_host="127.0.0.1",
        grpc_port=0,
        consumer_max_attempts=max_attempts,
        database_lock_timeout_seconds=lock_timeout,
    )
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    consumer = runtime.consumer(name)
    register(consumer)
    if topics:
        consumer.subscribe(runtime.kafka, list(topics), **GROUP_TIMINGS)
    await runtime.start([], [], {})
    try:
        yield Projection(runtime, consumer, database_url)
    finally:
        await runtime.stop()
