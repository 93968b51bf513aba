"""The broker SIGKILLed and started again while requests and consumption are in flight.

Membership in this process takes registrations without pause; a projection consumes its
topic. The broker dies mid-stream: requests go on (their events wait in the outbox), the
consumer loses its connection. Once the broker is back, the relay and the consumer carry
on, and every accepted registration is applied once. Needs a broker that keeps its log
across a restart: Apache Kafka under deploy/kafka/kafka.sh (`make test-faults`); the
embedded Tansu keeps its log in memory only.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from bizclub_shared.topics import ALL_TOPICS, MEMBERSHIP, ensure_topics

from tests.conftest import Broker, MembershipFactory
from tests.faults.support import projection_counts, report_counts
from tests.integration.consumer_support import projection
from tests.integration.probes import eventually, outbox_rows
from tests.support import registration, udon_thani_network

pytestmark = pytest.mark.faults
REGISTERED = "bizclub.membership.v1.MemberRegistered"


async def test_the_broker_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    if broker.process is None or broker.embedded is not None:
        pytest.skip("needs Apache Kafka under deploy/kafka/kafka.sh (make test-faults)")
    service = await start_membership()
    membership_db = tmp_path / "membership.db"
    projection_db = tmp_path / "projection.db"
    group = f"faults-broker-{uuid.uuid4().hex[:8]}"
    await service.stub.CreateNetwork(udon_thani_network(), timeout=10)
    accepted: list[str] = []
    streaming = True

    async def stream() -> None:
        while streaming:
            reply = await service.stub.RegisterMember(
                registration(business_name_en=f"Stream Member {len(accepted)}"), timeout=10
            )
            accepted.append(reply.member.member_id)

    async with projection(projection_db, group, broker.bootstrap_servers, topics=[MEMBERSHIP]) as p:

        async def projected(at_least: int) -> bool:
            mine = set(accepted)
            return len([r for r in await p.applied() if r.member_id in mine]) >= at_least

        producer = asyncio.create_task(stream())
        try:
            await eventually(lambda: projected(20), within=60, what="events flowing")
            await broker.process.kill()
            before = len(accepted)

            async def accepted_while_down() -> bool:
                return len(accepted) >= before + 20

            await eventually(accepted_while_down, within=60, what="requests taken while down")
            await broker.process.restart()
            await ensure_topics(broker.bootstrap_servers, list(ALL_TOPICS))
            after = len(accepted)
            await eventually(lambda: projected(after), within=120, what="the projection resuming")
        finally:
            streaming = False
            await producer

        await eventually(lambda: projected(len(accepted)), within=60, what="every event applied")
        produced = [event_id for _, t, event_id, _ in outbox_rows(membership_db) if t == REGISTERED]
    inbox, rows, distinct = projection_counts(projection_db, group, produced)
    assert distinct == rows
    assert len(produced) == len(accepted)
    report_counts("broker-kill", produced=len(produced), applied=inbox, projected=rows)
