"""A service in several worker processes (`MEMBERSHIP_WORKERS=2`), on the real broker and
a real database (SQLite file, or PostgreSQL in `make test-postgres`).

The workers share the port and the database; one of them at a time relays the outbox.
Registrations spread over many connections all commit, each tax ID at most once, and
every event reaches the topic once the relay has sent it. A worker that dies takes the
service down (so it is restarted whole); a taken port is refused with a clear message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import grpc
from bizclub.membership.v1 import events_pb2, membership_service_pb2, membership_service_pb2_grpc
from bizclub_shared.db import Database
from bizclub_shared.outbox import OutboxRelay
from bizclub_shared.topics import MEMBERSHIP
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from membership.migrations import MIGRATIONS

from tests.conftest import Broker
from tests.databases import database_url
from tests.integration.probes import eventually, free_port, outbox_rows
from tests.integration.test_crash_recovery import membership_process
from tests.support import (
    auth_metadata,
    read_topic,
    registration,
    thai_id,
    udon_thani_network,
)

ms = membership_service_pb2
CONNECTIONS = 8
MEMBERS = 48


def supervised_membership(
    db_url: str, port: int, broker: Broker, log_path: Path, **env: str
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`python -m membership` with two workers (as test_crash_recovery runs it, once)."""
    return membership_process(
        db_url,
        port,
        broker.bootstrap_servers,
        log_path,
        idempotence=broker.idempotence,
        extra_env={"MEMBERSHIP_WORKERS": "2", **env},
    )


