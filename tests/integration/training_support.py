"""Running the training service in tests: real database, real broker, a real membership.

`training_factory` starts TrainingApp instances (gRPC on a free port) pointed at a
membership address; each test module wraps it in its own `start_training` fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub.training.v1 import training_pb2, training_service_pb2, training_service_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from training.app import TrainingApp, TrainingSettings

from tests.conftest import Broker, RunningMembership
from tests.databases import database_url, query
from tests.support import client_channel, registration

ts = training_service_pb2
tp = training_pb2


def training_settings(
    tmp_path: Path, broker: Broker, membership_address: str, **overrides: Any
) -> TrainingSettings:
    values: dict[str, Any] = {
        "database_url": database_url(tmp_path, "training"),
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_idempotence": broker.idempotence,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "membership_address": membership_address,
        # Generous: 200 enrolments at once share one 2-core machine with membership.
        "membership_timeout_seconds": 10.0,
        "relay_idle_poll_seconds": 0.1,
        "consumer_session_timeout_ms": 2000,
        "consumer_heartbeat_interval_ms": 500,
    }
    values.update(overrides)
    return TrainingSettings(**values)


@dataclass
class RunningTraining:
    app: TrainingApp
    channel: grpc.aio.Channel
    stub: training_service_pb2_grpc.TrainingServiceStub
    database_url: str

    @property
    def address(self) -> str:
        assert self.app.runtime.server is not None
        return f"127.0.0.1:{self.app.runtime.server.port}"

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the service's database with plain SQL (`?` placeholders)."""
        return query(self.database_url, sql, *args)

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    async def published(self) -> None:
        """Wait until the relay has published every outbox row."""
        for _ in range(400):
            if await self.app.runtime.relay.pending_count() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the training outbox relay did not catch up")


class TrainingFactory:
    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        self._tmp_path = tmp_path
        self._broker = broker
        self.running: list[RunningTraining] = []

    async def __call__(self, membership_address: str, **overrides: Any) -> RunningTraining:
        settings = training_settings(self._tmp_path, self._broker, membership_address, **overrides)
        app = TrainingApp(settings)
        await app.start()
        assert app.runtime.server is not None
        channel = client_channel(f"127.0.0.1:{app.runtime.server.port}")
        service = RunningTraining(
            app,
            channel,
            training_service_pb2_grpc.TrainingServiceStub(channel),
            settings.database_url,
        )
        self.running.append(service)
        return service


@asynccontextmanager
async def training_factory(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    factory = TrainingFactory(tmp_path, broker)
    try:
        yield factory
    finally:
        for service in reversed(factory.running):
            await service.channel.close()
            await service.app.stop()


# --- requests ---------------------------------------------------------------------------


def stamp(moment: datetime) -> Timestamp:
    ts_ = Timestamp()
    ts_.FromDatetime(moment)
    return ts_


def in_days(days: float, hour: int = 2) -> datetime:
    """A whole hour `days` from now (UTC; 02:00 UTC is 09:00 in Bangkok)."""
    day = datetime.now(UTC) + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def seminar(**overrides: Any) -> ts.ScheduleSessionRequest:
    """A TH-41 seminar a week ahead, 09:00-16:00 Bangkok, 6 hours, 30 seats."""
    start = in_days(7)
    request = ts.ScheduleSessionRequest(
        province_code="TH-41",
        kind=tp.SESSION_KIND_SEMINAR,
        title_th="สัมมนาการตลาดออนไลน์สำหรับสินค้าชุมชน",
        venue_th="ห้องประชุมสำนักงานพาณิชย์จังหวัดอุดรธานี",
        start_time=stamp(start),
        end_time=stamp(start + timedelta(hours=7)),
        trainers=[tp.Trainer(name_th="ผศ.ดร.วรวุฒิ แสงทอง", role=tp.TRAINER_ROLE_SPEAKER)],
        capacity=30,
        hours=6,
    )
    for name, value in overrides.items():
        if value is None:
            request.ClearField(name)  # type: ignore[arg-type]
        elif isinstance(value, list):
            request.ClearField(name)  # type: ignore[arg-type]
            getattr(request, name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


async def active_member(membership: RunningMembership, **overrides: Any) -> membership_pb2.Member:
    member = (await membership.stub.RegisterMember(registration(**overrides))).member
    return (
        await membership.stub.ApproveMember(
            membership_service_pb2.ApproveMemberRequest(member_id=member.member_id)
        )
    ).member


async def active_members(
    membership: RunningMembership, count: int, **overrides: Any
) -> list[membership_pb2.Member]:
    """`count` active members, registered and approved concurrently (group commit)."""
    return list(
        await asyncio.gather(
            *(
                active_member(membership, business_name_th=f"ร้านผ้าทอมือบ้านนาข่า {i + 1}", **overrides)
                for i in range(count)
            )
        )
    )
