"""One replica of the test projection service as its own process, for the fault tests.

`python -m tests.faults.projection_process`, configured by the environment: FAULT_DB (its
SQLite file, which replicas share), FAULT_GROUP (consumer group), FAULT_TOPIC,
KAFKA_BOOTSTRAP_SERVERS, and FAULT_KILL_AFTER_APPLIED: if set, the process SIGKILLs itself
once it has applied that many events, right after the inbox transaction commits and before
the offset commit, as a crash there would. On SIGTERM it stops and prints its counters.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from bizclub_shared.inbox import EventConsumer
from bizclub_shared.service import configure_logging, wait_for_signal

from tests.integration.consumer_support import projection, record_member_events


def crash_after(consumer: EventConsumer, applied: int) -> None:
    handle = consumer.handle_record

    async def handle_then_crash(**record: Any) -> str:
        outcome = await handle(**record)
        if consumer.applied >= applied:
            os.kill(os.getpid(), signal.SIGKILL)  # the effect is committed, the offset is not
        return outcome

    consumer.handle_record = handle_then_crash  # type: ignore[method-assign]


async def main() -> None:
    kill_after = int(os.environ.get("FAULT_KILL_AFTER_APPLIED") or 0)

    def register(consumer: EventConsumer) -> None:
        record_member_events(consumer)
        if kill_after:
            crash_after(consumer, kill_after)

    async with projection(
        Path(os.environ["FAULT_DB"]),
        os.environ["FAULT_GROUP"],
        os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        topics=[os.environ["FAULT_TOPIC"]],
        register=register,
    ) as p:
        print("READY", flush=True)
        await wait_for_signal()
    c = p.consumer
    print(
        f"COUNTERS applied={c.applied} duplicates={c.duplicates} "
        f"dead_lettered={c.dead_lettered} database_waits={c.database_waits}",
        flush=True,
    )


if __name__ == "__main__":
    configure_logging(os.environ.get("BIZCLUB_LOG_LEVEL", "WARNING"), "test-projection")
    asyncio.run(main())
