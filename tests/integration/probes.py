"""Black-box probes: poll a condition until a deadline, find a free port, read an outbox,
hold SQLite's write lock as another process would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bizclub_shared.db import Database

from tests.databases import query


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 20.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value at the deadline."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {within:g} s; last: {last!r}")
        await asyncio.sleep(0.1)


def free_port(low: int, high: int, host: str = "127.0.0.1") -> int:
    """A port in [low, high] that nothing listens on right now."""
    for port in range(low, high + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


def outbox_rows(database: str | Path) -> list[tuple[str, str, str, bool]]:
    """(key, event_type, event_id, sent) of every outbox row in a service's database
    (a URL, or a SQLite file's path), in commit order, read with plain SQL."""
    rows = query(
        f"sqlite:///{database}" if isinstance(database, Path) else database,
        "SELECT key, event_type, event_id, sent_at IS NOT NULL FROM outbox ORDER BY id",
    )
    return [(k, t, i, bool(s)) for k, t, i, s in rows]


@contextlib.contextmanager
def write_lock_held_elsewhere(database_url: str) -> Iterator[None]:
    """SQLite's write lock held, until the block ends, as another replica's writer would
    hold it while it commits: this process's writers wait meanwhile."""
    other_replica = Database(database_url)
    held, release = threading.Event(), threading.Event()

    def write_elsewhere() -> None:
        with other_replica.write_lock():
            held.set()
            release.wait(timeout=10)

    holder = threading.Thread(target=write_elsewhere)
    holder.start()
    try:
        assert held.wait(timeout=10)
        yield
    finally:
        release.set()
        holder.join()
        other_replica.close()
