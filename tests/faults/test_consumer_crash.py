"""A consumer killed after applying an event but before committing its offset.

The projection runs as its own process on a real SQLite file. It SIGKILLs itself right
after the inbox transaction of its Kth event commits, before the offset commit. Started
again, it is handed that event again: the inbox makes the redelivery a no-op.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import Broker
from tests.faults.support import projection_counts, projection_process, report_counts
from tests.integration.probes import eventually
from tests.integration.test_inbox import member_registered, own_topic, produce

pytestmark = pytest.mark.faults
EVENTS = 60
KILL_AFTER = 25


async def test_a_consumer_killed_between_apply_and_offset_commit_applies_nothing_twice(
    broker: Broker, tmp_path: Path
) -> None:
    topic = await own_topic(broker)
    group = f"faults-consume-{uuid.uuid4().hex[:8]}"
    events = [member_registered(f"m-crash-{i}") for i in range(EVENTS)]
    await produce(broker, topic, [(f"m-crash-{i}", v, h) for i, (v, h) in enumerate(events)])
    db_path = tmp_path / "projection.db"
    log_path = tmp_path / "projection.log"

    with projection_process(
        db_path, group, topic, broker.bootstrap_servers, log_path, kill_after_applied=KILL_AFTER
    ) as first:
        assert await first.wait_exit() == -9, first.tail()  # it killed itself
    inbox, rows, _ = projection_counts(db_path, group)
    # Exactly the events it applied before the kill, the last one included.
    assert (inbox, rows) == (KILL_AFTER, KILL_AFTER)

    with projection_process(db_path, group, topic, broker.bootstrap_servers, log_path) as second:

        async def all_applied() -> bool:
            return projection_counts(db_path, group)[1] >= EVENTS

        await eventually(all_applied, within=60, what="every event applied after the restart")
        counters = second.stop()
    # The event whose offset was not committed came again and was skipped.
    assert counters["duplicates"] >= 1, counters
    assert counters["applied"] == EVENTS - KILL_AFTER, counters
    inbox, rows, distinct = projection_counts(db_path, group)
    assert distinct == rows
    report_counts("consume-then-crash", produced=len(events), applied=inbox, projected=rows)
