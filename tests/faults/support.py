"""What every fault test shares: the counts it prints, a projection run as its own process,
and the dead-letter replay.

A fault test ends by counting the events produced (committed by the producer), applied
(inbox entries of the consumer: one per event it acted on) and projected (rows the
consumer's handler wrote). They must be equal: nothing lost, nothing applied twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Broker
from tests.databases import query

ROOT = Path(__file__).resolve().parents[2]


_INBOX = "SELECT event_id FROM inbox WHERE consumer = ?"
_PROJECTED = "SELECT event_id FROM test_applied_event WHERE consumer = ?"


def report_counts(fault: str, *, produced: int, applied: int, projected: int) -> None:
    """Print the three counts (make test-faults shows them) and require them equal."""
    print(f"\nFAULT {fault}: produced={produced} applied={applied} projected={projected}")
    assert produced > 0, "the test produced nothing"
    assert applied == produced, f"applied {applied} of {produced} produced"
    assert projected == produced, f"projected {projected} of {produced} produced"


def projection_counts(
    database: Path | str, consumer: str, event_ids: Collection[str] | None = None
) -> tuple[int, int, int]:
    """(inbox entries, projection rows, distinct events in the projection) of a consumer,
    in its database (a SQLite file's path, or a URL of a started one); only of `event_ids`
    if given (a shared Kafka topic holds other tests' events too)."""
    if isinstance(database, str):
        inbox = [e for (e,) in query(database, _INBOX, consumer)]
        rows = [e for (e,) in query(database, _PROJECTED, consumer)]
    else:
        if not database.exists():
            return 0, 0, 0  # the service has not started yet
        with sqlite3.connect(database, timeout=30) as conn:
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'test_applied_event'"
            ).fetchone():
                return 0, 0, 0
            inbox = [e for (e,) in conn.execute(_INBOX, (consumer,))]
            rows = [e for (e,) in conn.execute(_PROJECTED, (consumer,))]
    if event_ids is not None:
        wanted = set(event_ids)
        inbox = [e for e in inbox if e in wanted]
        rows = [e for e in rows if e in wanted]
    return len(inbox), len(rows), len(set(rows))


@dataclass
class ProjectionProcess:
    """`python -m tests.faults.projection_process`: one replica of a projection service."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        assert self.popen.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> dict[str, int]:
        """SIGTERM; the counters it printed on the way out."""
        self.popen.send_signal(signal.SIGTERM)
        assert self.popen.wait(timeout=30) == 0, self.tail()
        counters = [
            line for line in self.log_path.read_text().splitlines() if line.startswith("COUNTERS ")
        ]
        return {k: int(v) for k, v in (kv.split("=") for kv in counters[-1].split()[1:])}

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    async def wait_exit(self, within: float = 60.0) -> int:
        deadline = time.monotonic() + within
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"projection still running:\n{self.tail()}")
            await asyncio.sleep(0.1)
        return self.popen.returncode


@contextmanager
def projection_process(
    db_path: Path,
    group: str,
    topic: str,
    bootstrap_servers: str,
    log_path: Path,
    *,
    kill_after_applied: int = 0,
) -> Iterator[ProjectionProcess]:
    env = {
        **os.environ,
        "FAULT_DB": str(db_path),
        "FAULT_GROUP": group,
        "FAULT_TOPIC": topic,
        "FAULT_KILL_AFTER_APPLIED": str(kill_after_applied),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "BIZCLUB_LOG_LEVEL": "WARNING",
    }
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.projection_process"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = ProjectionProcess(popen, log_path)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(timeout=10)


async def bizclub_dlq_replay(broker: Broker, topic: str) -> str:
    """`bizclub dlq replay --topic <topic> --all`, the operator's command, as a process;
    its output. What an operator runs once the failing handler is fixed."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "bizclub"),
        "dlq",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "replay",
        "--topic",
        topic,
        "--all",
        env={**os.environ, "BIZCLUB_KAFKA_IDEMPOTENCE": str(broker.idempotence).lower()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()
