"""After the demo seed, analytics' indicators equal a direct count over the seeded data.

Membership, training, matching and feedback run for real with their Udon Thani demo
seeds, analytics beside them reading their topics. The expected figures are counted
straight from each service's own SQLite file (sqlite3, not through any API), then the
projections are rebuilt from the topics and must give the same numbers again.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bizclub.analytics.v1 import analytics_service_pb2 as an
from bizclub.feedback.v1 import feedback_pb2
from bizclub.matching.v1 import matching_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub.training.v1 import training_pb2

from tests.conftest import EXTERNAL_KAFKA, Broker, MembershipFactory
from tests.integration.analytics_support import handled_records, running_analytics
from tests.integration.feedback_support import running_feedback
from tests.integration.matching_support import running_matching
from tests.integration.probes import eventually
from tests.integration.training_support import training_factory
from tests.support import CENTRAL

pytestmark = [
    pytest.mark.slow,  # seeds four services: about a minute
    # Every figure counts everything on the topics: a shared Kafka holds other tests' events.
    pytest.mark.skipif(bool(EXTERNAL_KAFKA), reason="needs topics of its own (Tansu)"),
]

SEED = {"seed_demo_data": True, "seed_wait_seconds": 90.0}


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def direct_count(tmp_path: Path) -> dict[str, Any]:
    """The nationwide figures, counted from the services' databases."""
    membership, training = tmp_path / "membership.db", tmp_path / "training.db"
    matching, feedback = tmp_path / "matching.db", tmp_path / "feedback.db"
    got: dict[str, Any] = {}

    members = rows(
        membership, "SELECT member_id, status, enterprise_type, baseline_revenue_satang FROM member"
    )
    baseline = {m: b for m, _, _, b in members}
    got["members.total"] = len(members)
    got["members.by_status"] = dict(Counter(s for _, s, _, _ in members))
    got["members.active_by_type"] = dict(
        Counter(t for _, s, t, _ in members if s == membership_pb2.MEMBER_STATUS_ACTIVE)
    )

    tp = training_pb2
    sessions = rows(
        training,
        f"SELECT capacity FROM training_session WHERE status != {tp.SESSION_STATUS_CANCELLED}",
    )
    enrolments = rows(training, "SELECT status, attended_minutes FROM enrollment")
    holding = (tp.ENROLLMENT_STATUS_CONFIRMED, tp.ENROLLMENT_STATUS_COMPLETED)
    attended = [m for s, m in enrolments if m > 0 and s != tp.ENROLLMENT_STATUS_CANCELLED]
    got["training"] = (
        len(sessions),
        sum(c for (c,) in sessions),
        sum(1 for s, _ in enrolments if s in holding),
        sum(1 for s, _ in enrolments if s == tp.ENROLLMENT_STATUS_WAITLISTED),
        len(attended),
        round(sum(attended) / 60, 2),
        sum(1 for s, _ in enrolments if s == tp.ENROLLMENT_STATUS_COMPLETED),
    )

    deals = rows(matching, "SELECT order_value_satang FROM deal")
    got["funnel"] = (
        rows(matching, "SELECT count(*) FROM suggestion")[0][0],
        rows(matching, "SELECT count(*) FROM matching_meeting")[0][0],
        rows(
            matching,
            f"SELECT count(*) FROM matching_meeting WHERE status = {matching_pb2.MEETING_STATUS_HELD}",
        )[0][0],
        len(deals),
        sum(v for (v,) in deals),
        rows(matching, "SELECT coalesce(sum(sales_satang), 0) FROM fair_sale")[0][0],
    )

    reports = rows(
        feedback,
        "SELECT member_id, month, revenue_satang, sales_channels FROM feedback_monthly_report",
    )
    latest: dict[str, tuple[int, int, list[int]]] = {}
    for member, month, revenue, channels in reports:
        if member not in latest or month > latest[member][0]:
            latest[member] = (month, revenue, json.loads(channels))
    got["revenue"] = (
        len(reports),
        len(latest),
        sum(r for _, _, r, _ in reports),
        sum(1 for m, (_, r, _) in latest.items() if r > baseline[m]),
    )
    got["channels"] = dict(Counter(c for _, _, chans in latest.values() for c in set(chans)))

    issues = rows(feedback, "SELECT reported_at, resolved_at, history FROM feedback_issue")
    escalated = feedback_pb2.ISSUE_STATUS_ESCALATED
    days = [
        (moment(resolved) - moment(reported)).total_seconds() / 86400
        for reported, resolved, _ in issues
        if resolved
    ]
    got["problems"] = (
        len(issues),
        sum(1 for _, resolved, _ in issues if not resolved),
        sum(1 for *_, h in issues if any(step["status"] == escalated for step in json.loads(h))),
        len(days),
        round(statistics.median(days), 2) if days else 0.0,
    )

    questions = {
        s: [
            q["question_id"]
            for q in json.loads(qs)
            if q["type"] == feedback_pb2.QUESTION_TYPE_RATING
        ]
        for s, qs in rows(feedback, "SELECT survey_id, questions FROM feedback_survey")
    }
    averages = []
    for survey, answers in rows(feedback, "SELECT survey_id, answers FROM feedback_survey_answer"):
        given = json.loads(answers)
        ratings = [given[q] for q in questions[survey] if q in given]
        averages.append(sum(ratings) / len(ratings) if ratings else 0.0)
    got["satisfaction"] = (len(averages), round(statistics.fmean(averages), 2) if averages else 0.0)
    return got


