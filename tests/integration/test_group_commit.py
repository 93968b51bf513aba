"""Group commit: registrations that arrive together commit together, and one bad
registration in a batch costs the others nothing.

A batch is first tried whole (no savepoints, inserts after the last operation); if an
operation fails or a deferred insert breaks a constraint, it is retried one operation
at a time. Real gRPC, a real database (SQLite file, or PostgreSQL), the real broker.

On SQLite, worker processes take turns on a file lock; a writer takes its batch once
it holds the lock, so callers who arrive while another process writes are answered
by the next commit, not the one after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.membership.v1 import membership_service_pb2
from bizclub_shared.db import Database
from bizclub_shared.grpc_server import field_violations
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from membership.store import MemberRow
from sqlalchemy import Column, Integer, MetaData, String, Table, event, func, select
from sqlmodel import col

from tests.conftest import MembershipFactory, RunningMembership
from tests.databases import database_url, on_postgres
from tests.integration.probes import write_lock_held_elsewhere
from tests.support import registration, thai_id, udon_thani_network

ms = membership_service_pb2
StatusCode = grpc.StatusCode


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(operations, how it committed) of every whole-batch try: "whole" or "one by one"."""
    seen: list[tuple[int, str]] = []
    commit_whole = Writer._commit_whole

    def spy(self: Writer, batch: list[Any]) -> None:
        try:
            commit_whole(self, batch)
        except Exception:
            seen.append((len(batch), "one by one"))
            raise
        seen.append((len(batch), "whole"))

    monkeypatch.setattr(Writer, "_commit_whole", spy)
    return seen


async def register_all(
    service: RunningMembership, requests: list[ms.RegisterMemberRequest]
) -> list[ms.RegisterMemberResponse | grpc.aio.AioRpcError]:
    async def one(request: ms.RegisterMemberRequest) -> Any:
        try:
            return await service.stub.RegisterMember(request, timeout=30)
        except grpc.aio.AioRpcError as err:
            return err

    return list(await asyncio.gather(*(one(r) for r in requests)))


async def counts(service: RunningMembership) -> tuple[int, int]:
    """(members, MemberRegistered events in the outbox)."""

    def read(session: Any) -> tuple[int, int]:
        members = session.execute(select(func.count()).select_from(MemberRow)).scalar_one()
        events = session.execute(
            select(func.count())
            .select_from(OutboxEvent)
            .where(col(OutboxEvent.event_type) == "bizclub.membership.v1.MemberRegistered")
        ).scalar_one()
        return int(members), int(events)

    return await service.app.runtime.db.read(read)


async def test_a_batch_of_good_registrations_commits_whole(
    start_membership: MembershipFactory, batches: list[tuple[int, str]]
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    replies = await register_all(
        service, [registration(business_name_en=f"Batch {n}") for n in range(40)]
    )
    assert all(isinstance(r, ms.RegisterMemberResponse) for r in replies), replies
    assert await counts(service) == (40, 40)
    # They arrived together, so at least one batch held several, and none needed the retry.
    assert any(n > 1 for n, _ in batches), batches
    assert all(how == "whole" for _, how in batches), batches


async def test_bad_registrations_in_a_batch_fail_alone(
    start_membership: MembershipFactory, batches: list[tuple[int, str]]
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    taken = thai_id("55")
    first = await service.stub.RegisterMember(registration(tax_id=taken))
    good = [registration(business_name_en=f"Good {n}") for n in range(30)]
    twice = thai_id("56")  # two of the batch share a tax ID: one of them gets it
    requests = [
        *good,
        registration(tax_id=taken),  # already registered before
        registration(tax_id=twice),
        registration(tax_id=twice),
        registration(cluster_code="no-such-cluster"),  # fails inside the write
    ]
    order = list(range(len(requests)))
    order = order[::2] + order[1::2]  # the bad ones spread among the good
    replies = await register_all(service, [requests[i] for i in order])
    by_request = dict(zip(order, replies, strict=True))

    assert all(isinstance(by_request[i], ms.RegisterMemberResponse) for i in range(30))
    already = by_request[30]
    assert isinstance(already, grpc.aio.AioRpcError)
    assert already.code() == StatusCode.ALREADY_EXISTS
    assert first.member.member_id in (already.details() or "")  # says who has it
    pair = [by_request[31], by_request[32]]
    assert sorted(isinstance(r, ms.RegisterMemberResponse) for r in pair) == [False, True]
    lost = next(r for r in pair if isinstance(r, grpc.aio.AioRpcError))
    assert lost.code() == StatusCode.ALREADY_EXISTS
    unknown = by_request[33]
    assert isinstance(unknown, grpc.aio.AioRpcError)
    assert unknown.code() == StatusCode.INVALID_ARGUMENT
    assert "cluster_code" in field_violations(unknown)

    # The good ones and one of the pair committed, each with its one event; nothing else.
    assert await counts(service) == (1 + 30 + 1, 1 + 30 + 1)
    assert "one by one" in {how for _, how in batches}, batches


metadata = MetaData()
GROUPS = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name_th", String(200), nullable=False),
)


def add_group(name_th: str) -> Any:
    def op(uow: UnitOfWork) -> str:
        uow.insert(GROUPS, {"name_th": name_th})
        return name_th

    return op


@pytest.mark.skipif(on_postgres(), reason="the lock between processes is SQLite's file lock")
async def test_callers_waiting_for_another_process_share_one_commit(tmp_path: Path) -> None:
    url = database_url(tmp_path, "group_commit")
    db = Database(url)
    metadata.create_all(db.engine)
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda _connection: commits.append(1))
    writer = Writer(db, "test")
    await writer.start()
    try:
        with write_lock_held_elsewhere(url):
            first = asyncio.create_task(writer.run(add_group("กลุ่มทอผ้าไหม"), "first"))
            await asyncio.sleep(0.2)  # the writer thread now waits for the lock
            later = [
                asyncio.create_task(writer.run(add_group(name), "later"))
                for name in ("วิสาหกิจชุมชนบ้านนาข่า", "กลุ่มแปรรูปข้าว")
            ]
            await asyncio.sleep(0.05)
            assert not first.done()  # nothing is written while the other process writes
        answers = await asyncio.wait_for(asyncio.gather(first, *later), timeout=10)

        assert answers == ["กลุ่มทอผ้าไหม", "วิสาหกิจชุมชนบ้านนาข่า", "กลุ่มแปรรูปข้าว"]
        assert len(commits) == 1  # all three in the commit that followed the other's
        with db.engine.connect() as connection:
            stored = connection.execute(select(GROUPS.c.name_th).order_by(GROUPS.c.id))
            assert [name for (name,) in stored] == answers
    finally:
        await writer.stop()
        db.close()


async def test_callers_hear_it_when_the_write_lock_cannot_be_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url(tmp_path, "group_commit"))
    metadata.create_all(db.engine)

    @contextlib.contextmanager
    def unavailable() -> Iterator[None]:
        raise OSError(28, "No space left on device")
        yield

    monkeypatch.setattr(db, "write_lock", unavailable)
    writer = Writer(db, "test")
    await writer.start()
    try:
        calls = [writer.run(add_group(name), "add") for name in ("กลุ่มทอผ้าไหม", "กลุ่มแปรรูปข้าว")]
        answers = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=10)
        assert [type(a) for a in answers] == [OSError, OSError]
        with db.engine.connect() as connection:
            assert connection.execute(select(GROUPS.c.name_th)).all() == []
    finally:
        await writer.stop()
        db.close()
