"""The inbox: a redelivered event has its effect once; a poison event goes to the DLQ.

Real Tansu (or the external Kafka), real SQLite files. Each test uses a topic of
its own, so under a shared external Kafka it sees only its own records.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from bizclub.membership.v1 import events_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.topics import dead_letter, ensure_topics
from bizclub_shared.unit_of_work import UnitOfWork

from tests.conftest import Broker
from tests.databases import database_url
from tests.integration.consumer_support import (
    Applied,
    AppliedEvent,
    projection,
    record,
    record_member_events,
)
from tests.integration.probes import eventually
from tests.support import read_topic


def member_registered(member_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    event = events_pb2.MemberRegistered(
        member_id=member_id, province_code="TH-41", cluster_code="textiles"
    )
    envelope = Envelope.new(
        event_type=event.DESCRIPTOR.full_name,
        source="membership",
        province="TH-41",
        traceparent=None,
    )
    return event.SerializeToString(), envelope.to_headers()


async def own_topic(broker: Broker) -> str:
    topic = f"bizclub.test{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(broker.bootstrap_servers, [topic, dead_letter(topic)])
    return topic


async def produce(
    broker: Broker, topic: str, records: list[tuple[str, bytes, list[tuple[str, bytes]]]]
) -> None:
    """Send (key, value, headers) records in order, acks=all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=broker.idempotence,
    )
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_the_same_record_handled_twice_has_its_effect_once(
    broker: Broker, tmp_path: Path
) -> None:
    value, headers = member_registered("m-dup-1")
    delivery: dict[str, Any] = dict(
        topic="bizclub.membership.v1", partition=0, offset=7, key=b"m-dup-1", value=value
    )
    async with projection(
        database_url(tmp_path, "projection"), "test-projection", broker.bootstrap_servers
    ) as p:
        first = await p.consumer.handle_record(**delivery, headers=headers)
        # Redelivered later, e.g. after a rebalance, at another offset: same ce_id.
        second = await p.consumer.handle_record(**{**delivery, "offset": 9}, headers=headers)

        assert (first, second) == ("applied", "duplicate")
        assert [(a.member_id, a.event_id) for a in await p.applied()] == [
            ("m-dup-1", headers[0][1].decode())
        ]
        assert await p.inbox() == [(headers[0][1].decode(), 7)]
        assert (p.consumer.applied, p.consumer.duplicates) == (1, 1)


async def test_the_same_record_handled_concurrently_has_its_effect_once(
    broker: Broker, tmp_path: Path
) -> None:
    """Two deliveries in flight at once (they land in one group-commit batch)."""
    value, headers = member_registered("m-dup-2")
    async with projection(
        database_url(tmp_path, "projection"), "test-projection", broker.bootstrap_servers
    ) as p:
        outcomes = await asyncio.gather(
            *(
                p.consumer.handle_record(
                    topic="bizclub.membership.v1",
                    partition=1,
                    offset=offset,
                    key=b"m-dup-2",
                    value=value,
                    headers=headers,
                )
                for offset in (3, 4, 5)
            )
        )
        assert sorted(outcomes) == ["applied", "duplicate", "duplicate"]
        assert len(await p.applied()) == 1
        assert len(await p.inbox()) == 1


async def test_each_consumer_group_applies_an_event_once_for_itself(
    broker: Broker, tmp_path: Path
) -> None:
    """Two consumers sharing one database each keep their own inbox entry."""
    value, headers = member_registered("m-dup-3")
    delivery: dict[str, Any] = dict(
        topic="bizclub.membership.v1", partition=0, offset=1, key=b"m-dup-3", value=value
    )
    async with projection(
        database_url(tmp_path, "projection"), "analytics", broker.bootstrap_servers
    ) as p:
        other = EventConsumer("search-index", p.runtime.writer)
        record_member_events(other)
        outcomes = [
            await p.consumer.handle_record(**delivery, headers=headers),
            await other.handle_record(**delivery, headers=headers),
            await p.consumer.handle_record(**delivery, headers=headers),
            await other.handle_record(**delivery, headers=headers),
        ]
        assert outcomes == ["applied", "applied", "duplicate", "duplicate"]
        assert sorted(a.consumer for a in await p.applied()) == ["analytics", "search-index"]


