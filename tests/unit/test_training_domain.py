"""Training rules without I/O: times as officers type them, schedule validation, seats and
waitlists, attendance and completion, product-development projects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bizclub.common.v1 import common_pb2
from bizclub.training.v1 import events_pb2, training_pb2, training_service_pb2
from bizclub_shared.errors import FailedPrecondition, InvalidArgument
from training import domain

tp = training_pb2
NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # 1 March 2569, 10:00 in Bangkok


def schedule_request(**overrides: object) -> training_service_pb2.ScheduleSessionRequest:
    request = training_service_pb2.ScheduleSessionRequest(
        province_code="TH-41",
        kind=tp.SESSION_KIND_SEMINAR,
        title_th="สัมมนาการตลาดออนไลน์",
        venue_th="ห้องประชุมสำนักงานพาณิชย์จังหวัดอุดรธานี",
        local_start="15/03/2569 09:00",
        local_end="15/03/2569 16:00",
        capacity=30,
        hours=6,
        trainers=[tp.Trainer(name_th="วิทยากรรับเชิญ", role=tp.TRAINER_ROLE_SPEAKER)],
    )
    for name, value in overrides.items():
        if isinstance(value, list):
            request.ClearField(name)  # type: ignore[arg-type]
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return request


def violations(request: training_service_pb2.ScheduleSessionRequest) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_schedule(request, NOW)
    return dict(caught.value.violations)


def session(capacity: int = 2, **overrides: object) -> domain.Session:
    plan = domain.validate_schedule(schedule_request(capacity=capacity, **overrides), NOW)
    return domain.Session.schedule(plan, NOW)


def member(member_id: str = "m-1", **overrides: Any) -> domain.MemberFacts:
    values: dict[str, Any] = {
        "member_id": member_id,
        "province_code": "TH-41",
        "cluster_code": "textiles",
        "business_name_th": "กลุ่มทอผ้าไหมบ้านเชียง",
        "active": True,
        "status_name": "active",
    }
    values.update(overrides)
    return domain.MemberFacts(**values)


# --- time as officers type it -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "15/03/2569 09:00",
        "15/3/2026 09:00",
        "2569-03-15 09:00",
        "2569-03-15T09:00",
        "15 มีนาคม 2569 09.00 น.",
        "15 มี.ค. 69 9:00",
    ],
)
def test_a_bangkok_time_with_a_buddhist_era_year_is_read_as_utc(text: str) -> None:
    assert domain.parse_local_datetime(text) == datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["15/03/2569", "tomorrow 9am", "15/03/2569 25:00", "31/02/2569 09:00"]
)
def test_a_time_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        domain.parse_local_datetime(text)


def test_times_are_shown_in_bangkok_with_the_buddhist_era_year() -> None:
    moment = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
    assert domain.format_local(moment) == "15/03/2569 09:00"
    assert domain.thai_long_date(moment) == "15 มีนาคม 2569"
    # 23:30 UTC is already the next day in Bangkok.
    assert domain.format_local(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "01/01/2570 06:30"


# --- scheduling -----------------------------------------------------------------------


def test_a_valid_request_becomes_a_session_and_its_event() -> None:
    s = session(capacity=30, target_cluster_codes=["food", "agriculture"])
    assert s.start_at == datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
    assert (s.minutes, s.completion_minutes) == (360, 360)
    [event] = s.events
    assert isinstance(event, events_pb2.SessionScheduled)
    assert event.capacity == 30 and event.hours == 6
    assert list(event.target_cluster_codes) == ["food", "agriculture"]
    assert s.is_open_to("food") and not s.is_open_to("textiles")
    assert session().is_open_to("textiles")  # no target: every cluster


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"capacity": 0}, "capacity", "at least 1"),
        ({"capacity": -5}, "capacity", "at least 1"),
        ({"local_end": "15/03/2569 08:00"}, "local_end", "after the start"),
        ({"kind": 99}, "kind", "is required"),
        ({"kind": 0}, "kind", "is required"),
        ({"local_start": "next Tuesday"}, "local_start", "15/03/2569 09:00"),
        ({"local_start": "01/01/2569 09:00"}, "local_start", "in the future"),
        ({"province_code": "TH-99"}, "province_code", "not an ISO 3166-2:TH"),
        ({"title_th": "  "}, "title_th", "required"),
        ({"venue_th": ""}, "venue_th", "online_url"),
        ({"online_url": "meet.example"}, "online_url", "http"),
        ({"hours": 0}, "hours", "required"),
        ({"hours": 8}, "hours", "more than the time between"),
        ({"completion_hours": 7}, "completion_hours", "cannot be more"),
        ({"target_cluster_codes": ["Food!"]}, "target_cluster_codes[0]", "cluster code"),
        ({"target_cluster_codes": ["food", "food"]}, "target_cluster_codes[1]", "twice"),
        (
            {"kind": tp.SESSION_KIND_CONSULTATION, "capacity": 12},
            "capacity",
            "at most 10",
        ),
        (
            {"kind": tp.SESSION_KIND_PRODUCT_DEVELOPMENT},
            "trainers",
            "needs a designer",
        ),
        ({"kind": tp.SESSION_KIND_PEER_MENTORING, "capacity": 3}, "trainers", "exactly one mentor"),
    ],
)
def test_bad_schedule_requests_name_the_field(
    overrides: dict[str, object], field: str, words: str
) -> None:
    found = violations(schedule_request(**overrides))
    assert field in found, found
    assert words in found[field]


def test_every_bad_field_is_reported_at_once() -> None:
    found = violations(schedule_request(capacity=0, kind=0, title_th="", hours=-1))
    assert {"capacity", "kind", "title_th", "hours"} <= set(found)


def test_timestamps_and_local_text_are_not_both_given() -> None:
    request = schedule_request()
    request.start_time.FromDatetime(datetime(2026, 3, 15, 2, 0, tzinfo=UTC))
    assert "not both" in violations(request)["local_start"]


def test_a_mentor_needs_a_member_id_and_leads_mentoring_only() -> None:
    mentor = tp.Trainer(name_th="พี่เลี้ยง", role=tp.TRAINER_ROLE_MENTOR)
    found = violations(
        schedule_request(kind=tp.SESSION_KIND_PEER_MENTORING, capacity=3, trainers=[mentor])
    )
    assert "trainers[0].member_id" in found
    mentor.member_id = "m-9"
    assert (
        "peer-mentoring sessions only"
        in violations(schedule_request(trainers=[mentor]))["trainers"]
    )
    s = session(kind=tp.SESSION_KIND_PEER_MENTORING, capacity=3, trainers=[mentor])
    assert s.mentor_member_id == "m-9"
    with pytest.raises(FailedPrecondition, match="mentor of this session"):
        domain.Enrollment.enrol(s, member("m-9"), "textiles", 0, 0, NOW)


def test_target_clusters_must_be_the_networks() -> None:
    plan = domain.validate_schedule(schedule_request(target_cluster_codes=["pottery"]), NOW)
    with pytest.raises(InvalidArgument) as caught:
        domain.require_known_clusters(plan, {"textiles", "food"})
    assert caught.value.violations[0][0] == "target_cluster_codes[0]"


# --- seats and the waitlist -------------------------------------------------------------


def test_seats_go_first_then_the_waitlist_in_order() -> None:
    s = session(capacity=2)
    first = domain.Enrollment.enrol(s, member("a"), "textiles", 0, 0, NOW)
    second = domain.Enrollment.enrol(s, member("b"), "textiles", 1, 0, NOW)
    third = domain.Enrollment.enrol(s, member("c"), "textiles", 2, 0, NOW)
    fourth = domain.Enrollment.enrol(s, member("d"), "textiles", 2, 1, NOW)
    assert [e.status for e in (first, second, third, fourth)] == [
        domain.CONFIRMED,
        domain.CONFIRMED,
        domain.WAITLISTED,
        domain.WAITLISTED,
    ]
    assert [third.waitlist_position, fourth.waitlist_position] == [1, 2]
    assert isinstance(first.events[0], events_pb2.EnrollmentConfirmed)
    assert isinstance(fourth.events[0], events_pb2.EnrollmentWaitlisted)
    assert fourth.events[0].waitlist_position == 2


def test_cancelling_a_seat_promotes_the_first_waitlisted_in_the_same_step() -> None:
    s = session(capacity=1)
    seated = domain.Enrollment.enrol(s, member("a"), "textiles", 0, 0, NOW)
    waiting = domain.Enrollment.enrol(s, member("b"), "textiles", 1, 0, NOW)
    promoted = domain.withdraw(seated, domain.BY_MEMBER, waiting, NOW)
    assert promoted is waiting and waiting.status == domain.CONFIRMED
    assert seated.status == domain.CANCELLED
    cancelled, promotion = seated.events[-1], waiting.events[-1]
    assert isinstance(cancelled, events_pb2.EnrollmentCancelled)
    assert cancelled.previous_status == domain.CONFIRMED
    assert isinstance(promotion, events_pb2.WaitlistPromoted)
    assert promotion.waitlist_position == 1


def test_cancelling_a_waitlisted_place_promotes_nobody() -> None:
    s = session(capacity=1)
    waiting = domain.Enrollment.enrol(s, member("b"), "textiles", 1, 0, NOW)
    behind = domain.Enrollment.enrol(s, member("c"), "textiles", 1, 1, NOW)
    assert domain.withdraw(waiting, domain.BY_MEMBER, behind, NOW) is None
    assert behind.status == domain.WAITLISTED
    with pytest.raises(FailedPrecondition, match="cancelled"):
        waiting.cancel(domain.BY_MEMBER, NOW)


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"active": False, "status_name": "suspended"}, "is suspended"),
        ({"province_code": "TH-40"}, "belongs to the TH-40 network"),
    ],
)
def test_only_active_members_of_the_province_may_enrol(facts: dict[str, Any], words: str) -> None:
    with pytest.raises(FailedPrecondition, match=words) as caught:
        domain.Enrollment.enrol(session(), member(**facts), "textiles", 0, 0, NOW)
    assert caught.value.field == "member_id"


def test_a_member_outside_the_target_clusters_may_not_enrol() -> None:
    s = session(target_cluster_codes=["food"])
    with pytest.raises(FailedPrecondition, match="for the food cluster"):
        domain.Enrollment.enrol(s, member(), "textiles", 0, 0, NOW)
    assert domain.Enrollment.enrol(s, member(), "food", 0, 0, NOW).status == domain.CONFIRMED


def test_enrolment_closes_at_the_start_and_for_a_cancelled_session() -> None:
    s = session()
    with pytest.raises(FailedPrecondition, match="enrolment is closed"):
        domain.Enrollment.enrol(s, member(), "textiles", 0, 0, s.start_at)
    s.cancel("ห้องประชุมไม่ว่าง", [], NOW)
    with pytest.raises(FailedPrecondition, match="cancelled"):
        domain.Enrollment.enrol(s, member(), "textiles", 0, 0, NOW)


def test_cancelling_a_session_cancels_every_place_held_in_it() -> None:
    s = session(capacity=1)
    seated = domain.Enrollment.enrol(s, member("a"), "textiles", 0, 0, NOW)
    waiting = domain.Enrollment.enrol(s, member("b"), "textiles", 1, 0, NOW)
    s.cancel("วิทยากรติดภารกิจ", [seated, waiting], NOW)
    assert isinstance(s.events[-1], events_pb2.SessionCancelled)
    assert s.events[-1].cancelled_enrollments == 2
    assert {e.status for e in (seated, waiting)} == {domain.CANCELLED}
    cancelled = seated.events[-1]
    assert isinstance(cancelled, events_pb2.EnrollmentCancelled)
    assert cancelled.reason == domain.BY_SESSION
    with pytest.raises(FailedPrecondition, match="already cancelled"):
        s.cancel("อีกครั้ง", [], NOW)


# --- attendance and completion ---------------------------------------------------------


def test_completion_needs_the_threshold_hours() -> None:
    s = session(local_end="16/03/2569 16:00", hours=12, completion_hours=9)
    e = domain.Enrollment.enrol(s, member(), "textiles", 0, 0, NOW)
    day_one = s.start_at + timedelta(hours=1)
    with pytest.raises(FailedPrecondition, match="check-in opens"):
        e.record_attendance(s, 360, NOW)
    e.record_attendance(s, 360, day_one)
    with pytest.raises(FailedPrecondition, match="3 hours short"):
        e.complete(s, "TH-41-2569-000001", day_one)
    e.record_attendance(s, 180, day_one + timedelta(days=1))
    e.complete(s, "TH-41-2569-000001", day_one + timedelta(days=1))
    assert e.status == domain.COMPLETED and e.certificate_no == "TH-41-2569-000001"
    completed = e.events[-1]
    assert isinstance(completed, events_pb2.TrainingCompleted)
    assert completed.hours == 12


def test_attendance_cannot_exceed_the_sessions_hours() -> None:
    s = session()
    e = domain.Enrollment.enrol(s, member(), "textiles", 0, 0, NOW)
    e.record_attendance(s, 0, s.start_at)  # 0: the full hours
    assert e.attended_minutes == 360
    with pytest.raises(FailedPrecondition, match="at most 0 more"):
        e.record_attendance(s, 30, s.start_at)


def test_a_waitlisted_member_cannot_check_in() -> None:
    s = session(capacity=1)
    waiting = domain.Enrollment.enrol(s, member("b"), "textiles", 1, 0, NOW)
    with pytest.raises(FailedPrecondition, match="waitlisted"):
        waiting.record_attendance(s, 60, s.start_at)


def test_certificate_numbers_carry_the_province_and_the_buddhist_era_year() -> None:
    assert domain.certificate_number("TH-41", NOW, 42) == "TH-41-2569-000042"


# --- product-development projects ---------------------------------------------------


def facts(price: int = 3_500) -> domain.ProductFacts:
    return domain.ProductFacts("แหนมหมู", price, "ถุงพลาสติกใส", ["before.jpg"])


def test_a_project_goes_brief_prototype_final_then_completes() -> None:
    designer = domain.Trainer("นักออกแบบ", "TCDC", tp.TRAINER_ROLE_DESIGNER)
    project = domain.ProductProject.start(
        member(), None, False, designer, "บรรจุภัณฑ์ใหม่", facts(), NOW
    )
    assert isinstance(project.events[0], events_pb2.ProductProjectStarted)
    with pytest.raises(FailedPrecondition, match="next stage is PROJECT_STAGE_PROTOTYPE"):
        project.advance(tp.PROJECT_STAGE_FINAL, "ข้ามขั้น", NOW)
    with pytest.raises(FailedPrecondition, match="from the final stage"):
        project.complete(facts(8_900), tp.PROJECT_OUTCOME_LAUNCHED, "", NOW)
    project.advance(tp.PROJECT_STAGE_PROTOTYPE, "ต้นแบบ", NOW)
    project.advance(tp.PROJECT_STAGE_FINAL, "แบบจริง", NOW)
    project.complete(facts(8_900), tp.PROJECT_OUTCOME_LAUNCHED, "วางขายในห้าง", NOW)
    done = project.events[-1]
    assert isinstance(done, events_pb2.ProductProjectCompleted)
    assert (done.before.unit_price.satang, done.after.unit_price.satang) == (3_500, 8_900)
    assert project.stage == tp.PROJECT_STAGE_COMPLETED


def test_a_project_from_a_session_needs_a_seat_in_it() -> None:
    designer = domain.Trainer("นักออกแบบ", "", tp.TRAINER_ROLE_DESIGNER)
    workshop = session(
        kind=tp.SESSION_KIND_PRODUCT_DEVELOPMENT,
        trainers=[tp.Trainer(name_th="นักออกแบบ", role=tp.TRAINER_ROLE_DESIGNER)],
    )
    with pytest.raises(FailedPrecondition, match="holds no seat"):
        domain.ProductProject.start(member(), workshop, False, designer, "โจทย์", facts(), NOW)
    with pytest.raises(FailedPrecondition, match="not a product-development session"):
        domain.ProductProject.start(member(), session(), True, designer, "โจทย์", facts(), NOW)


def test_product_facts_need_a_name_and_a_price_in_satang() -> None:
    from bizclub_shared.errors import FieldViolations

    v = FieldViolations()
    domain.validate_product_facts(
        v,
        "before",
        tp.ProductFacts(unit_price=common_pb2.Money(satang=0, currency_code="USD")),
    )
    assert {f for f, _ in v.violations} == {
        "before.product_name_th",
        "before.unit_price.currency_code",
        "before.unit_price.satang",
    }


def test_targeting_uses_the_event_fed_cluster_unless_membership_just_said_newer() -> None:
    earlier, later = NOW - timedelta(hours=1), NOW
    live = member(cluster_code="food", updated_at=earlier)
    assert domain.targeting_cluster(live, "textiles", later) == "textiles"
    # The cluster change's event has not arrived yet: membership's answer is newer.
    assert (
        domain.targeting_cluster(member(cluster_code="food", updated_at=later), "textiles", earlier)
        == "food"
    )
    # Training has not heard of the member at all.
    assert domain.targeting_cluster(live, "", None) == "food"
