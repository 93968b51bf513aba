"""The access checks' point reads (TargetLookup on Database.read_row), on SQLite files
and on PostgreSQL: they see every committed write at once, nothing uncommitted, and
are not held up by an open write transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bizclub_shared.auth import Target, TargetLookup
from bizclub_shared.db import Database
from feedback import store
from sqlmodel import col

from tests.databases import database_url

PROVINCE = "TH-41"


def remember(db: Database, member_id: str, cluster: str) -> None:
    with db.write_sessions() as session:
        store.remember_member(
            session,
            member_id,
            datetime.now(UTC),
            province_code=PROVINCE,
            cluster_code=cluster,
            status="active",
        )
        session.commit()


def member_lookup(db: Database) -> TargetLookup:
    m = store.MemberRow
    return TargetLookup(
        db,
        col(m.member_id),
        province=col(m.province_code),
        cluster=col(m.cluster_code),
        member=col(m.member_id),
    )


async def test_a_lookup_sees_each_committed_write_and_nothing_uncommitted(
    tmp_path: Path,
) -> None:
    db = Database(database_url(tmp_path, "lookup"))
    try:
        store.MemberRow.__table__.create(db.engine)  # type: ignore[attr-defined]
        lookup = member_lookup(db)
        assert await lookup("m-1") is None

        remember(db, "m-1", "food")
        # The key is taken as typed in a request, surrounding spaces and all.
        assert await lookup("  m-1 ") == Target(PROVINCE, "food", "m-1")

        # The same statement again after another commit: a fresh read, not a snapshot.
        remember(db, "m-1", "textiles")
        assert await lookup("m-1") == Target(PROVINCE, "textiles", "m-1")

        # A writer's open transaction is invisible, and does not block the read.
        with db.write_sessions() as session:
            store.remember_member(
                session, "m-2", datetime.now(UTC), province_code=PROVINCE, cluster_code="food"
            )
            session.flush()
            assert await lookup("m-2") is None
            session.commit()
        assert await lookup("m-2") == Target(PROVINCE, "food", "m-2")

        # Only the columns asked for: a lookup without cluster or member reads "".
        province_only = TargetLookup(
            db, col(store.MemberRow.member_id), province=col(store.MemberRow.province_code)
        )
        assert await province_only("m-2") == Target(PROVINCE)
    finally:
        db.close()
