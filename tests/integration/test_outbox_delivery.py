"""The outbox holds events while the broker is away and delivers them all, in order.

Membership over real gRPC and a real SQLite file; the broker (the embedded Tansu, or
Apache Kafka under deploy/kafka/kafka.sh) is killed and started again. Tansu's log is
memory-only, so topics are created again after.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub_shared.topics import ALL_TOPICS, DEFAULT_PARTITIONS, MEMBERSHIP, ensure_topics

from tests.conftest import Broker, MembershipFactory
from tests.databases import database_url
from tests.integration.consumer_support import Applied, projection
from tests.integration.probes import eventually, outbox_rows
from tests.support import Record, read_topic, registration, udon_thani_network

ms = membership_service_pb2
REGISTERED = "bizclub.membership.v1.MemberRegistered"
APPROVED = "bizclub.membership.v1.MemberApproved"
MEMBERS = 20

Events = dict[str, list[tuple[str, str]]]  # key -> [(ce_type, ce_id)] in order


def first_deliveries(records: list[Record]) -> Events:
    """Per key, each event at its first delivery, in log order.

    The relay is at-least-once, so an event may appear again later; a consumer's
    inbox skips the repeat, so what it acts on is each event's first delivery.
    """
    seen: set[str] = set()
    by_key: Events = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        ce_id = r.headers["ce_id"]
        if ce_id not in seen:
            seen.add(ce_id)
            by_key[r.key].append((r.headers["ce_type"], ce_id))
    return dict(by_key)


async def test_events_committed_while_the_broker_is_down_all_arrive_in_order_once_it_is_back(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    if broker.process is None:
        pytest.skip(
            "takes the broker down and up again: needs the embedded one or Kafka under "
            "deploy/kafka/kafka.sh"
        )
    service = await start_membership()
    db_url = service.app.settings.database_url
    await service.stub.CreateNetwork(udon_thani_network())

    async def nothing_pending() -> bool:
        rows = outbox_rows(db_url)
        return bool(rows) and all(sent for *_, sent in rows)

    await eventually(nothing_pending, what="NetworkCreated published")

    # A crash-like outage (SIGKILL). A clean stop would do as well, but Tansu ignores
    # SIGTERM while clients are connected, so it would first wait out its 5 s grace.
    await broker.process.kill()

    async def join(i: int) -> str:
        member = (
            await service.stub.RegisterMember(
                registration(business_name_en=f"Outage Member {i}"), timeout=10
            )
        ).member
        approved = await service.stub.ApproveMember(
            ms.ApproveMemberRequest(member_id=member.member_id), timeout=10
        )
        assert approved.member.status == membership_pb2.MEMBER_STATUS_ACTIVE
        return member.member_id

    started = time.monotonic()
    member_ids = await asyncio.gather(*(join(i) for i in range(MEMBERS)))
    # The calls do not wait for the broker: the events wait in the outbox.
    assert time.monotonic() - started < 5.0
    held = [(k, t, i) for k, t, i, sent in outbox_rows(db_url) if not sent]
    assert len(held) == 2 * MEMBERS
    expected: Events = defaultdict(list)
    for key, event_type, event_id in held:
        expected[key].append((event_type, event_id))
    assert sorted(expected) == sorted(member_ids)
    assert all([t for t, _ in events] == [REGISTERED, APPROVED] for events in expected.values())

    await broker.process.restart()
    await ensure_topics(broker.bootstrap_servers, list(ALL_TOPICS))

    async def all_delivered() -> Events | None:
        records = await read_topic(broker.bootstrap_servers, MEMBERSHIP, keys=set(member_ids))
        delivered = first_deliveries(records)
        return delivered if sum(map(len, delivered.values())) >= 2 * MEMBERS else None

    delivered = await eventually(all_delivered, within=30, what="every event on the topic")
    # Every member's events, none missing and none made up, in commit order per member.
    assert delivered == expected
    # Each on its key's partition as Kafka's default partitioner chooses it (the relay
    # sends record batches per partition, not send() per event): other clients agree.
    records = await read_topic(broker.bootstrap_servers, MEMBERSHIP, keys=set(member_ids))
    partitions = list(range(DEFAULT_PARTITIONS))
    assert {r.partition for r in records} <= set(partitions)
    assert all(r.partition == DefaultPartitioner()(r.key.encode(), partitions, []) for r in records)
    await eventually(nothing_pending, what="the relay marking every row sent")

    # A consumer downstream applies each event exactly once, in order per member.
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[MEMBERSHIP],
    ) as p:

        async def all_applied() -> list[Applied] | None:
            rows = [r for r in await p.applied() if r.member_id in expected]
            return rows if len(rows) >= 2 * MEMBERS else None

        await eventually(all_applied, what="the projection applying every event")
        applied: Events = defaultdict(list)
        for row in await p.applied():  # in the order the effects happened
            if row.member_id in expected:
                applied[row.member_id].append((row.event_type, row.event_id))
        assert applied == expected
        wanted = {event_id for events in expected.values() for _, event_id in events}
        inbox = [event_id for event_id, _ in await p.inbox() if event_id in wanted]
        assert sorted(inbox) == sorted(wanted)
