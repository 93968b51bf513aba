"""Analytics on the real broker: indicators from real events, duplicates, rebuild, access.

Members come from the real membership service; training, matching and feedback events
are published through a real outbox and relay (EventPublisher), so every figure below
follows from what this test did, and the expected numbers are worked out from it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.analytics.v1 import analytics_service_pb2 as an
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2 as fe
from bizclub.feedback.v1 import feedback_pb2 as fp
from bizclub.matching.v1 import events_pb2 as xe
from bizclub.membership.v1 import membership_pb2
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub.training.v1 import events_pb2 as te
from bizclub_shared.auth import Caller, Role
from bizclub_shared.topics import FEEDBACK, MATCHING, TRAINING

from tests.conftest import EXTERNAL_KAFKA, Broker, MembershipFactory, RunningMembership
from tests.integration.analytics_support import (
    EventPublisher,
    RunningAnalytics,
    at,
    handled_records,
    redeliver_everything,
    running_analytics,
)
from tests.integration.probes import eventually
from tests.support import CENTRAL, officer_of, registration, udon_thani_network

# Every figure counts everything on the topics: a shared Kafka holds other tests' events.
pytestmark = pytest.mark.skipif(bool(EXTERNAL_KAFKA), reason="needs topics of its own (Tansu)")

UDON, KHON_KAEN = "TH-41", "TH-40"
THB = 100  # satang
CH = common_pb2


def money(baht: int) -> common_pb2.Money:
    return common_pb2.Money(satang=baht * THB, currency_code="THB")


def when(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok


@dataclass
class Members:
    a: str  # textiles, community enterprise, 80,000 THB baseline, active
    b: str  # food, SME, 100,000 THB, approved then suspended
    c: str  # textiles, OTOP, 50,000 THB, applied only
    d: str  # Khon Kaen, 70,000 THB, active


@dataclass
class World:
    membership: RunningMembership
    analytics: RunningAnalytics
    members: Members
    events_published: int


async def register(membership: RunningMembership, **fields: object) -> str:
    reply = await membership.stub.RegisterMember(registration(**fields))
    return str(reply.member.member_id)


async def make_members(membership: RunningMembership) -> Members:
    stub = membership.stub
    await stub.CreateNetwork(udon_thani_network())
    await stub.CreateNetwork(
        ms.CreateNetworkRequest(
            province_code=KHON_KAEN,
            name_th="เครือข่ายขอนแก่น",
            clusters=[membership_pb2.Cluster(cluster_code="textiles", name_th="ผ้า")],
        )
    )
    types = membership_pb2
    a = await register(membership, cluster_code="textiles", baseline_monthly_revenue=money(80_000),
                       enterprise_type=types.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE)  # fmt: skip
    b = await register(membership, cluster_code="food", baseline_monthly_revenue=money(100_000),
                       enterprise_type=types.ENTERPRISE_TYPE_SME)  # fmt: skip
    c = await register(membership, cluster_code="textiles", baseline_monthly_revenue=money(50_000),
                       enterprise_type=types.ENTERPRISE_TYPE_OTOP)  # fmt: skip
    d = await register(membership, province_code=KHON_KAEN, baseline_monthly_revenue=money(70_000))
    for member in (a, b, d):
        await stub.ApproveMember(ms.ApproveMemberRequest(member_id=member, resolution="มติ 1/2569"))
    await stub.SuspendMember(ms.SuspendMemberRequest(member_id=b, reason="ค้างชำระ"))
    return Members(a, b, c, d)


def report(
    member: str,
    province: str,
    cluster: str,
    month: int,
    baht: int,
    *channels: CH.SalesChannel.ValueType,
) -> fe.MonthlyReportSubmitted:
    return fe.MonthlyReportSubmitted(
        report_id=f"r-{member[:8]}-{month}",
        member_id=member,
        province_code=province,
        cluster_code=cluster,
        month=fp.ReportMonth(year=2026, month=month),
        figures=fp.MonthlyFigures(revenue=money(baht), sales_channels=list(channels)),
        occurred_at=at(when(month + 1, 2)),
    )


async def publish_activity(publisher: EventPublisher, m: Members) -> int:
    """Training, matching and feedback events about the members; returns how many."""
    s1, s2 = "session-1", "session-2"
    training: list[Any] = [
        te.SessionScheduled(session_id=s1, province_code=UDON, target_cluster_codes=["textiles"],
                            start_time=at(when(10, 15)), capacity=10, hours=6,
                            completion_hours=6),
        te.SessionScheduled(session_id=s2, province_code=UDON, start_time=at(when(10, 20)),
                            capacity=5, hours=3),
        te.SessionCancelled(session_id=s2, province_code=UDON, reason="วิทยากรติดภารกิจ"),
        te.EnrollmentConfirmed(enrollment_id="e1", session_id=s1, province_code=UDON,
                               member_id=m.a, cluster_code="textiles"),
        te.EnrollmentWaitlisted(enrollment_id="e2", session_id=s1, province_code=UDON,
                                member_id=m.b, cluster_code="food", waitlist_position=1),
        te.EnrollmentConfirmed(enrollment_id="e3", session_id=s1, province_code=UDON,
                               member_id=m.c, cluster_code="textiles"),
        te.EnrollmentCancelled(enrollment_id="e3", session_id=s1, province_code=UDON,
                               member_id=m.c),
        te.WaitlistPromoted(enrollment_id="e2", session_id=s1, province_code=UDON, member_id=m.b),
        te.AttendanceRecorded(enrollment_id="e1", session_id=s1, province_code=UDON,
                              member_id=m.a, hours=3, attended_hours=3),
        te.AttendanceRecorded(enrollment_id="e1", session_id=s1, province_code=UDON,
                              member_id=m.a, hours=3, attended_hours=6),
        te.TrainingCompleted(enrollment_id="e1", session_id=s1, province_code=UDON,
                             member_id=m.a, cluster_code="textiles", hours=6),
    ]  # fmt: skip
    matching: list[Any] = [
        xe.MatchSuggested(need_id="n1", offer_id="o1", member_id=m.a, province_code=UDON,
                          cluster_code="textiles", occurred_at=at(when(10, 3))),
        xe.MatchSuggested(need_id="n2", offer_id="o1", member_id=m.a, province_code=UDON,
                          cluster_code="textiles", occurred_at=at(when(10, 3))),
        xe.MeetingRequested(meeting_id="m1", province_code=UDON, member_id=m.a,
                            member_province_code=UDON, occurred_at=at(when(10, 5))),
        xe.MeetingRequested(meeting_id="m2", province_code=UDON, member_id=m.b,
                            member_province_code=UDON, occurred_at=at(when(10, 5))),
        xe.MeetingHeld(meeting_id="m1", province_code=UDON, member_id=m.a,
                       member_province_code=UDON, cluster_code="textiles",
                       occurred_at=at(when(10, 12))),
        xe.DealSigned(deal_id="d1", member_id=m.a, province_code=UDON, cluster_code="textiles",
                      meeting_id="m1", order_value=money(15_000), occurred_at=at(when(10, 12))),
        # The same deal delivered again under a new event id must not count twice either.
        xe.DealSigned(deal_id="d1", member_id=m.a, province_code=UDON, cluster_code="textiles",
                      meeting_id="m1", order_value=money(15_000), occurred_at=at(when(10, 12))),
    ]  # fmt: skip
    feedback: list[Any] = [
        report(m.a, UDON, "textiles", 9, 150_000, CH.SALES_CHANNEL_LOCAL_MARKET,
               CH.SALES_CHANNEL_ONLINE_MARKETPLACE),
        report(m.a, UDON, "textiles", 10, 280_000, CH.SALES_CHANNEL_LOCAL_MARKET,
               CH.SALES_CHANNEL_ONLINE_MARKETPLACE, CH.SALES_CHANNEL_DEPARTMENT_STORE),
        report(m.b, UDON, "food", 10, 90_000, CH.SALES_CHANNEL_LOCAL_MARKET),
        fe.MonthlyReportRevised(
            report_id=f"r-{m.b[:8]}-10", member_id=m.b, province_code=UDON, cluster_code="food",
            month=fp.ReportMonth(year=2026, month=10), revision=2,
            current=fp.MonthlyFigures(revenue=money(120_000), sales_channels=[
                CH.SALES_CHANNEL_LOCAL_MARKET, CH.SALES_CHANNEL_EXPORT]),
            occurred_at=at(when(11, 5)),
        ),
        report(m.d, KHON_KAEN, "textiles", 10, 70_000, CH.SALES_CHANNEL_LOCAL_MARKET),
        fe.IssueReported(issue_id="i1", province_code=UDON, member_id=m.a,
                         occurred_at=at(when(10, 1))),
        fe.IssueEscalated(issue_id="i1", province_code=UDON, occurred_at=at(when(10, 2))),
        fe.IssueResolved(issue_id="i1", province_code=UDON, reported_at=at(when(10, 1)),
                         occurred_at=at(when(10, 5))),
        fe.IssueReported(issue_id="i2", province_code=UDON, member_id=m.b,
                         occurred_at=at(when(10, 2))),
        fe.SurveyAnswered(survey_id="s1", province_code=UDON, member_id=m.a, average_rating=4.5,
                          occurred_at=at(when(10, 25))),
        fe.SurveyAnswered(survey_id="s1", province_code=UDON, member_id=m.b, average_rating=3.5,
                          occurred_at=at(when(10, 26))),
    ]  # fmt: skip
    await publisher.publish(*[(TRAINING, e.session_id, e, UDON) for e in training])
    await publisher.publish(*[(MATCHING, e.member_id, e, UDON) for e in matching])
    await publisher.publish(*[(FEEDBACK, "k", e, e.province_code) for e in feedback])
    return len(training) + len(matching) + len(feedback)


@pytest.fixture
async def world(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[World]:
    membership = await start_membership()
    async with running_analytics(tmp_path, broker) as analytics:
        members = await make_members(membership)
        async with EventPublisher(tmp_path / "publisher.db", broker.bootstrap_servers) as pub:
            published = await publish_activity(pub, members)
        await membership.app.runtime.relay.publish_pending()
        expected = await handled_records(broker.bootstrap_servers)
        assert expected > published
        await eventually(
            lambda: _true(analytics.applied >= expected),
            within=60,
            what=f"analytics applied the {expected} events",
        )
        yield World(membership, analytics, members, expected)


async def _true(value: bool) -> bool:
    return value


def statuses(ind: an.Indicators) -> dict[int, int]:
    return {s.status: s.members for s in ind.members.by_status}


async def test_indicators_follow_the_events_twice_delivered_or_rebuilt(world: World) -> None:
    analytics = world.analytics
    udon = await analytics.indicators(UDON)

    ms_ = membership_pb2
    assert udon.members.total == 3
    assert statuses(udon) == {
        ms_.MEMBER_STATUS_APPLIED: 1,
        ms_.MEMBER_STATUS_ACTIVE: 1,
        ms_.MEMBER_STATUS_SUSPENDED: 1,
    }
    assert {t.enterprise_type: t.members for t in udon.members.active_by_type} == {
        ms_.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE: 1
    }

    # Session 2 was cancelled; e3 was cancelled; e2 was promoted from the waitlist.
    t = udon.training
    assert (t.sessions, t.seats, t.enrolled, t.waitlisted) == (1, 10, 2, 0)
    assert (t.attended, t.attended_hours, t.completed) == (1, 6.0, 1)
    assert t.completion_percent == 50.0

    f = udon.funnel
    assert (f.suggested, f.requested, f.held, f.deals) == (2, 2, 1, 1)
    assert f.deal_value.satang == 15_000 * THB

    # A's latest month 280,000 against 80,000; B's revised 120,000 against 100,000.
    r = udon.revenue
    assert (r.reports, r.members_reporting) == (3, 2)
    assert r.revenue_total.satang == (150_000 + 280_000 + 120_000) * THB
    assert r.average_baseline.satang == (80_000 + 100_000) // 2 * THB
    assert r.average_latest_revenue.satang == (280_000 + 120_000) // 2 * THB
    assert (r.members_grew, r.grew_percent) == (2, 100.0)
    assert {c.channel: c.members for c in udon.sales_channels} == {
        CH.SALES_CHANNEL_LOCAL_MARKET: 2,
        CH.SALES_CHANNEL_ONLINE_MARKETPLACE: 1,
        CH.SALES_CHANNEL_DEPARTMENT_STORE: 1,
        CH.SALES_CHANNEL_EXPORT: 1,
    }

    p = udon.problems
    assert (p.reported, p.open, p.escalated, p.resolved) == (2, 1, 1, 1)
    assert p.median_days_to_resolve == 4.0
    assert (udon.satisfaction.responses, udon.satisfaction.average_rating) == (2, 4.0)

    # The textiles cluster: A and C's figures only, sessions open to textiles.
    textiles = await analytics.indicators(UDON, "textiles")
    assert textiles.members.total == 2
    assert (textiles.training.sessions, textiles.training.enrolled) == (1, 1)
    assert (textiles.funnel.requested, textiles.funnel.held) == (1, 1)
    assert textiles.revenue.members_reporting == 1
    assert textiles.problems.reported == 1

    # Nationwide: both provinces.
    nation = await analytics.indicators()
    assert nation.members.total == 4
    assert nation.revenue.members_reporting == 3

    # The same events delivered again change no figure.
    before_dupes = analytics.duplicates
    sent = await redeliver_everything(world.membership.app.settings.kafka_bootstrap_servers)
    assert sent >= world.events_published
    await eventually(
        lambda: _true(analytics.duplicates >= before_dupes + sent),
        within=60,
        what="every redelivered event seen as a duplicate",
    )
    assert await analytics.indicators(UDON) == udon
    assert await analytics.indicators() == nation

    # A rebuild from the start of the topics (now holding every event twice) gives the same.
    status = await analytics.rebuild()
    assert status.state == an.REBUILD_STATE_COMPLETED, status.error
    assert status.active_generation == status.generation
    assert status.records_read >= status.records_total >= 2 * world.events_published
    reply = await analytics.stub.GetIndicators(
        an.GetIndicatorsRequest(scope=an.Scope(province_code=UDON))
    )
    assert reply.generation == status.generation
    assert reply.indicators == udon
    assert await analytics.indicators() == nation
    # The old generation's rows are gone.
    gens = analytics.query("SELECT DISTINCT generation FROM analytics_member")
    assert gens == [(status.generation,)]


async def test_trend_funnel_comparison_history_and_csv(world: World) -> None:
    stub, m = world.analytics.stub, world.members
    oct_ = an.Period(
        start_month=an.Month(year=2569, month=10), end_month=an.Month(year=2569, month=10)
    )

    trend = await stub.GetRevenueTrend(
        an.GetRevenueTrendRequest(scope=an.Scope(province_code=UDON))
    )
    assert [(x.month.year, x.month.month) for x in trend.months] == [(2026, 9), (2026, 10)]
    october = trend.months[1]
    assert october.members_reporting == 2
    assert october.average_revenue.satang == (280_000 + 120_000) // 2 * THB
    assert october.average_baseline.satang == 90_000 * THB
    assert october.members_above_baseline == 2

    funnel = await stub.GetMatchingFunnel(
        an.GetMatchingFunnelRequest(scope=an.Scope(province_code=UDON), period=oct_)
    )
    assert (funnel.total.suggested, funnel.total.deals) == (2, 1)
    assert [(x.month.month, x.funnel.held) for x in funnel.months] == [(10, 1)]

    compare = await stub.CompareProvinces(an.CompareProvincesRequest(period=oct_))
    by_code = {p.province.province_code: p for p in compare.provinces}
    assert set(by_code) == {UDON, KHON_KAEN}
    assert by_code[UDON].province.name_th == udon_thani_network().name_th
    assert by_code[KHON_KAEN].indicators.revenue.revenue_total.satang == 70_000 * THB
    assert compare.nationwide.revenue.reports == 3  # September is outside the period

    history = await stub.GetMemberHistory(an.GetMemberHistoryRequest(member_id=m.a))
    assert history.member.baseline_monthly_revenue.satang == 80_000 * THB
    assert history.member.latest_revenue.satang == 280_000 * THB and history.member.grew
    assert [(x.month.month, x.revenue.satang) for x in history.months] == [
        (9, 150_000 * THB),
        (10, 280_000 * THB),
    ]
    assert (history.trainings_completed, history.training_hours) == (1, 6.0)
    assert (history.meetings_held, history.deals) == (1, 1)
    assert history.deal_value.satang == 15_000 * THB
    assert history.problems_reported == 1
    types = [e.event_type.rsplit(".", 1)[-1] for e in history.entries]
    assert {"MemberRegistered", "TrainingCompleted", "DealSigned"} <= set(types)
    times = [e.occurred_at.ToDatetime() for e in history.entries]
    assert times == sorted(times)

    members = await stub.ListMemberRevenue(
        an.ListMemberRevenueRequest(
            scope=an.Scope(province_code=UDON), page=common_pb2.PageRequest(page_size=2)
        )
    )
    more = await stub.ListMemberRevenue(
        an.ListMemberRevenueRequest(
            scope=an.Scope(province_code=UDON),
            page=common_pb2.PageRequest(page_size=2, page_token=members.page.next_page_token),
        )
    )
    listed = [x.member_id for x in [*members.members, *more.members]]
    assert sorted(listed) == sorted([m.a, m.b, m.c]) and not more.page.next_page_token

    export = await stub.ExportIndicatorsCsv(
        an.ExportIndicatorsCsvRequest(scope=an.Scope(province_code=UDON), by_month=True)
    )
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert export.rows == len(rows)
    october_row = next(r for r in rows if r["month"] == "2026-10")
    assert october_row["province_code"] == UDON
    assert october_row["revenue_total_thb"] == "400000.00"
    assert october_row["deals"] == "1" and october_row["problems_open"] == "1"
    assert export.filename == "bizclub-indicators-TH-41.csv"


async def test_each_caller_sees_only_their_scope(world: World) -> None:
    analytics, m = world.analytics, world.members
    khon_kaen = analytics.as_caller(officer_of(KHON_KAEN))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await khon_kaen.GetIndicators(an.GetIndicatorsRequest(scope=an.Scope(province_code=UDON)))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Their nationwide is their province only.
    theirs = (await khon_kaen.GetIndicators(an.GetIndicatorsRequest())).indicators
    assert theirs.members.total == 1 and theirs.revenue.members_reporting == 1
    compare = await khon_kaen.CompareProvinces(an.CompareProvincesRequest())
    assert [p.province.province_code for p in compare.provinces] == [KHON_KAEN]

    # A cluster lead's province figures are their cluster's.
    lead = analytics.as_caller(Caller("test:lead", Role.CLUSTER_LEAD, frozenset({UDON}), "food"))
    food = (
        await lead.GetIndicators(an.GetIndicatorsRequest(scope=an.Scope(province_code=UDON)))
    ).indicators
    assert food.members.total == 1 and food.revenue.revenue_total.satang == 120_000 * THB
    with pytest.raises(grpc.aio.AioRpcError) as other_cluster:
        await lead.GetIndicators(
            an.GetIndicatorsRequest(scope=an.Scope(province_code=UDON, cluster_code="textiles"))
        )
    assert other_cluster.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # A member reads their own history only, and no aggregate.
    member = analytics.as_caller(Caller("test:a", Role.MEMBER, frozenset({UDON}), member_id=m.a))
    assert (
        await member.GetMemberHistory(an.GetMemberHistoryRequest(member_id=m.a))
    ).member.member_id == m.a
    for call in (
        member.GetMemberHistory(an.GetMemberHistoryRequest(member_id=m.b)),
        member.GetIndicators(an.GetIndicatorsRequest(scope=an.Scope(province_code=UDON))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # Only central rebuilds.
    with pytest.raises(grpc.aio.AioRpcError) as not_central:
        await analytics.stub.StartRebuild(an.StartRebuildRequest())
    assert not_central.value.code() == grpc.StatusCode.PERMISSION_DENIED
    status = await analytics.as_caller(CENTRAL).GetRebuildStatus(an.GetRebuildStatusRequest())
    assert (
        status.status.state == an.REBUILD_STATE_UNSPECIFIED and status.status.active_generation == 1
    )


async def test_bad_input_names_the_field(world: World) -> None:
    stub = world.analytics.as_caller(CENTRAL)
    cases = [
        (an.Scope(province_code="TH-99"), an.Period(), "scope.province_code"),
        (an.Scope(cluster_code="food"), an.Period(), "scope.cluster_code"),
        (an.Scope(), an.Period(start_month=an.Month(year=2569, month=13)), "period.start_month"),
        (
            an.Scope(),
            an.Period(
                start_month=an.Month(year=2026, month=10), end_month=an.Month(year=2026, month=9)
            ),
            "period.end_month",
        ),
    ]
    for scope, period, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetIndicators(an.GetIndicatorsRequest(scope=scope, period=period))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in (bad.value.details() or ""), field
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetMemberHistory(an.GetMemberHistoryRequest(member_id="no-such-member"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_events_arriving_during_a_rebuild_reach_the_rebuilt_figures(
    world: World, tmp_path: Path, broker: Broker
) -> None:
    analytics, m = world.analytics, world.members
    central = analytics.as_caller(CENTRAL)
    before = await analytics.indicators(UDON)
    started = (await central.StartRebuild(an.StartRebuildRequest())).status
    assert started.generation == 2
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await central.StartRebuild(an.StartRebuildRequest())
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # C reports while the rebuild runs: the live consumer puts it in both generations.
    async with EventPublisher(tmp_path / "during.db", broker.bootstrap_servers) as publisher:
        await publisher.publish((FEEDBACK, m.c, report(m.c, UDON, "textiles", 10, 60_000), UDON))

    async def rebuilt_with_c() -> an.Indicators | None:
        status = (await central.GetRebuildStatus(an.GetRebuildStatusRequest())).status
        if status.state != an.REBUILD_STATE_COMPLETED:
            return None
        now = await analytics.indicators(UDON)
        return now if now.revenue.reports == before.revenue.reports + 1 else None

    after: an.Indicators = await eventually(rebuilt_with_c, within=60, what="rebuilt with C")
    assert after.revenue.members_reporting == before.revenue.members_reporting + 1
    assert after.revenue.revenue_total.satang == before.revenue.revenue_total.satang + 60_000 * THB
    status = (await central.GetRebuildStatus(an.GetRebuildStatusRequest())).status
    assert status.active_generation == started.generation
    assert status.records_read >= status.records_total > 0
