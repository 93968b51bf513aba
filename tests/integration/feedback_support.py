"""Running the feedback service in tests: real SQLite file, real broker, a real membership.

`feedback_factory` starts FeedbackApp instances (gRPC on a free port); each test module
wraps it in its own fixture. Feedback learns members only from membership's events, so
`members_known` waits until it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from bizclub_shared.auth import Caller
from feedback.app import FeedbackApp, FeedbackSettings

from tests.conftest import Broker
from tests.databases import database_url, query
from tests.integration.probes import eventually
from tests.support import client_channel

fs = feedback_service_pb2
fp = feedback_pb2


def feedback_settings(tmp_path: Path, broker: Broker, **overrides: Any) -> FeedbackSettings:
    values: dict[str, Any] = {
        "database_url": database_url(tmp_path, "feedback"),
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_idempotence": broker.idempotence,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "relay_idle_poll_seconds": 0.1,
        "consumer_session_timeout_ms": 2000,
        "consumer_heartbeat_interval_ms": 500,
    }
    values.update(overrides)
    return FeedbackSettings(**values)


@dataclass
class RunningFeedback:
    app: FeedbackApp
    channel: grpc.aio.Channel
    stub: feedback_service_pb2_grpc.FeedbackServiceStub
    database_url: str
    others: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def address(self) -> str:
        assert self.app.runtime.server is not None
        return f"127.0.0.1:{self.app.runtime.server.port}"

    def as_caller(self, caller: Caller) -> feedback_service_pb2_grpc.FeedbackServiceStub:
        """A stub whose calls carry `caller`'s token (the default stub's is an officer's
        of every province)."""
        channel = client_channel(self.address, caller)
        self.others.append(channel)
        return feedback_service_pb2_grpc.FeedbackServiceStub(channel)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the service's database with plain SQL (`?` placeholders)."""
        return query(self.database_url, sql, *args)

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    def outbox_types(self) -> list[str]:
        return [t for (t,) in self.query("SELECT event_type FROM outbox ORDER BY id")]

    async def members_known(
        self, member_ids: Collection[str], status: str = "active", within: float = 30.0
    ) -> None:
        """Wait until membership's events told feedback these members have `status`."""

        async def known() -> bool:
            rows = self.query("SELECT member_id, status FROM feedback_member")
            have = {m for m, s in rows if s == status}
            return set(member_ids) <= have

        await eventually(known, within=within, what=f"feedback learns the members as {status}")

    async def published(self) -> None:
        """Wait until the relay has published every outbox row."""
        for _ in range(400):
            if await self.app.runtime.relay.pending_count() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the feedback outbox relay did not catch up")


@asynccontextmanager
async def running_feedback(
    tmp_path: Path, broker: Broker, **overrides: Any
) -> AsyncIterator[RunningFeedback]:
    app = FeedbackApp(feedback_settings(tmp_path, broker, **overrides))
    await app.start()
    assert app.runtime.server is not None
    channel = client_channel(f"127.0.0.1:{app.runtime.server.port}")
    running = RunningFeedback(
        app,
        channel,
        feedback_service_pb2_grpc.FeedbackServiceStub(channel),
        app.settings.database_url,
    )
    try:
        yield running
    finally:
        for other in [channel, *running.others]:
            await other.close()
        await app.stop()


# --- requests ---------------------------------------------------------------------------


def month_of(day: date) -> fp.ReportMonth:
    return fp.ReportMonth(year=day.year, month=day.month)


def figures(baht: int, *channels: int, employees: int = 4) -> fp.MonthlyFigures:
    return fp.MonthlyFigures(
        revenue=common_pb2.Money(satang=baht * 100, currency_code="THB"),
        sales_channels=list(channels) or [common_pb2.SALES_CHANNEL_LOCAL_MARKET],  # type: ignore[arg-type]
        employees=employees,
    )


def province_survey(closes_on: date, **overrides: Any) -> fs.CreateSurveyRequest:
    request = fs.CreateSurveyRequest(
        province_code="TH-41",
        audience=fp.SURVEY_AUDIENCE_PROVINCE,
        title_th="สำรวจความพึงพอใจต่อกิจกรรมเครือข่าย",
        questions=[
            fp.SurveyQuestion(
                question_id="overall",
                type=fp.QUESTION_TYPE_RATING,
                text_th="ความพึงพอใจโดยรวม",
                required=True,
            ),
            fp.SurveyQuestion(
                question_id="channel",
                type=fp.QUESTION_TYPE_CHOICE,
                text_th="ช่องทางขายที่อยากพัฒนา",
                options_th=["ออนไลน์", "ห้างสรรพสินค้า", "ส่งออก"],
            ),
            fp.SurveyQuestion(
                question_id="orders", type=fp.QUESTION_TYPE_NUMBER, text_th="คำสั่งซื้อต่อเดือน"
            ),
            fp.SurveyQuestion(
                question_id="comment", type=fp.QUESTION_TYPE_TEXT, text_th="ข้อเสนอแนะ"
            ),
        ],
        closes_on=common_pb2.Date(year=closes_on.year, month=closes_on.month, day=closes_on.day),
    )
    for name, value in overrides.items():
        setattr(request, name, value)
    return request


def office(province_code: str) -> fp.ViewerScope:
    return fp.ViewerScope(province_code=province_code)


CENTRAL_VIEW = fp.ViewerScope(central=True)
