"""Analytics' figures from facts: months in Bangkok, order-free projections, medians."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from analytics import domain, policy, store
from bizclub.analytics.v1 import analytics_service_pb2
from bizclub_shared.auth import Role
from bizclub_shared.db import Database
from sqlalchemy.orm import Session


def test_a_month_is_bangkoks() -> None:
    # 31 January 20:00 UTC is already 1 February in Bangkok (UTC+7).
    assert domain.month_of(datetime(2026, 1, 31, 20, 0, tzinfo=UTC)) == 202602
    assert domain.month_of(datetime(2026, 1, 31, 16, 0, tzinfo=UTC)) == 202601


def test_status_at_a_months_end_is_the_last_change_up_to_it() -> None:
    a = "m-1"
    facts = domain.Facts(
        members=[domain.Member(a, "TH-41", "food", 1, "ร้าน", 8_000_000, [], None)],
        statuses=[
            domain.StatusChange(a, domain.SUSPENDED, datetime(2026, 3, 10, tzinfo=UTC)),
            domain.StatusChange(a, domain.APPLIED, datetime(2026, 1, 5, tzinfo=UTC)),
            domain.StatusChange(a, domain.ACTIVE, datetime(2026, 2, 1, tzinfo=UTC)),
        ],
    )
    ix = domain.Indexed(facts)
    assert ix.status_at(a, domain.Period(end=202512)) == 0
    assert ix.status_at(a, domain.Period(end=202602)) == domain.ACTIVE
    assert ix.status_at(a, domain.Period()) == domain.SUSPENDED
    by_feb = domain.member_indicators(ix, domain.Scope(), domain.Period(202602, 202602))
    assert (by_feb.total, by_feb.by_status, by_feb.registered_in_period) == (
        1,
        {domain.ACTIVE: 1},
        0,
    )


def test_problems_median_days_over_the_resolved_only() -> None:
    day = lambda d: datetime(2026, 5, d, tzinfo=UTC)  # noqa: E731
    facts = domain.Facts(
        issues=[
            domain.Issue("i1", "TH-41", "", day(1), False, day(3)),
            domain.Issue("i2", "TH-41", "", day(1), True, day(11)),
            domain.Issue("i3", "TH-41", "", day(2), True, day(6)),
            domain.Issue("i4", "TH-41", "", day(2), False, None),
        ]
    )
    p = domain.problems(domain.Indexed(facts), domain.Scope(), domain.Period())
    assert (p.reported, p.open, p.escalated, p.resolved) == (4, 1, 2, 3)
    assert p.median_days_to_resolve == 4.0


def test_a_report_revision_wins_whatever_order_it_arrives_in(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.create_tables(store.TABLES)

    def put(session: Session, revision: int, baht: int) -> None:
        store.put_report(
            session, 1, member_id="m", month=202603, report_id="r", province="TH-41",
            cluster="food", revision=revision, revenue_satang=baht * 100, sales_channels=[1],
        )  # fmt: skip

    try:
        for order in ([(1, 90_000), (2, 120_000)], [(2, 120_000), (1, 90_000)]):
            with db.write_sessions() as session, session.begin():
                for revision, baht in order:
                    put(session, revision, baht)
            with db.write_sessions() as session, session.begin():
                row = session.get(store.MonthlyReportFact, (1, "m", 202603))
                assert row is not None and (row.revision, row.revenue_satang) == (2, 12_000_000)
                session.delete(row)
    finally:
        db.close()


def test_every_analytics_rpc_has_a_rule_and_only_central_rebuilds(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        table = policy.access_policy(db)
    finally:
        db.close()
    service = analytics_service_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]
    assert set(table) == {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert table[f"/{service.full_name}/StartRebuild"].roles == frozenset({Role.CENTRAL})
    members_may = {
        m.name
        for m in service.methods
        if Role.MEMBER in table[f"/{service.full_name}/{m.name}"].roles
    }
    assert members_may == {"GetMemberHistory"}
