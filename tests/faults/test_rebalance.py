"""Two replicas of one consumer group, one killed during a rebalance and started again.

Two projection processes share one SQLite file and one consumer group, as two replicas of
a service share its database. Events stream in while the second replica joins; the first
is SIGKILLed while the group rebalances, then started again. Every event is applied
exactly once across both.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import Broker
from tests.faults.support import (
    ProjectionProcess,
    projection_counts,
    projection_process,
    report_counts,
)
from tests.integration.probes import eventually
from tests.integration.test_inbox import member_registered, own_topic, produce

pytestmark = pytest.mark.faults
BATCH = 10


async def group_state(admin: AIOKafkaAdminClient, group: str) -> tuple[str, int]:
    """(state, members) of a consumer group, as the group coordinator reports it."""
    [response] = await admin.describe_consumer_groups([group])
    _error, _group, state, _protocol_type, _protocol, members, *_ = response.groups[0]
    return str(state), len(members)


async def test_a_replica_killed_during_a_rebalance_leaves_every_event_applied_once(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    group = f"faults-rebalance-{uuid.uuid4().hex[:8]}"
    db_path = tmp_path / "projection.db"
    produced: list[str] = []
    streaming = True

    async def stream() -> None:
        serial = 0
        while streaming:
            batch = [member_registered(f"m-rebalance-{serial + i}") for i in range(BATCH)]
            await produce(
                broker,
                topic,
                [(f"m-rebalance-{serial + i}", v, h) for i, (v, h) in enumerate(batch)],
            )
            produced.extend(dict(h)["ce_id"].decode() for _, h in batch)
            serial += BATCH
            await asyncio.sleep(0.05)  # pacing the stream, not waiting for anything

    def applied() -> int:
        return projection_counts(db_path, group)[1]

    def replica(name: str) -> contextlib.AbstractContextManager[ProjectionProcess]:
        return projection_process(
            db_path, group, topic, broker.bootstrap_servers, tmp_path / f"{name}.log"
        )

    async def progress(more_than: int, what: str) -> int:
        async def moved() -> int:
            n = applied()
            return n if n > more_than else 0

        return int(await eventually(moved, within=60, what=what))

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    producer = asyncio.create_task(stream())
    try:
        with contextlib.ExitStack() as replicas:
            first = replicas.enter_context(replica("first"))
            seen = await progress(20, "the first replica applying events")
            second = replicas.enter_context(replica("second"))

            async def rebalancing() -> str:
                state, members = await group_state(admin, group)
                # Apache Kafka reports the rebalance itself; Tansu only Stable, so there
                # the moment the second member shows up (its join just done) has to do.
                if state in ("PreparingRebalance", "CompletingRebalance") or members > 1:
                    return f"{state} with {members} members"
                return ""

            # The second replica's join makes the group rebalance: kill the first then.
            state = await eventually(rebalancing, within=60, what="the group rebalancing")
            first.kill()
            print(f"\nfirst replica SIGKILLed while the group was {state}")
            seen = await progress(seen + 30, "the second replica carrying on alone")
            again = replicas.enter_context(replica("first-again"))

            async def both_in_the_group() -> bool:
                return await group_state(admin, group) == ("Stable", 2)

            await eventually(both_in_the_group, within=60, what="both replicas in the group")
            await progress(applied() + 30, "both replicas applying events")
            streaming = False
            await producer

            async def all_applied() -> bool:
                return applied() >= len(produced)

            await eventually(all_applied, within=60, what="every event applied")
            counters = [second.stop(), again.stop()]
    finally:
        streaming = False
        with contextlib.suppress(Exception):
            await producer
        await admin.close()
    assert all(c["dead_lettered"] == 0 for c in counters), counters
    inbox, rows, distinct = projection_counts(db_path, group, produced)
    assert distinct == rows  # no event applied twice, by either replica
    report_counts("rebalance-kill", produced=len(produced), applied=inbox, projected=rows)
