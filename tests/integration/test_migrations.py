"""Each service's schema comes from its Alembic migrations, on SQLite and PostgreSQL.

The migrations must build exactly what the models describe (a model changed without
a revision fails here), a database at the previous revision upgrades with its data
intact, and a database made before migrations existed is adopted. Run on PostgreSQL
with `make test-postgres`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from analytics.migrations import MIGRATIONS as ANALYTICS
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub_shared.db import sync_url
from bizclub_shared.migrations import BASELINE, Migrations
from feedback.migrations import MIGRATIONS as FEEDBACK
from matching.migrations import MIGRATIONS as MATCHING
from membership.migrations import MIGRATIONS as MEMBERSHIP
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool
from training.migrations import MIGRATIONS as TRAINING

from tests.conftest import MembershipFactory
from tests.databases import database_url, execute, query
from tests.support import registration, thai_id

SERVICES = {m.service: m for m in (MEMBERSHIP, TRAINING, MATCHING, FEEDBACK, ANALYTICS)}
# 25 million baht: more satang than a 32-bit integer holds.
LARGE_SATANG = 2_500_000_000


def tables(url: str) -> set[str]:

    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_migrations_build_exactly_what_the_models_describe(
    tmp_path: Path, service: str
) -> None:
    migrations: Migrations = SERVICES[service]
    url = database_url(tmp_path, service)
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
    # What `alembic check` reports: nothing to generate.
    assert migrations.differences(url) == []
    # Only this service's tables (and its version table): nobody else's.
    assert tables(url) == migrations.table_names | {migrations.version_table}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_revision_downgrades_and_upgrades_again(tmp_path: Path, service: str) -> None:
    migrations = SERVICES[service]
    url = database_url(tmp_path, service)
    migrations.upgrade(url)
    migrations.downgrade(url, "base")
    assert tables(url) == {migrations.version_table}
    migrations.upgrade(url)
    assert migrations.differences(url) == []


def test_a_service_pointed_at_another_services_database_refuses_it(tmp_path: Path) -> None:
    url = database_url(tmp_path, "membership")
    MEMBERSHIP.upgrade(url)
    with pytest.raises(Exception, match="already exists"):  # its inbox: not training's
        TRAINING.upgrade(url)
    assert TRAINING.current(url) is None
    assert MEMBERSHIP.differences(url) == []


def test_replicas_starting_together_on_one_database_both_migrate_it(tmp_path: Path) -> None:
    url = database_url(tmp_path, "membership")
    env = {**os.environ, "MEMBERSHIP_DATABASE_URL": url}
    migrating = [
        subprocess.Popen(
            [sys.executable, "-m", "membership", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    for process in migrating:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert f"database at {MEMBERSHIP.head()}" in output
    assert MEMBERSHIP.differences(url) == []


def _member_at_baseline(url: str) -> tuple[str, str]:
    """A member written the way revision 0001's schema holds one; returns (id, tax id)."""
    member_id, tax_id = str(uuid.uuid4()), thai_id("07")
    now = datetime.now(UTC).replace(tzinfo=None)
    execute(
        url,
        "INSERT INTO network (province_code, name_th, name_en, created_at) VALUES (?, ?, ?, ?)",
        "TH-41",
        "เครือข่าย MOC Biz Club อุดรธานี",
        "MOC Biz Club Udon Thani",
        now,
    )
    execute(
        url,
        "INSERT INTO cluster (province_code, cluster_code, name_th, name_en) VALUES (?, ?, ?, ?)",
        "TH-41",
        "textiles",
        "ผ้าและเครื่องแต่งกาย",
        "",
    )
    execute(
        url,
        "INSERT INTO member (member_id, province_code, cluster_code, business_name_th,"
        " business_name_en, search_text, tax_id, enterprise_type, products, sales_channels,"
        " baseline_revenue_satang, status, registered_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        member_id,
        "TH-41",
        "textiles",
        "กลุ่มทอผ้าไหมบ้านเชียง",
        "",
        " ทอผ้าไหมบ้านเชียง ",
        tax_id,
        membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
        '["ผ้าไหมทอมือ"]',
        "[]",
        8_000_000,
        membership_pb2.MEMBER_STATUS_APPLIED,
        now,
    )
    execute(
        url,
        "INSERT INTO member_contact (member_id, full_name, phone, email, national_id)"
        " VALUES (?, ?, ?, ?, ?)",
        member_id,
        "บุญมี ศรีสุข",
        "0812345678",
        "",
        thai_id("3"),
    )
    return member_id, tax_id


async def _check_upgraded(start_membership: MembershipFactory, url: str, member_id: str) -> None:
    service = await start_membership(database_url=url)
    assert MEMBERSHIP.current(url) == MEMBERSHIP.head()
    # The member written before the upgrade is there, as it was.
    got = (await service.stub.GetMember(ms.GetMemberRequest(member_id=member_id))).member
    assert got.business_name_th == "กลุ่มทอผ้าไหมบ้านเชียง"
    assert got.baseline_monthly_revenue.satang == 8_000_000
    assert got.status == membership_pb2.MEMBER_STATUS_APPLIED
    approved = await service.stub.ApproveMember(ms.ApproveMemberRequest(member_id=member_id))
    assert approved.member.status == membership_pb2.MEMBER_STATUS_ACTIVE
    # The new schema applies: a 25-million-baht business fits (PostgreSQL's INTEGER did not).
    big = registration(
        baseline_monthly_revenue=common_pb2.Money(satang=LARGE_SATANG, currency_code="THB")
    )
    registered = (await service.stub.RegisterMember(big)).member
    again = await service.stub.GetMember(ms.GetMemberRequest(member_id=registered.member_id))
    assert again.member.baseline_monthly_revenue.satang == LARGE_SATANG
    assert query(url, "SELECT count(*) FROM member") == [(2,)]
    # Every write is in the audit trail.
    audited = "SELECT count(*) FROM audit_record WHERE method LIKE '%/RegisterMember'"
    assert query(url, audited) == [(1,)]


async def test_a_database_at_the_previous_revision_upgrades_with_its_data(
    tmp_path: Path, start_membership: MembershipFactory
) -> None:
    url = database_url(tmp_path, "membership")
    MEMBERSHIP.upgrade(url, BASELINE)
    member_id, _ = _member_at_baseline(url)
    await _check_upgraded(start_membership, url, member_id)


async def test_a_database_made_before_migrations_is_adopted_and_upgraded(
    tmp_path: Path, start_membership: MembershipFactory
) -> None:
    url = database_url(tmp_path, "membership")
    # What create_all made before there were migrations: the tables, no version table;
    # and before the audit trail, no audit table either.
    MEMBERSHIP.upgrade(url, BASELINE)
    execute(url, f"DROP TABLE {MEMBERSHIP.version_table}")
    execute(url, "DROP TABLE audit_record")
    member_id, _ = _member_at_baseline(url)
    await _check_upgraded(start_membership, url, member_id)
