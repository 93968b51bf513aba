"""The bench's load client (bench/loadgen): what it sends, and what it reports."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from bench.register import build_load_client

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="the client is built with Go")

MESSAGES = [b"first", b"second", b"bad", b"fourth"]


def delimited(messages: list[bytes]) -> bytes:
    out = bytearray()
    for message in messages:
        assert len(message) < 128  # one-byte varint
        out += bytes([len(message)]) + message
    return bytes(out)


@contextlib.contextmanager
def socket_bound_not_listening() -> Iterator[int]:
    """A port nothing listens on, held so that nothing else takes it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture(scope="module")
def client() -> Path:
    return build_load_client()


async def run_client(client: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(client), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_sends_every_message_in_turn_and_counts_each_answer(
    client: Path, tmp_path: Path
) -> None:
    received: collections.Counter[bytes] = collections.Counter()
    tokens: set[str] = set()

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        received[request] += 1
        tokens.update(v for k, v in context.invocation_metadata() if k == "authorization")
        if request == b"bad":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name: must not be bad")
        await asyncio.sleep(0.002)
        return b"answer"

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    data = tmp_path / "requests.bin"
    data.write_bytes(delimited(MESSAGES))
    try:
        code, stdout, stderr = await run_client(
            client,
            f"-target=127.0.0.1:{port}",
            "-method=/test.Echo/Call",
            f"-data={data}",
            "-concurrency=4",
            "-duration=1s",
            "-metadata=Authorization=Bearer secret",
        )
    finally:
        await server.stop(None)

    assert code == 0, stderr
    report = json.loads(stdout)
    calls = sum(received.values())
    assert report["count"] == calls > 100
    # The n-th call sends message n % 4, so each was sent as often as the others, give or
    # take the one call that ended the run.
    assert set(received) == set(MESSAGES)
    assert max(received.values()) - min(received.values()) <= 1
    assert report["statuses"] == {
        "OK": calls - received[b"bad"],
        "InvalidArgument": received[b"bad"],
    }
    assert report["errors"] == {
        "rpc error: code = InvalidArgument desc = name: must not be bad": received[b"bad"]
    }
    assert tokens == {"Bearer secret"}
    assert 2 <= report["p50_ms"] <= report["p90_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["rps"] == pytest.approx(calls / report["seconds"])
    assert 1.0 <= report["seconds"] < 2.0


async def test_says_what_is_wrong_with_a_file_that_is_not_delimited_messages(
    client: Path, tmp_path: Path
) -> None:
    data = tmp_path / "requests.bin"
    data.write_bytes(b"\x10short")  # says 16 bytes follow; 5 do
    code, stdout, stderr = await run_client(
        client, "-target=127.0.0.1:1", "-method=/test.Echo/Call", f"-data={data}"
    )
    assert code == 2
    assert stdout == ""
    assert f"{data}: not length-delimited messages" in stderr


async def test_says_so_when_it_cannot_connect(client: Path, tmp_path: Path) -> None:
    data = tmp_path / "requests.bin"
    data.write_bytes(delimited([b"x"]))
    with socket_bound_not_listening() as port:
        code, _, stderr = await run_client(
            client, f"-target=127.0.0.1:{port}", "-method=/test.Echo/Call", f"-data={data}"
        )
    assert code == 2
    assert f"cannot connect to 127.0.0.1:{port}" in stderr
