"""The relay sends one record batch per partition at a time; a round bigger than a batch
still arrives whole, in order per key, on each key's partition.

Real broker (the embedded Tansu, or Kafka under `make test-kafka`) and a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner
from bizclub_shared.db import Database
from bizclub_shared.ids import new_id
from bizclub_shared.outbox import OutboxEvent, OutboxRelay
from bizclub_shared.topics import DEFAULT_PARTITIONS, MEMBERSHIP
from bizclub_shared.unit_of_work import Writer
from membership.migrations import MIGRATIONS
from sqlalchemy import insert

from tests.conftest import Broker
from tests.support import read_topic

KEYS = 12
PER_KEY = 100
# 1,200 events of 2 KB: about 800 KB a partition in one relay round, where a batch holds
# at most 256 KB (the relay's max_batch_size), so each partition needs several.
PAYLOAD_BYTES = 2_048


def outbox_rows(keys: list[str]) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "event_id": new_id(),
            "topic": MEMBERSHIP,
            "key": key,
            "event_type": "bizclub.membership.v1.MemberRegistered",
            "source": "membership",
            "province": "TH-41",
            "payload": f"{key}:{sequence:04d}:".encode().ljust(PAYLOAD_BYTES, b"."),
            "occurred_at": now,
            "traceparent": None,
        }
        for sequence in range(PER_KEY)
        for key in keys
    ]


async def test_a_round_larger_than_a_batch_arrives_whole_in_order_per_key(
    broker: Broker, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    MIGRATIONS.upgrade(url)
    db = Database(url)
    writer = Writer(db, "membership")
    relay = OutboxRelay(db, writer, broker.bootstrap_servers, batch_size=KEYS * PER_KEY)
    keys = [new_id() for _ in range(KEYS)]
    with db.engine.begin() as connection:
        connection.execute(insert(OutboxEvent), outbox_rows(keys))
    await writer.start()
    try:
        assert await relay.publish_pending() == KEYS * PER_KEY  # one round, all of it
        assert await relay.pending_count() == 0
    finally:
        await relay.close()
        await writer.stop()
        await asyncio.to_thread(db.close)

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys=set(keys), expect=KEYS * PER_KEY
    )
    sequences: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        key, sequence, _ = r.value.split(b":", 2)
        assert key.decode() == r.key
        sequences[r.key].append(int(sequence))
    assert sequences == {key: list(range(PER_KEY)) for key in keys}
    partitions = list(range(DEFAULT_PARTITIONS))
    assert all(r.partition == DefaultPartitioner()(r.key.encode(), partitions, []) for r in records)
    # Several partitions were filled past one batch in the same round.
    per_partition: dict[int, int] = defaultdict(int)
    for r in records:
        per_partition[r.partition] += len(r.value)
    assert sum(size > 256 * 1024 for size in per_partition.values()) >= 2
