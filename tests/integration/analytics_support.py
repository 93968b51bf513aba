"""Running the analytics service in tests, and publishing real events for it to read.

`running_analytics` starts an AnalyticsApp (real SQLite file, real broker, gRPC on a
free port). `EventPublisher` publishes events the way every service does: rows in an
outbox (its own SQLite file) committed by the shared Writer, sent by the shared
OutboxRelay with the envelope in the headers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaProducer
from analytics.app import AnalyticsApp, AnalyticsSettings
from analytics.reactions import PROJECTIONS
from bizclub.analytics.v1 import analytics_service_pb2 as an
from bizclub.analytics.v1 import analytics_service_pb2_grpc
from bizclub_shared.auth import Caller
from bizclub_shared.db import Database
from bizclub_shared.outbox import OutboxEvent, OutboxRelay
from bizclub_shared.topics import ALL_AREAS
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conftest import Broker
from tests.integration.probes import eventually
from tests.support import CENTRAL, client_channel, read_topic


def analytics_settings(tmp_path: Path, broker: Broker, **overrides: Any) -> AnalyticsSettings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}",
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_idempotence": broker.idempotence,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "relay_idle_poll_seconds": 0.1,
        "consumer_session_timeout_ms": 2000,
        "consumer_heartbeat_interval_ms": 500,
    }
    values.update(overrides)
    return AnalyticsSettings(**values)


@dataclass
class RunningAnalytics:
    app: AnalyticsApp
    stub: analytics_service_pb2_grpc.AnalyticsServiceStub
    db_path: Path
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        assert self.app.runtime.server is not None
        return f"127.0.0.1:{self.app.runtime.server.port}"

    def as_caller(self, caller: Caller) -> analytics_service_pb2_grpc.AnalyticsServiceStub:
        channel = client_channel(self.address, caller)
        self.channels.append(channel)
        return analytics_service_pb2_grpc.AnalyticsServiceStub(channel)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, args).fetchall()

    @property
    def applied(self) -> int:
        return self.app.runtime.consumers[0].applied

    @property
    def duplicates(self) -> int:
        return self.app.runtime.consumers[0].duplicates

    async def indicators(self, province: str = "", cluster: str = "") -> an.Indicators:
        reply = await self.stub.GetIndicators(
            an.GetIndicatorsRequest(scope=an.Scope(province_code=province, cluster_code=cluster))
        )
        return reply.indicators

    async def rebuild(self, within: float = 60.0) -> an.RebuildStatus:
        """Start a rebuild as central and wait until it is swapped in."""
        central = self.as_caller(CENTRAL)
        started = (await central.StartRebuild(an.StartRebuildRequest())).status

        async def finished() -> an.RebuildStatus | None:
            status = (await central.GetRebuildStatus(an.GetRebuildStatusRequest())).status
            done = status.generation == started.generation and status.state in (
                an.REBUILD_STATE_COMPLETED,
                an.REBUILD_STATE_FAILED,
            )
            return status if done else None

        status: an.RebuildStatus = await eventually(finished, within=within, what="rebuild")
        return status


@asynccontextmanager
async def running_analytics(
    tmp_path: Path, broker: Broker, **overrides: Any
) -> AsyncIterator[RunningAnalytics]:
    app = AnalyticsApp(analytics_settings(tmp_path, broker, **overrides))
    await app.start()
    assert app.runtime.server is not None
    running = RunningAnalytics(app, None, tmp_path / "analytics.db")  # type: ignore[arg-type]
    channel = client_channel(running.address)
    running.channels.append(channel)
    running.stub = analytics_service_pb2_grpc.AnalyticsServiceStub(channel)
    try:
        yield running
    finally:
        for channel in running.channels:
            await channel.close()
        await app.stop()


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


class EventPublisher:
    """Publishes events through a real outbox and relay, as a service would."""

    def __init__(self, db_path: Path, bootstrap_servers: str, source: str = "test") -> None:
        self.db = Database(f"sqlite:///{db_path}")
        self.db.create_tables([OutboxEvent])
        self.writer = Writer(self.db, source)
        self.relay = OutboxRelay(self.db, self.writer, bootstrap_servers)

    async def __aenter__(self) -> EventPublisher:
        await self.writer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.relay.close()
        await self.writer.stop()
        self.db.close()

    async def publish(self, *events: tuple[str, str, Message, str]) -> None:
        """(topic, key, event, province) each, committed together, then sent."""

        def emit(uow: UnitOfWork) -> None:
            for topic, key, event, province in events:
                uow.emit(topic, key, event, province)

        await self.writer.run(emit, "test events")
        while await self.relay.publish_pending():
            pass


async def handled_records(bootstrap_servers: str) -> int:
    """How many distinct events of every area's topic analytics has a projection for
    (the relay publishes at least once, so a topic may hold an event twice)."""
    ids: set[str] = set()
    for topic in ALL_AREAS:
        for record in await read_topic(bootstrap_servers, topic):
            if record.headers.get("ce_type") in PROJECTIONS:
                ids.add(record.headers["ce_id"])
    return len(ids)


async def redeliver_everything(bootstrap_servers: str) -> int:
    """Send every record of every area's topic again, headers (event id) and all:
    the same events delivered a second time. Returns how many analytics handles."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    sent = 0
    try:
        for topic in ALL_AREAS:
            for record in await read_topic(bootstrap_servers, topic):
                await producer.send_and_wait(
                    topic,
                    record.value,
                    key=record.key.encode(),
                    headers=[(k, v.encode()) for k, v in record.headers.items()],
                )
                sent += record.headers.get("ce_type") in PROJECTIONS
    finally:
        await producer.stop()
    return sent
