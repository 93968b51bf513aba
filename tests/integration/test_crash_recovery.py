"""A service killed between commit and publish loses no event.

Membership runs as a real process (`python -m membership`) on a real SQLite file.
First with no broker reachable: requests commit, the relay cannot publish. SIGKILL.
Then again on the same file with a broker: every committed event reaches the topic.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from bizclub.membership.v1 import membership_service_pb2, membership_service_pb2_grpc
from bizclub_shared.topics import MEMBERSHIP

from tests.conftest import Broker
from tests.databases import database_url
from tests.faults.support import projection_counts, report_counts
from tests.integration.consumer_support import projection
from tests.integration.probes import eventually, free_port, outbox_rows
from tests.support import Record, client_channel, read_topic, registration, udon_thani_network

ms = membership_service_pb2
MEMBERS = 8


def unused_port() -> int:
    """A port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def membership_process(
    db_url: str,
    grpc_port: int,
    bootstrap_servers: str,
    log_path: Path,
    *,
    idempotence: bool,
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "MEMBERSHIP_DATABASE_URL": db_url,
        "MEMBERSHIP_GRPC_HOST": "127.0.0.1",
        "MEMBERSHIP_GRPC_PORT": str(grpc_port),
        "MEMBERSHIP_RELAY_IDLE_POLL_SECONDS": "0.1",
        "MEMBERSHIP_SEED_DEMO_DATA": "false",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "BIZCLUB_KAFKA_IDEMPOTENCE": "true" if idempotence else "false",
        "BIZCLUB_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "membership"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the whole group: a supervisor's workers too
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _tail(log_path: Path) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])


async def connect(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> grpc.aio.Channel:
    """A channel to the process once its gRPC server accepts calls."""
    channel = client_channel(f"127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"membership exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            await asyncio.wait_for(channel.channel_ready(), 0.5)
            return channel
        except TimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError(f"membership not up:\n{_tail(log_path)}") from None


async def test_events_committed_before_a_kill_are_published_after_the_restart(
    broker: Broker, tmp_path: Path
) -> None:
    db_url = database_url(tmp_path, "membership")
    log_path = tmp_path / "membership.log"
    grpc_port = free_port(19800, 19899)
    nowhere = f"127.0.0.1:{unused_port()}"  # no broker listens here

    with membership_process(
        db_url, grpc_port, nowhere, log_path, idempotence=broker.idempotence
    ) as first:
        channel = await connect(first, grpc_port, log_path)
        try:
            stub = membership_service_pb2_grpc.MembershipServiceStub(channel)
            await stub.CreateNetwork(udon_thani_network(), timeout=10)
            member_ids = []
            for i in range(MEMBERS):
                member = (
                    await stub.RegisterMember(
                        registration(business_name_en=f"Crash Member {i}"), timeout=10
                    )
                ).member
                member_ids.append(member.member_id)
                if i % 2 == 0:
                    await stub.ApproveMember(
                        ms.ApproveMemberRequest(member_id=member.member_id), timeout=10
                    )
        finally:
            await channel.close()
        # Every call was answered, so every row is committed; none could be published.
        committed = outbox_rows(db_url)
        assert len(committed) == 1 + MEMBERS + MEMBERS // 2
        assert not any(sent for *_, sent in committed)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

    assert outbox_rows(db_url) == committed  # the kill lost nothing that was committed
    expected_ids = {event_id for _, _, event_id, _ in committed}

    with membership_process(
        db_url, grpc_port, broker.bootstrap_servers, log_path, idempotence=broker.idempotence
    ) as second:
        channel = await connect(second, grpc_port, log_path)
        try:

            async def all_on_topic() -> list[Record] | None:
                records = await read_topic(
                    broker.bootstrap_servers, MEMBERSHIP, keys={"TH-41", *member_ids}
                )
                # Ours: every record of our members, and our NetworkCreated (an external
                # Kafka may hold other tests' records keyed TH-41).
                ours = [
                    r for r in records if r.key in member_ids or r.headers["ce_id"] in expected_ids
                ]
                return ours if expected_ids <= {r.headers["ce_id"] for r in ours} else None

            records = await eventually(all_on_topic, within=30, what="every committed event")
            # Exactly what was committed: no event missing, none made up. A repeat of an
            # event (same ce_id) would be allowed: consumers' inboxes skip it.
            assert {r.headers["ce_id"] for r in records} == expected_ids
            # And per key (member, or province for NetworkCreated) in commit order.
            first_seen: dict[str, list[str]] = {}
            for r in sorted(records, key=lambda r: (r.partition, r.offset)):
                seen = first_seen.setdefault(r.key, [])
                if r.headers["ce_id"] not in seen:
                    seen.append(r.headers["ce_id"])
            assert first_seen == {
                key: [i for k, _, i, _ in committed if k == key] for key, *_ in committed
            }

            await eventually(lambda: _all_sent(db_url), what="the relay marking every row sent")
            # The members themselves survived the kill too.
            stub = membership_service_pb2_grpc.MembershipServiceStub(channel)
            got = await stub.GetMember(ms.GetMemberRequest(member_id=member_ids[-1]), timeout=10)
            assert got.member.business_name_en == f"Crash Member {MEMBERS - 1}"

            # A consumer downstream applies each committed member event once.
            produced = [i for k, _, i, _ in committed if k in member_ids]
            group = f"crash-{uuid.uuid4().hex[:8]}"
            projection_db = tmp_path / "projection.db"
            async with projection(
                projection_db, group, broker.bootstrap_servers, topics=[MEMBERSHIP]
            ):

                async def projected() -> bool:
                    return projection_counts(projection_db, group, produced)[1] >= len(produced)

                # On a shared Kafka it reads the other tests' events first: give it time.
                await eventually(projected, within=120, what="the projection applying them")
            inbox, rows, distinct = projection_counts(projection_db, group, produced)
            assert distinct == rows
            report_counts(
                "commit-then-crash", produced=len(produced), applied=inbox, projected=rows
            )
        finally:
            await channel.close()
            second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0  # a clean stop on SIGTERM


async def _all_sent(db_url: str) -> bool:
    return all(sent for *_, sent in outbox_rows(db_url))