def cpus_allowed(pid: int) -> set[int]:
    """The CPUs every thread of a process may run on (from /proc)."""
    cpus: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        listed = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
        for part in listed.split(":")[1].strip().split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def runs_uvloop(pid: int) -> bool:
    """Whether uvloop's extension is loaded in the process (it is imported only to run on)."""
    return "/uvloop/" in Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def listening_pids(port: int) -> set[int]:
    """Processes with a socket listening on `port` (from /proc: no tool needed)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            pids.add(int(proc.name))
    return pids


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _tail(log_path: Path) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])


def own_connection(address: str) -> grpc.aio.Channel:
    # A channel of its own TCP connection (not one shared by every channel to the address),
    # as separate callers have: the kernel spreads connections over the workers.
    return grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


async def test_two_workers_share_the_port_and_every_event_is_published_once(
    broker: Broker, tmp_path: Path
) -> None:
    db_url = database_url(tmp_path, "membership")
    log_path = tmp_path / "membership.log"
    port = free_port(19900, 19999)
    with supervised_membership(db_url, port, broker, log_path) as supervisor:

        async def both_listen() -> list[int] | None:
            if supervisor.poll() is not None:
                raise AssertionError(f"membership exited:\n{_tail(log_path)}")
            workers = children(supervisor.pid)
            listening = listening_pids(port)
            return workers if len(workers) == 2 and set(workers) <= listening else None

        workers = await eventually(both_listen, within=60, what="two workers listening")
        assert supervisor.pid not in listening_pids(port)  # the supervisor only supervises
        assert all(runs_uvloop(pid) for pid in workers)  # the default event loop

        channels = [own_connection(f"127.0.0.1:{port}") for _ in range(CONNECTIONS)]
        try:
            stubs = [membership_service_pb2_grpc.MembershipServiceStub(c) for c in channels]
            metadata = auth_metadata()
            await stubs[0].CreateNetwork(udon_thani_network(), metadata=metadata, timeout=30)
            # Each tax ID three times at once, from different connections: once registered,
            # twice ALREADY_EXISTS naming the field, whichever worker takes which.
            tax_ids = [thai_id("77") for _ in range(MEMBERS)]

            async def register(n: int) -> tuple[str, grpc.StatusCode]:
                request = registration(
                    tax_id=tax_ids[n % MEMBERS], business_name_en=f"Worker Member {n}"
                )
                try:
                    reply = await stubs[n % CONNECTIONS].RegisterMember(
                        request, metadata=metadata, timeout=30
                    )
                    return reply.member.member_id, grpc.StatusCode.OK
                except grpc.aio.AioRpcError as err:
                    return "", err.code()

            results = await asyncio.gather(*(register(n) for n in range(3 * MEMBERS)))
        finally:
            for channel in channels:
                await channel.close()
        codes = [code for _, code in results]
        assert codes.count(grpc.StatusCode.OK) == MEMBERS, codes
        assert codes.count(grpc.StatusCode.ALREADY_EXISTS) == 2 * MEMBERS, codes
        member_ids = {member_id for member_id, code in results if code == grpc.StatusCode.OK}

        # One MemberRegistered per member in the outbox, and each on the topic.
        committed = outbox_rows(db_url)
        registered = {key: event_id for key, kind, event_id, _ in committed if key in member_ids}
        assert set(registered) == member_ids
        assert len(committed) == 1 + MEMBERS  # and the NetworkCreated

        async def all_sent() -> bool:
            return all(sent for *_, sent in outbox_rows(db_url))

        await eventually(all_sent, within=30, what="the relay sending every event")
        records = await read_topic(broker.bootstrap_servers, MEMBERSHIP, keys=member_ids)
        assert {r.headers["ce_id"] for r in records} == set(registered.values())

        # A worker that dies takes the service down, so it is restarted whole.
        os.kill(workers[0], signal.SIGKILL)
        assert supervisor.wait(timeout=40) != 0
        assert not any(alive(pid) for pid in workers[1:])
        assert "exited with status" in _tail(log_path)


async def test_sigterm_stops_every_worker_cleanly(broker: Broker, tmp_path: Path) -> None:
    """And with MEMBERSHIP_PIN_WORKERS each worker (every thread of it) keeps to one CPU,
    a different one for each while the machine has CPUs enough. These workers run on
    asyncio's own event loop (MEMBERSHIP_EVENT_LOOP=asyncio), as they must where uvloop
    is not installed."""
    db_url = database_url(tmp_path, "membership")
    log_path = tmp_path / "membership.log"
    port = free_port(19900, 19999)
    with supervised_membership(
        db_url,
        port,
        broker,
        log_path,
        MEMBERSHIP_PIN_WORKERS="true",
        MEMBERSHIP_EVENT_LOOP="asyncio",
    ) as supervisor:

        async def both_listen() -> list[int] | None:
            workers = children(supervisor.pid)
            return workers if len(workers) == 2 and set(workers) <= listening_pids(port) else None

        workers = await eventually(both_listen, within=60, what="two workers listening")
        assert not any(runs_uvloop(pid) for pid in workers)
        pinned = [cpus_allowed(pid) for pid in workers]
        assert all(len(cpus) == 1 for cpus in pinned), pinned
        if len(os.sched_getaffinity(0)) >= 2:
            assert pinned[0] != pinned[1]
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=40) == 0, _tail(log_path)
        assert not any(alive(pid) for pid in workers)


async def test_a_taken_port_is_refused_naming_it(broker: Broker, tmp_path: Path) -> None:
    port = free_port(19900, 19999)
    log_path = tmp_path / "membership.log"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with supervised_membership(
            database_url(tmp_path, "membership"), port, broker, log_path
        ) as supervisor:
            # Refused before any worker starts.
            assert supervisor.wait(timeout=60) != 0
    assert f"port {port} is in use" in _tail(log_path)


async def test_one_relay_at_a_time_per_database(broker: Broker, tmp_path: Path) -> None:
    """Two relays on one database (two workers', or two replicas'): the one holding the
    relay lock publishes, the other waits, and takes over once the first has gone."""
    url = database_url(tmp_path, "membership")
    await asyncio.to_thread(MIGRATIONS.upgrade, url)
    dbs = [Database(url), Database(url)]
    writers = [Writer(db, "membership") for db in dbs]
    relays = [
        OutboxRelay(db, w, broker.bootstrap_servers) for db, w in zip(dbs, writers, strict=True)
    ]
    for writer in writers:
        await writer.start()
    try:

        async def network_created(writer: Writer, code: str) -> None:
            def op(uow: UnitOfWork) -> None:
                uow.emit(MEMBERSHIP, code, events_pb2.NetworkCreated(province_code=code), code)

            await writer.run(op, "test event")

        await network_created(writers[1], "TH-40")
        assert await relays[0].publish_pending() == 1  # the first to ask holds the lock
        await network_created(writers[0], "TH-41")
        assert await relays[1].publish_pending() == 0  # held by the other: it waits
        assert await relays[0].publish_pending() == 1
        await network_created(writers[1], "TH-42")
        await relays[0].close()  # the holder goes: the lock is free
        assert await relays[1].publish_pending() == 1
        assert await relays[0].publish_pending() == 0  # now the other holds it
        records = await read_topic(
            broker.bootstrap_servers, MEMBERSHIP, keys={"TH-40", "TH-41", "TH-42"}
        )
        assert sorted(r.key for r in records) == ["TH-40", "TH-41", "TH-42"]
    finally:
        for relay in relays:
            await relay.close()
        for writer in writers:
            await writer.stop()
        for db in dbs:
            db.close()
