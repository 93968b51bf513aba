"""The bench's count of the callers' connections each worker process holds (/proc)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench.cpu import connections_per_worker

# A stand-in worker: accepts connections on a port and holds them until stdin closes.
_WORKER = """
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
held = []
for line in sys.stdin:
    held.append(listener.accept()[0])
    print("accepted", flush=True)
"""

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc")


@pytest.fixture
def worker() -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    yield process, port
    process.kill()
    process.wait()


def _connect(process: subprocess.Popen[str], port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port))
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("accept\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "accepted"
    return client


def test_counts_the_connections_a_worker_process_accepted(
    worker: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = worker
    clients = [_connect(process, port) for _ in range(3)]
    # A process without worker processes counts as one worker. The clients' own ends
    # (in this process, on other local ports) are not connections it serves.
    assert connections_per_worker(process.pid, port) == [3]

    clients.pop().close()
    deadline = time.monotonic() + 5
    while connections_per_worker(process.pid, port) != [2] and time.monotonic() < deadline:
        time.sleep(0.05)
    # A connection the caller closed is no longer established on the worker's side.
    assert connections_per_worker(process.pid, port) == [2]
    for client in clients:
        client.close()


def test_a_port_nobody_is_connected_to_counts_nothing(
    worker: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = worker
    assert connections_per_worker(process.pid, port) == [0]