def figures(ind: an.Indicators) -> dict[str, Any]:
    """The same figures, as analytics answers them."""
    t, f, r, p = ind.training, ind.funnel, ind.revenue, ind.problems
    return {
        "members.total": ind.members.total,
        "members.by_status": {s.status: s.members for s in ind.members.by_status},
        "members.active_by_type": {x.enterprise_type: x.members for x in ind.members.active_by_type},
        "training": (t.sessions, t.seats, t.enrolled, t.waitlisted, t.attended, t.attended_hours, t.completed),
        "funnel": (f.suggested, f.requested, f.held, f.deals, f.deal_value.satang, f.fair_sales.satang),
        "revenue": (r.reports, r.members_reporting, r.revenue_total.satang, r.members_grew),
        "channels": {c.channel: c.members for c in ind.sales_channels},
        "problems": (p.reported, p.open, p.escalated, p.resolved, p.median_days_to_resolve),
        "satisfaction": (ind.satisfaction.responses, ind.satisfaction.average_rating),
    }  # fmt: skip


async def test_indicators_equal_a_direct_count_of_the_seeded_data_and_a_rebuild(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> None:
    async with running_analytics(tmp_path, broker) as analytics:
        membership = await start_membership(**SEED)
        async with (
            training_factory(tmp_path, broker) as make_training,
            running_matching(tmp_path, broker, **SEED) as matching,
            running_feedback(tmp_path, broker, **SEED) as feedback,
        ):
            training = await make_training(membership.address, **SEED)
            for app in (membership.app, training.app, matching.app, feedback.app):
                await app.runtime.relay.publish_pending()

            async def caught_up() -> bool:
                return analytics.applied >= await handled_records(broker.bootstrap_servers)

            await eventually(caught_up, within=120, what="analytics caught up with the seeds")
            expected = direct_count(tmp_path)
            central = analytics.as_caller(CENTRAL)

            async def nationwide() -> an.Indicators:
                reply = await central.GetIndicators(an.GetIndicatorsRequest())
                return reply.indicators

            live = await nationwide()
            assert expected["members.total"] > 0 and expected["revenue"][0] > 0
            assert expected["funnel"][0] > 0 and expected["training"][0] > 0
            assert figures(live) == expected

            # Udon Thani's headline: members' revenue against their baseline.
            udon = (
                await central.GetIndicators(
                    an.GetIndicatorsRequest(scope=an.Scope(province_code="TH-41"))
                )
            ).indicators
            assert udon.revenue.members_grew > 0

            status = await analytics.rebuild(within=120)
            assert status.state == an.REBUILD_STATE_COMPLETED, status.error
            assert status.records_read >= status.records_total > 0
            assert figures(await nationwide()) == expected
