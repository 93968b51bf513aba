"""The database unavailable for a while: writes answer UNAVAILABLE, nothing accepted is lost.

Membership in this process, a projection consuming its topic on another database. The
projection's database goes first, then membership's too; meanwhile the projection's
consumer keeps waiting for its database (a good event is not dead-lettered for it), and
membership answers UNAVAILABLE for writes. Once the databases are back, the relay and the
consumer carry on. The outage is what each database really has:

- SQLite (the default): another connection holds the file's write lock (BEGIN
  EXCLUSIVE), as a stuck migration or a backup would, past the service's lock timeout.
  Reads go on (WAL).
- PostgreSQL (`make test-faults` runs it again under tools/with-postgres.sh): the
  database refuses new connections and its open ones are terminated, as a failover or an
  operator taking it away would. Reads fail too, with the same UNAVAILABLE.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from bizclub.membership.v1 import membership_service_pb2
from bizclub_shared.topics import MEMBERSHIP

from tests.conftest import Broker, MembershipFactory
from tests.databases import connections_refused, database_url, on_postgres
from tests.faults.support import projection_counts, report_counts
from tests.integration.consumer_support import projection
from tests.integration.probes import eventually, outbox_rows
from tests.support import registration, udon_thani_network

pytestmark = pytest.mark.faults
ms = membership_service_pb2
REGISTERED = "bizclub.membership.v1.MemberRegistered"
LOCK_TIMEOUT = 0.5
MAX_ATTEMPTS = 3


@contextmanager
def outage(database: Path | str) -> Iterator[None]:
    """The database (a SQLite file's path, or a PostgreSQL URL) unavailable for the block."""
    if isinstance(database, str):
        with connections_refused(database):
            yield
        return
    conn = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def service_database(tmp_path: Path, name: str) -> Path | str:
    """Where a service of this test keeps its data: the SQLite file, or the PostgreSQL URL."""
    if on_postgres():
        return database_url(tmp_path, name)  # the same database start_membership was given
    return tmp_path / f"{name}.db"


async def test_writes_wait_out_a_database_outage_and_nothing_accepted_is_lost(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    service = await start_membership(database_lock_timeout_seconds=LOCK_TIMEOUT)
    membership_db = service_database(tmp_path, "membership")
    projection_db = service_database(tmp_path, "projection")
    group = f"faults-db-{uuid.uuid4().hex[:8]}"
    await service.stub.CreateNetwork(udon_thani_network(), timeout=10)
    accepted: list[str] = []

    async def register(n: int) -> None:
        for _ in range(n):
            reply = await service.stub.RegisterMember(
                registration(business_name_en=f"Outage Member {len(accepted)}"), timeout=10
            )
            accepted.append(reply.member.member_id)

    async with projection(
        projection_db,
        group,
        broker.bootstrap_servers,
        topics=[MEMBERSHIP],
        max_attempts=MAX_ATTEMPTS,
        lock_timeout=LOCK_TIMEOUT,
    ) as p:
        await register(5)
        with outage(projection_db):
            await register(5)  # their events reach a consumer whose database is away

            async def waited_long() -> bool:
                # Longer than the retries that would send a failing event to the DLQ.
                return p.consumer.database_waits > 2 * MAX_ATTEMPTS

            await eventually(waited_long, within=60, what="the consumer waiting for its database")
            with outage(membership_db):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await service.stub.RegisterMember(
                        registration(business_name_en="Refused Member"), timeout=10
                    )
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                read = service.stub.GetMember(
                    ms.GetMemberRequest(member_id=accepted[0]), timeout=10
                )
                if on_postgres():  # the database is gone, for reads too
                    with pytest.raises(grpc.aio.AioRpcError) as unread:
                        await read
                    assert unread.value.code() == grpc.StatusCode.UNAVAILABLE
                else:  # reads go on (WAL): the member registered before the outage is there
                    assert (await read).member.member_id == accepted[0]
        # Back: the member registered before the outage is read again.
        got = await service.stub.GetMember(ms.GetMemberRequest(member_id=accepted[0]), timeout=10)
        assert got.member.member_id == accepted[0]
        await register(5)  # the database is back

        ours = set(accepted)

        async def caught_up() -> bool:
            return len([r for r in await p.applied() if r.member_id in ours]) >= len(ours)

        await eventually(caught_up, within=60, what="the projection catching up")
        assert p.consumer.dead_lettered == 0
        produced = [
            event_id for key, t, event_id, _ in outbox_rows(membership_db) if t == REGISTERED
        ]

        async def all_sent() -> bool:
            return all(sent for *_, sent in outbox_rows(membership_db))

        await eventually(all_sent, what="the relay publishing every event")
    # The refused registration left nothing behind; every accepted one is there once.
    assert len(produced) == len(accepted) == 15
    inbox, rows, distinct = projection_counts(projection_db, group, produced)
    assert distinct == rows
    report_counts("database-unavailable", produced=len(produced), applied=inbox, projected=rows)