async def test_a_record_published_twice_with_one_ce_id_is_applied_once(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    value, headers = member_registered("m-dup-4")
    after_value, after_headers = member_registered("m-dup-4-after")
    # Same key, so one partition, in this order: the event, its redelivery, a later event.
    await produce(
        broker,
        topic,
        [
            ("m-dup-4", value, headers),
            ("m-dup-4", value, headers),
            ("m-dup-4", after_value, after_headers),
        ],
    )
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
    ) as p:

        async def both_seen() -> list[Applied] | None:
            rows = await p.applied()
            # The consumer counts an event once the writer hands back, a moment after
            # its commit is visible here.
            return rows if len(rows) >= 2 and p.consumer.applied >= 2 else None

        rows = await eventually(both_seen, what="both events applied")
        assert [r.member_id for r in rows] == ["m-dup-4", "m-dup-4-after"]
        assert (p.consumer.applied, p.consumer.duplicates) == (2, 1)
        assert [offset for _, offset in await p.inbox()] == [0, 2]  # each one's first delivery


async def test_a_poison_event_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    attempts: list[str] = []

    def register(consumer: EventConsumer) -> None:
        record_member_events(consumer)

        @consumer.handles(events_pb2.MemberSuspended)
        def always_fails(uow: UnitOfWork, event: object, envelope: Envelope) -> None:
            attempts.append(envelope.event_id)
            uow.session.add(  # written, then undone with the failed attempt
                AppliedEvent(
                    consumer=consumer.name,
                    event_id=envelope.event_id,
                    event_type=envelope.event_type,
                    member_id="should-not-stay",
                )
            )
            raise ValueError("suspension reason code 42 is unknown")

    poison = events_pb2.MemberSuspended(member_id="m-poison", province_code="TH-41", reason="x")
    poison_envelope = Envelope.new(
        event_type=poison.DESCRIPTOR.full_name,
        source="membership",
        province="TH-41",
        traceparent=None,
    )
    after_value, after_headers = member_registered("m-poison")
    await produce(
        broker,
        topic,
        [
            ("m-poison", poison.SerializeToString(), poison_envelope.to_headers()),
            ("m-poison", after_value, after_headers),
        ],
    )
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
        register=register,
        max_attempts=3,
    ) as p:
        # The next event on the same partition is applied after the poison one.
        rows = await eventually(p.applied, what="the event after the poison one applied")
        assert [(r.member_id, r.event_type) for r in rows] == [
            ("m-poison", "bizclub.membership.v1.MemberRegistered")
        ]
        assert attempts == [poison_envelope.event_id] * 3  # bounded: max_attempts, no more
        assert p.consumer.dead_lettered == 1
        assert await p.inbox() == [(after_headers[0][1].decode(), 1)]

        dlq = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1)
        assert len(dlq) == 1
        dead = dlq[0]
        assert dead.key == "m-poison"
        assert dead.value == poison.SerializeToString()
        assert dead.headers["dlq_error"] == "ValueError: suspension reason code 42 is unknown"
        assert dead.headers["dlq_consumer"] == "test-projection"
        assert dead.headers["dlq_topic"] == topic
        assert dead.headers["dlq_offset"] == "0"
        # The envelope travels along, so the record can be replayed as it was.
        assert dead.envelope.event_id == poison_envelope.event_id
        assert dead.envelope.event_type == "bizclub.membership.v1.MemberSuspended"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("no envelope", "record is missing envelope headers: ce_id, ce_type, ce_source, ce_time"),
        ("corrupt payload", "undecodable payload: "),
        ("ce_id not a UUID", "ce_id is not a UUID: 'order-2569-"),
    ],
    ids=["no-envelope", "corrupt-payload", "ce-id-not-a-uuid"],
)
async def test_a_malformed_record_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    broker: Broker, tmp_path: Path, case: str, error: str
) -> None:
    topic = await own_topic(broker)
    good_value, good_headers = member_registered("m-malformed")
    if case == "no envelope":  # e.g. a foreign producer's record
        bad_value, bad_headers = good_value, [("province", b"TH-41")]
    elif case == "corrupt payload":  # the envelope says MemberRegistered; the bytes are not one
        bad_value, bad_headers = b"\x0a\x05ab", member_registered("m-malformed")[1]
    else:  # a producer with ids of its own, longer than the inbox keeps
        bad_value, bad_headers = (
            good_value,
            [
                (k, b"order-2569-" + b"0" * 40 if k == "ce_id" else v)
                for k, v in member_registered("m-malformed")[1]
            ],
        )
    await produce(
        broker,
        topic,
        [("m-malformed", bad_value, bad_headers), ("m-malformed", good_value, good_headers)],
    )
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
    ) as p:
        rows = await eventually(p.applied, what="the event after the malformed one applied")
        assert [r.event_id for r in rows] == [good_headers[0][1].decode()]
        [dead] = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1)
        assert dead.key == "m-malformed"
        assert dead.value == bad_value
        assert dead.headers["dlq_error"].startswith(error)
        assert (dead.headers["dlq_topic"], dead.headers["dlq_offset"]) == (topic, "0")


