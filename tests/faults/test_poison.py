"""A poison event in a stream: bounded retries, the dead-letter topic with its error, the
partition flowing on, and a replay once the handler is fixed.

The projection consumes a topic of the test's own on the real broker. One event among
many always fails until its handler is fixed. (tests/integration/test_inbox.py covers
each of these alone; here they come together, with the counts.) The replay is the
operator's `bizclub dlq replay`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from bizclub.membership.v1 import events_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.topics import dead_letter
from bizclub_shared.unit_of_work import UnitOfWork

from tests.conftest import Broker
from tests.faults.support import bizclub_dlq_replay, projection_counts, report_counts
from tests.integration.consumer_support import projection, record
from tests.integration.probes import eventually
from tests.integration.test_inbox import member_registered, own_topic, produce
from tests.support import read_topic

pytestmark = pytest.mark.faults
EVENTS = 40
POISON_AT = 15
MAX_ATTEMPTS = 3
KEY = "m-poison-stream"  # one key: one partition, so the events after it wait on it


async def test_a_poison_event_is_dead_lettered_the_stream_flows_and_a_replay_applies_it(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    group = f"faults-poison-{uuid.uuid4().hex[:8]}"
    events = [member_registered(KEY) for _ in range(EVENTS)]
    poison_id = dict(events[POISON_AT][1])["ce_id"].decode()
    fixed = False
    attempts: list[str] = []

    def register(consumer: EventConsumer) -> None:
        @consumer.handles(events_pb2.MemberRegistered)
        def fails_on_one_until_fixed(uow: UnitOfWork, event: Any, envelope: Envelope) -> None:
            if envelope.event_id == poison_id and not fixed:
                attempts.append(envelope.event_id)
                raise RuntimeError("cluster code 'textiles-old' is unknown")
            record(consumer)(uow, event, envelope)

    await produce(broker, topic, [(KEY, value, headers) for value, headers in events])
    db_path = tmp_path / "projection.db"
    async with projection(
        db_path,
        group,
        broker.bootstrap_servers,
        topics=[topic],
        register=register,
        max_attempts=MAX_ATTEMPTS,
    ) as p:

        async def stream_past_the_poison() -> bool:
            return p.consumer.applied >= EVENTS - 1

        await eventually(stream_past_the_poison, within=60, what="every other event applied")
        assert attempts == [poison_id] * MAX_ATTEMPTS  # bounded retries
        [dead] = await read_topic(broker.bootstrap_servers, dead_letter(topic), expect=1)
        assert dead.headers["ce_id"] == poison_id
        assert dead.headers["dlq_error"] == "RuntimeError: cluster code 'textiles-old' is unknown"
        assert (dead.headers["dlq_topic"], dead.headers["dlq_offset"]) == (topic, str(POISON_AT))
        applied = [r.event_id for r in await p.applied()]
        assert poison_id not in applied and len(applied) == EVENTS - 1

        fixed = True  # the fix is deployed; the operator replays the dead letters, twice
        for _ in range(2):
            replayed = await bizclub_dlq_replay(broker, topic)
            assert "1 dead letters replayed" in replayed, replayed

        async def replays_handled() -> bool:
            return p.consumer.applied + p.consumer.duplicates >= EVENTS + 1

        await eventually(replays_handled, within=30, what="both replays handled")
        assert (p.consumer.applied, p.consumer.duplicates) == (EVENTS, 1)
        assert p.consumer.dead_lettered == 1
    produced = [dict(headers)["ce_id"].decode() for _, headers in events]
    inbox, rows, distinct = projection_counts(db_path, group, produced)
    assert distinct == rows
    report_counts("poison", produced=len(produced), applied=inbox, projected=rows)
