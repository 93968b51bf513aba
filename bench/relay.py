"""Outbox relay throughput against the raw aiokafka producer, same broker and payloads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bizclub_shared.db import Database
from bizclub_shared.outbox import OutboxEvent, OutboxRelay
from bizclub_shared.telemetry import setup_tracing
from bizclub_shared.unit_of_work import Writer
from membership.migrations import MIGRATIONS as MEMBERSHIP_MIGRATIONS
from sqlalchemy import insert

from bench.payloads import SOURCE, Event, events

WARMUP_EVENTS = 2_000


def _producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # The relay's own producer settings, so the ratio measures the relay, not tuning.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


async def raw_producer(bootstrap_servers: str, topic: str, batch: list[Event]) -> float:
    """events/s of send() for every event, then awaiting every delivery future."""
    prepared = [(e.key.encode(), e.payload, e.envelope.to_headers()) for e in batch]
    producer = _producer(bootstrap_servers)
    await producer.start()
    try:
        await _send_all(producer, topic, prepared[:WARMUP_EVENTS])
        measured = prepared[WARMUP_EVENTS:]
        started = time.perf_counter()
        await _send_all(producer, topic, measured)
        return len(measured) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _send_all(
    producer: AIOKafkaProducer,
    topic: str,
    prepared: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
) -> None:
    futures = [
        await producer.send(topic, value=value, key=key, headers=headers)
        for key, value, headers in prepared
    ]
    await asyncio.gather(*futures)


def _rows(topic: str, batch: list[Event]) -> list[dict[str, object]]:
    return [
        {
            "event_id": e.envelope.event_id,
            "topic": topic,
            "key": e.key,
            "event_type": e.envelope.event_type,
            "source": SOURCE,
            "province": e.envelope.province,
            "payload": e.payload,
            "occurred_at": e.envelope.time,
            "traceparent": e.envelope.traceparent,
        }
        for e in batch
    ]


async def relay(bootstrap_servers: str, topic: str, batch: list[Event], db_path: Path) -> float:
    """events/s of OutboxRelay draining a pre-filled outbox (fresh SQLite file, as the service)."""
    setup_tracing(SOURCE)  # spans are made per event in the service too
    # Wired as ServiceRuntime wires it, with the service's defaults.
    url = f"sqlite:///{db_path}"
    MEMBERSHIP_MIGRATIONS.upgrade(url)  # a service's database, outbox included
    db = Database(url)
    writer = Writer(db, SOURCE)
    relay = OutboxRelay(db, writer, bootstrap_servers)
    await writer.start()
    try:
        # Warm-up: connect, fetch metadata, warm the statement caches.
        await asyncio.to_thread(_fill, db, _rows(topic, batch[:WARMUP_EVENTS]))
        await _drain(relay)
        measured = batch[WARMUP_EVENTS:]
        await asyncio.to_thread(_fill, db, _rows(topic, measured))
        started = time.perf_counter()
        sent = await _drain(relay)
        elapsed = time.perf_counter() - started
        if sent != len(measured) or await relay.pending_count():
            raise RuntimeError(f"relay sent {sent} of {len(measured)} events")
        return sent / elapsed
    finally:
        await relay.close()
        await writer.stop()
        db.close()


def _fill(db: Database, rows: list[dict[str, object]]) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(OutboxEvent), rows)


async def _drain(relay: OutboxRelay) -> int:
    sent = 0
    while batch := await relay.publish_pending():
        sent += batch
    return sent


def make_events(count: int) -> list[Event]:
    return list(events(count + WARMUP_EVENTS))


async def published_ids(bootstrap: str, topic: str, wanted: set[str]) -> set[str]:
    """Event ids (ce_id) on the topic, read from the start until every one of `wanted` is
    seen or 10 s pass without a record (the topic may hold other events too).

    Read rather than taken from end offsets: Tansu 0.6.0's ListOffsets under-reports.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        # By name: Apache Kafka's first metadata answer lists no topics (as tests/support.py).
        await consumer._client.add_topic(topic)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            raise RuntimeError(f"{topic} has no partitions on {bootstrap}")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ids: set[str] = set()
        idle_since = time.monotonic()
        while not wanted <= ids and time.monotonic() - idle_since < 10.0:
            for records in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                idle_since = time.monotonic()
                ids.update(dict(r.headers)["ce_id"].decode() for r in records)
        return ids
    finally:
        await consumer.stop()
