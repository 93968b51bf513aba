"""Feedback's rules without I/O: answers, tallies, who sees which problem report, the
handling steps and the overdue flag, report months and figures, revisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2, feedback_pb2, feedback_service_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations, InvalidArgument, NotFound
from feedback import domain

fp = feedback_pb2
fs = feedback_service_pb2
NOW = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
QUESTIONS = (
    domain.Question("overall", domain.RATING, "ความพึงพอใจโดยรวม", True),
    domain.Question("channel", domain.CHOICE, "ช่องทาง", False, ("ออนไลน์", "ห้าง")),
    domain.Question("orders", domain.NUMBER, "คำสั่งซื้อ", False),
    domain.Question("comment", domain.TEXT, "ข้อเสนอแนะ", False),
)


def violations_of(err: InvalidArgument) -> dict[str, str]:
    return dict(err.violations)


def test_answers_are_checked_against_each_question() -> None:
    answers = domain.validate_answers(
        QUESTIONS,
        [
            fp.SurveyAnswerItem(question_id="overall", rating=4),
            fp.SurveyAnswerItem(question_id="channel", choice_index=1),
            fp.SurveyAnswerItem(question_id="orders", number=12.5),
            fp.SurveyAnswerItem(question_id="comment", text_th="  สินค้าขายดี\u200b "),
        ],
    )
    assert answers == {"overall": 4, "channel": 1, "orders": 12.5, "comment": "สินค้าขายดี"}


def test_every_wrong_answer_is_named() -> None:
    with pytest.raises(InvalidArgument) as err:
        domain.validate_answers(
            QUESTIONS,
            [
                fp.SurveyAnswerItem(question_id="overall", rating=7),
                fp.SurveyAnswerItem(question_id="channel", choice_index=2),
                fp.SurveyAnswerItem(question_id="orders", text_th="สิบ"),
                fp.SurveyAnswerItem(question_id="nope", rating=1),
            ],
        )
    found = violations_of(err.value)
    assert found["answers[0].rating"] == "must be 1 to 5, not 7"
    assert "answers[1].choice_index" in found
    assert "answers[2].number" in found
    assert "answers[3].question_id" in found
    assert found["answers"] == "question 'overall' is required"


def test_tally_counts_ratings_choices_numbers_and_texts() -> None:
    overall, channel, orders, comment = domain.tally(
        QUESTIONS,
        [
            {"overall": 5, "channel": 0, "orders": 10.0, "comment": "ดี"},
            {"overall": 3, "orders": 30.0},
            {"overall": 5, "channel": 0},
        ],
    )
    assert list(overall.rating_counts) == [0, 0, 1, 0, 2]
    assert overall.average == pytest.approx(13 / 3)
    assert list(channel.option_counts) == [2, 0] and channel.answered == 2
    assert (orders.number_sum, orders.number_min, orders.number_max) == (40, 10, 30)
    assert orders.average == 20
    assert list(comment.texts_th) == ["ดี"]


def test_a_survey_names_its_audience_consistently() -> None:
    request = fs.CreateSurveyRequest(
        province_code="TH-41",
        audience=fp.SURVEY_AUDIENCE_CLUSTER,
        title_th="สำรวจ",
        questions=[fp.SurveyQuestion(type=fp.QUESTION_TYPE_RATING, text_th="พอใจไหม")],
        closes_on=common_pb2.Date(year=2569, month=3, day=31),  # พ.ศ.
    )
    with pytest.raises(InvalidArgument) as err:
        domain.validate_survey(request, NOW.date())
    assert "cluster_code" in violations_of(err.value)
    request.cluster_code = "food"
    plan = domain.validate_survey(request, NOW.date())
    assert plan.closes_on == date(2026, 3, 31) and plan.opens_on == NOW.date()
    assert plan.questions[0].question_id == "q1"
    request.session_id = "s-1"
    with pytest.raises(InvalidArgument) as err:
        domain.validate_survey(request, NOW.date())
    assert "session_id" in violations_of(err.value)


def test_the_training_survey_is_the_same_for_every_session() -> None:
    plan = domain.training_survey_plan("s-1", "TH-41", "สัมมนาการตลาดออนไลน์", NOW.date())
    assert plan.audience == domain.BY_SESSION and plan.session_id == "s-1"
    assert plan.title_th == "แบบประเมินความพึงพอใจ: สัมมนาการตลาดออนไลน์"
    assert plan.closes_on - plan.opens_on == timedelta(days=domain.TRAINING_SURVEY_DAYS)
    assert [q.question_id for q in plan.questions if q.required] == ["overall", "speaker", "apply"]


# --- problem reports --------------------------------------------------------------------

CENTRAL = domain.Scope(True)
UDON = domain.Scope(False, "TH-41")
KHON_KAEN = domain.Scope(False, "TH-40")


def issue() -> domain.Issue:
    return domain.Issue.report(
        "TH-41", "m-1", "m-1", fp.ISSUE_CATEGORY_FINANCE, fp.ISSUE_SEVERITY_HIGH, "ขาดทุน", NOW
    )


def test_the_scope_decides_who_sees_a_report() -> None:
    assert UDON.sees("TH-41", domain.PROVINCE_LEVEL) and UDON.sees("TH-41", domain.CENTRAL_LEVEL)
    assert not KHON_KAEN.sees("TH-41", domain.CENTRAL_LEVEL)
    assert CENTRAL.sees("TH-41", domain.CENTRAL_LEVEL)
    assert not CENTRAL.sees("TH-41", domain.PROVINCE_LEVEL)
    assert UDON.acts_on("TH-41", domain.PROVINCE_LEVEL)
    assert not UDON.acts_on("TH-41", domain.CENTRAL_LEVEL)
    assert CENTRAL.acts_on("TH-40", domain.CENTRAL_LEVEL)


@pytest.mark.parametrize(
    ("viewer", "field"),
    [
        (fp.ViewerScope(), "viewer"),
        (fp.ViewerScope(central=True, province_code="TH-41"), "viewer"),
        (fp.ViewerScope(province_code="TH-99"), "viewer.province_code"),
    ],
)
def test_a_viewer_is_central_or_one_province(viewer: fp.ViewerScope, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        domain.Scope.from_proto(viewer)
    assert field in violations_of(err.value)


def test_handling_moves_forward_with_who_and_when() -> None:
    report = issue()
    report.move(domain.ACKNOWLEDGED, UDON, "officer-1", "", NOW + timedelta(hours=1))
    report.move(domain.IN_PROGRESS, UDON, "officer-1", "", NOW + timedelta(hours=2))
    with pytest.raises(FailedPrecondition, match="cannot become acknowledged"):
        report.move(domain.ACKNOWLEDGED, UDON, "officer-1", "", NOW)
    report.move(domain.RESOLVED, UDON, "officer-2", "แก้แล้ว", NOW + timedelta(days=1))
    assert [(s.status, s.actor_id) for s in report.history] == [
        (domain.OPEN, "m-1"),
        (domain.ACKNOWLEDGED, "officer-1"),
        (domain.IN_PROGRESS, "officer-1"),
        (domain.RESOLVED, "officer-2"),
    ]
    assert [type(e).__name__ for e in report.events] == [
        "IssueReported",
        "IssueAcknowledged",
        "IssueResolved",
    ]
    with pytest.raises(FailedPrecondition):
        report.move(domain.ESCALATED, UDON, "officer-1", "", NOW)


def test_overdue_after_seven_days_without_acknowledgement_and_escalation_goes_central() -> None:
    report = issue()
    assert not report.overdue(NOW + timedelta(days=7))
    late = NOW + timedelta(days=7, seconds=1)
    assert report.overdue(late)
    with pytest.raises(NotFound):
        report.move(domain.ESCALATED, KHON_KAEN, "officer-9", "", late)
    with pytest.raises(NotFound):  # the centre's queue holds escalated reports only
        report.move(domain.ACKNOWLEDGED, CENTRAL, "central-1", "", late)
    report.move(domain.ESCALATED, UDON, "officer-1", "เกินอำนาจ", late)
    assert report.level == domain.CENTRAL_LEVEL and report.overdue(late)
    [escalated] = [e for e in report.events if isinstance(e, events_pb2.IssueEscalated)]
    assert escalated.overdue
    with pytest.raises(FailedPrecondition, match="central ministry handles it"):
        report.move(domain.RESOLVED, UDON, "officer-1", "x", late)
    report.move(domain.IN_PROGRESS, CENTRAL, "central-1", "", late)
    assert report.acknowledged_at == late and not report.overdue(late + timedelta(days=30))
    with pytest.raises(FailedPrecondition, match="already with the central ministry"):
        report.move(domain.ESCALATED, CENTRAL, "central-1", "", late)


# --- monthly reports --------------------------------------------------------------------


def test_a_report_month_is_this_month_or_earlier_in_either_era() -> None:
    v = FieldViolations()
    assert domain.check_month(v, "month", fp.ReportMonth(year=2569, month=3), NOW.date()) == 202603
    assert domain.check_month(v, "month", fp.ReportMonth(year=2026, month=2), NOW.date()) == 202602
    assert not v
    domain.check_month(v, "month", fp.ReportMonth(year=2026, month=4), NOW.date())
    domain.check_month(v, "earlier", fp.ReportMonth(year=2026, month=13), NOW.date())
    assert [f for f, _ in v.violations] == ["month", "earlier"]


def test_figures_refuse_negative_revenue_and_unknown_channels() -> None:
    v = FieldViolations()
    request = fs.SubmitMonthlyReportRequest(
        member_id="m-1",
        month=fp.ReportMonth(year=2026, month=3),
        figures=fp.MonthlyFigures(
            revenue=common_pb2.Money(satang=-1),
            sales_channels=[common_pb2.SALES_CHANNEL_EXPORT, 42],  # type: ignore[list-item]
            employees=-2,
        ),
    )
    domain.validate_figures(v, request, NOW.date())
    assert [f for f, _ in v.violations] == [
        "figures.revenue.satang",
        "figures.sales_channels[1]",
        "figures.employees",
    ]


def test_a_revision_carries_both_figures_and_must_change_something() -> None:
    member = domain.MemberRef("m-1", "TH-41", "food", domain.ACTIVE)
    before = domain.Figures(8_000_000, (common_pb2.SALES_CHANNEL_LOCAL_MARKET,), 4)
    after = domain.Figures(9_000_000, (common_pb2.SALES_CHANNEL_LOCAL_MARKET,), 4)
    event = domain.revise("r-1", member, 202602, 2, before, after, NOW)
    assert (event.previous.revenue.satang, event.current.revenue.satang) == (8_000_000, 9_000_000)
    assert event.month == fp.ReportMonth(year=2026, month=2)
    with pytest.raises(FailedPrecondition):
        domain.revise("r-1", member, 202602, 3, after, after, NOW)


def test_only_members_in_standing_report() -> None:
    with pytest.raises(FailedPrecondition, match="not a member"):
        domain.require_member(None, "x")
    with pytest.raises(FailedPrecondition, match="has left"):
        domain.require_member(domain.MemberRef("m", "TH-41", "food", "left"), "m")
    with pytest.raises(FailedPrecondition, match="not approved"):
        domain.require_member(domain.MemberRef("m", "TH-41", "food", "applied"), "m")


def test_announcements_reach_their_provinces_and_clusters() -> None:
    cook = domain.MemberRef("m", "TH-41", "food", domain.ACTIVE)
    assert domain.addressed_by_announcement([], [], cook)
    assert domain.addressed_by_announcement(["TH-41"], ["food"], cook)
    assert not domain.addressed_by_announcement(["TH-40"], [], cook)
    assert not domain.addressed_by_announcement(["TH-41"], ["textiles"], cook)
    with pytest.raises(InvalidArgument):
        domain.validate_announcement(
            fs.PublishAnnouncementRequest(from_province_code="TH-41", title_th="ข่าว", body_th="x")
        )