async def test_a_dead_lettered_event_can_be_replayed_once_the_handler_is_fixed(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    fixed = False

    def register(consumer: EventConsumer) -> None:
        @consumer.handles(events_pb2.MemberRegistered)
        def fails_until_fixed(uow: UnitOfWork, event: Any, envelope: Envelope) -> None:
            if not fixed:
                raise RuntimeError("cluster lookup is broken")
            record(consumer)(uow, event, envelope)

    value, headers = member_registered("m-replay")
    await produce(broker, topic, [("m-replay", value, headers)])
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
        register=register,
        max_attempts=2,
    ) as p:
        [dead] = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1)
        assert await p.applied() == []

        fixed = True  # the fix is deployed; an operator replays the dead letter, twice
        replay = [(k, v.encode()) for k, v in dead.headers.items() if not k.startswith("dlq_")]
        await produce(broker, topic, [(dead.key, dead.value, replay)] * 2)

        async def replayed() -> bool:
            return p.consumer.applied + p.consumer.duplicates >= 2

        await eventually(replayed, what="both replays handled")
        rows = await p.applied()
        assert [(r.member_id, r.event_id) for r in rows] == [("m-replay", headers[0][1].decode())]
        assert (p.consumer.applied, p.consumer.duplicates, p.consumer.dead_lettered) == (1, 1, 1)


async def test_a_record_with_a_null_header_value_is_dead_lettered_and_the_partition_moves_on(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    good_value, good_headers = member_registered("m-null-header")
    # A foreign producer's record: no envelope, and a header with a null value (legal in Kafka).
    bad_headers: list[tuple[str, bytes | None]] = [("province", b"TH-41"), ("x-trace", None)]
    await produce(
        broker,
        topic,
        [("m-null-header", b"{}", bad_headers), ("m-null-header", good_value, good_headers)],  # type: ignore[list-item]
    )
    async with projection(
        database_url(tmp_path, "projection"),
        "test-projection",
        broker.bootstrap_servers,
        topics=[topic],
    ) as p:
        rows = await eventually(p.applied, what="the event after the bad one applied")
        assert [r.event_id for r in rows] == [good_headers[0][1].decode()]
        # Dead-lettering is awaited before the next record is handled: it is there by now.
        dlq = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1, within=3)
        assert [r.key for r in dlq] == ["m-null-header"]
        assert dlq[0].headers["dlq_error"].startswith("record is missing envelope headers")
