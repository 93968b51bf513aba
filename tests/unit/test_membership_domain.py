"""Membership rules as plain Python (membership.domain): no database, no broker, no gRPC.

Each change must record exactly the event it causes, with the facts consumers need.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import events_pb2, membership_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations, InvalidArgument
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import to_common_era
from membership import domain

from tests.support import registration

NOW = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
CHAIR = membership_pb2.COMMITTEE_ROLE_CHAIR
VICE_CHAIR = membership_pb2.COMMITTEE_ROLE_VICE_CHAIR
SECRETARY = membership_pb2.COMMITTEE_ROLE_SECRETARY
TREASURER = membership_pb2.COMMITTEE_ROLE_TREASURER
CLUSTER_LEAD = membership_pb2.COMMITTEE_ROLE_CLUSTER_LEAD
COMMITTEE_MEMBER = membership_pb2.COMMITTEE_ROLE_MEMBER
TERM = (date(2025, 1, 1), date(2026, 12, 31))


def new_member(
    province: str = "TH-41", cluster: str = "textiles", **overrides: object
) -> domain.Member:
    request = registration(province_code=province, cluster_code=cluster, **overrides)
    facts, contact = domain.validate_registration(request)
    return domain.Member.register(facts, contact, NOW)


def active_member(province: str = "TH-41", cluster: str = "textiles") -> domain.Member:
    member = new_member(province, cluster)
    member.approve("มติคณะกรรมการ 1/2569", NOW)
    member.events.clear()
    return member


def member_in(status: int) -> domain.Member:
    member = new_member()
    if status in (domain.ACTIVE, domain.SUSPENDED, domain.LEFT):
        member.approve("", NOW)
    if status == domain.SUSPENDED:
        member.suspend("", NOW)
    if status == domain.LEFT:
        member.leave("", NOW)
    member.events.clear()
    return member


def violated_fields(err: InvalidArgument) -> list[str]:
    return [name for name, _ in err.violations]


# --- registration -------------------------------------------------------------------


def test_register_starts_applied_and_records_member_registered_without_personal_data() -> None:
    member = new_member(
        sales_channels=[
            common_pb2.SALES_CHANNEL_LOCAL_MARKET,
            common_pb2.SALES_CHANNEL_EXPORT,
            common_pb2.SALES_CHANNEL_LOCAL_MARKET,  # a repeat is dropped
        ]
    )

    assert member.status == domain.APPLIED
    assert member.registered_at == NOW and member.approved_at is None
    [event] = member.events
    assert isinstance(event, events_pb2.MemberRegistered)
    assert event.member_id == member.member_id
    assert event.province_code == "TH-41"
    assert event.cluster_code == "textiles"
    assert event.enterprise_type == membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE
    assert event.business_name_th == "กลุ่มทอผ้าไหมบ้านเชียง"
    assert event.business_name_en == "Ban Chiang Silk Weavers"
    assert list(event.products) == ["ผ้าไหมทอมือ", "ผ้าฝ้ายย้อมคราม"]
    assert list(event.sales_channels) == [
        common_pb2.SALES_CHANNEL_LOCAL_MARKET,
        common_pb2.SALES_CHANNEL_EXPORT,
    ]
    assert event.baseline_monthly_revenue == common_pb2.Money(satang=8_000_000, currency_code="THB")
    assert event.occurred_at.ToDatetime(tzinfo=UTC) == NOW
    # The contact (name, phone, national ID) never goes on an event.
    raw = event.SerializeToString()
    assert "บุญมี".encode() not in raw and b"0812345678" not in raw


def test_validate_registration_normalises_names_and_ids() -> None:
    request = registration(
        business_name_th="\u00a0 ร้านผ้าไหม\u200bแม่บุญ  ",
        cluster_code=" textiles ",
        tax_id="0-1055-36000-31-3",
    )
    facts, contact = domain.validate_registration(request)
    assert facts.business_name_th == "ร้านผ้าไหมแม่บุญ"
    assert facts.cluster_code == "textiles"
    assert facts.tax_id == "0105536000313"
    assert contact.full_name == "บุญมี ศรีสุข"


def test_validate_registration_names_every_bad_field_at_once() -> None:
    request = registration(
        province_code="TH-99",
        cluster_code="  ",
        business_name_th="   ",
        tax_id="0105536000310",  # wrong check digit (the right one is 3)
        enterprise_type=0,
        sales_channels=[0, 99],
        baseline_monthly_revenue=common_pb2.Money(satang=-1, currency_code="USD"),
        contact=membership_pb2.Contact(
            full_name="", phone="12345", email="not-an-email", national_id="1234567890123"
        ),
    )
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_registration(request)

    fields = violated_fields(caught.value)
    assert fields == [
        "province_code",
        "cluster_code",
        "business_name_th",
        "tax_id",
        "enterprise_type",
        "sales_channels[0]",
        "sales_channels[1]",
        "baseline_monthly_revenue.currency_code",
        "baseline_monthly_revenue.satang",
        "contact.full_name",
        "contact.phone",
        "contact.email",
        "contact.national_id",
    ]
    assert str(caught.value).startswith(f"{len(fields)} fields are invalid: province_code:")
    # The message never repeats the personal data it refused.
    assert "1234567890123" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"tax_id": "0105536000310"}, "tax_id", "checksum"),
        ({"tax_id": "01055360003"}, "tax_id", "13 digits"),
        ({"tax_id": "๐๑๐๕๕๓๖๐๐๐๓๑๓"}, "tax_id", "13 digits"),  # Thai digits are not accepted
        ({"tax_id": ""}, "tax_id", "required"),
        ({"business_name_th": ""}, "business_name_th", "required"),
        ({"business_name_th": " \u3000\u00a0\t "}, "business_name_th", "control characters"),
        ({"business_name_th": " \u3000\u00a0\u200b "}, "business_name_th", "required"),
        ({"business_name_th": "ก" * 201}, "business_name_th", "longer than 200"),
        ({"province_code": ""}, "province_code", "required"),
        ({"enterprise_type": 42}, "enterprise_type", "required"),
        ({"products": ["ผ้าไหม", "  "]}, "products[1]", "required"),
        ({"products": ["x"] * 51}, "products", "at most 50"),
        (
            {"baseline_monthly_revenue": common_pb2.Money(satang=-100)},
            "baseline_monthly_revenue.satang",
            "negative",
        ),
        (
            {"contact": membership_pb2.Contact(full_name="ก", national_id="3100700123452")},
            "contact.national_id",
            "checksum",
        ),
    ],
)
def test_validate_registration_refuses_one_bad_field(
    overrides: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_registration(registration(**overrides))
    [(name, description)] = caught.value.violations
    assert name == field
    assert words in description


def test_a_cluster_must_belong_to_the_members_own_province() -> None:
    domain.require_cluster_of_province("TH-41", "TH-41", "textiles")
    with pytest.raises(InvalidArgument) as unknown:
        domain.require_cluster_of_province(None, "TH-41", "pottery")
    assert unknown.value.field == "cluster_code" and "no cluster 'pottery'" in str(unknown.value)
    with pytest.raises(InvalidArgument) as foreign:
        domain.require_cluster_of_province("TH-40", "TH-41", "silk-kk")
    assert foreign.value.field == "cluster_code"
    assert "belongs to TH-40, not TH-41" in str(foreign.value)


# --- lifecycle ----------------------------------------------------------------------


def test_lifecycle_applied_active_suspended_active_left_records_each_event() -> None:
    member = new_member()
    member.events.clear()

    member.approve("มติที่ประชุมคณะกรรมการ 3/2568", NOW)
    assert member.status == domain.ACTIVE and member.approved_at == NOW
    member.suspend("ค้างชำระค่าบำรุง", LATER)
    assert member.status == domain.SUSPENDED
    member.reinstate("ชำระแล้ว", LATER)
    assert member.status == domain.ACTIVE
    member.suspend("ขาดประชุม", LATER)
    member.reinstate("", LATER)
    member.leave("ย้ายกิจการไปจังหวัดอื่น", LATER)
    assert member.status == domain.LEFT
    assert member.updated_at == LATER and member.approved_at == NOW

    assert [type(e).__name__ for e in member.events] == [
        "MemberApproved",
        "MemberSuspended",
        "MemberReinstated",
        "MemberSuspended",
        "MemberReinstated",
        "MemberLeft",
    ]
    approved, suspended, reinstated, *_, left = member.events
    assert isinstance(suspended, events_pb2.MemberSuspended)
    assert isinstance(reinstated, events_pb2.MemberReinstated)
    assert isinstance(left, events_pb2.MemberLeft)
    assert approved == events_pb2.MemberApproved(
        member_id=member.member_id,
        province_code="TH-41",
        cluster_code="textiles",
        enterprise_type=membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
        resolution="มติที่ประชุมคณะกรรมการ 3/2568",
        occurred_at=to_timestamp(NOW),
    )
    assert (suspended.member_id, suspended.province_code, suspended.reason) == (
        member.member_id,
        "TH-41",
        "ค้างชำระค่าบำรุง",
    )
    assert reinstated.reason == "ชำระแล้ว"
    assert left.reason == "ย้ายกิจการไปจังหวัดอื่น"
    assert left.occurred_at.ToDatetime(tzinfo=UTC) == LATER


@pytest.mark.parametrize("status", [domain.APPLIED, domain.ACTIVE, domain.SUSPENDED])
def test_a_member_may_leave_from_any_status_but_left(status: int) -> None:
    member = member_in(status)
    member.leave("", NOW)
    assert member.status == domain.LEFT
    assert [type(e).__name__ for e in member.events] == ["MemberLeft"]


@pytest.mark.parametrize(
    ("status", "action", "wanted"),
    [
        (domain.ACTIVE, "approve", "applied"),
        (domain.SUSPENDED, "approve", "applied"),
        (domain.LEFT, "approve", "applied"),
        (domain.APPLIED, "suspend", "active"),
        (domain.SUSPENDED, "suspend", "active"),
        (domain.LEFT, "suspend", "active"),
        (domain.APPLIED, "reinstate", "suspended"),
        (domain.ACTIVE, "reinstate", "suspended"),
        (domain.LEFT, "reinstate", "suspended"),
        (domain.LEFT, "leave", "active or applied or suspended"),
    ],
)
def test_a_transition_from_the_wrong_status_fails_naming_member_id(
    status: int, action: str, wanted: str
) -> None:
    member = member_in(status)
    with pytest.raises(FailedPrecondition) as caught:
        getattr(member, action)("", LATER)
    assert caught.value.field == "member_id"
    assert f"who is {domain.STATUS_NAMES[status]}" in caught.value.message
    assert f"must be {wanted}" in caught.value.message
    # Nothing changed and nothing was recorded.
    assert member.status == status and member.events == []
    assert member.updated_at == NOW


def test_approving_a_member_who_left_fails_naming_member_id() -> None:
    member = member_in(domain.LEFT)
    with pytest.raises(FailedPrecondition) as caught:
        member.approve("มติ 4/2569", LATER)
    assert caught.value.violations == [
        ("member_id", "cannot approve a member who is left; the member must be applied")
    ]
    assert str(caught.value).startswith("member_id: cannot approve a member who is left")


def test_change_cluster_records_from_and_to() -> None:
    member = active_member(cluster="textiles")
    member.change_cluster("food", LATER)
    assert member.cluster_code == "food" and member.updated_at == LATER
    [event] = member.events
    assert event == events_pb2.MemberClusterChanged(
        member_id=member.member_id,
        province_code="TH-41",
        from_cluster_code="textiles",
        to_cluster_code="food",
        occurred_at=to_timestamp(LATER),
    )


def test_change_cluster_to_the_same_cluster_fails_naming_cluster_code() -> None:
    member = active_member(cluster="food")
    with pytest.raises(FailedPrecondition) as caught:
        member.change_cluster("food", LATER)
    assert caught.value.field == "cluster_code"
    assert member.events == []


@pytest.mark.parametrize("status", [domain.APPLIED, domain.SUSPENDED])
def test_change_cluster_is_allowed_before_approval_and_while_suspended(status: int) -> None:
    member = member_in(status)
    member.change_cluster("tourism", LATER)
    assert member.cluster_code == "tourism" and member.status == status


def test_change_cluster_of_a_member_who_left_fails_naming_member_id() -> None:
    member = member_in(domain.LEFT)
    with pytest.raises(FailedPrecondition) as caught:
        member.change_cluster("food", LATER)
    assert caught.value.field == "member_id"
    assert member.cluster_code == "textiles" and member.events == []


# --- committee ----------------------------------------------------------------------


def appointment(
    role: int, cluster: str = "", member_id: str = "someone-else"
) -> domain.Appointment:
    return domain.Appointment(
        appointment_id="a-1",
        province_code="TH-41",
        member_id=member_id,
        role=role,
        cluster_code=cluster,
        term_start=TERM[0],
        term_end=TERM[1],
    )


def test_appoint_returns_the_appointment_and_committee_member_appointed() -> None:
    member = active_member()
    made, event = domain.appoint(member, CLUSTER_LEAD, "textiles", *TERM, [], NOW)
    assert made.member_id == member.member_id and made.province_code == "TH-41"
    assert (made.role, made.cluster_code) == (CLUSTER_LEAD, "textiles")
    assert (made.term_start, made.term_end) == TERM
    assert event == events_pb2.CommitteeMemberAppointed(
        appointment_id=made.appointment_id,
        province_code="TH-41",
        member_id=member.member_id,
        role=CLUSTER_LEAD,
        cluster_code="textiles",
        term_start=common_pb2.Date(year=2025, month=1, day=1),
        term_end=common_pb2.Date(year=2026, month=12, day=31),
        occurred_at=to_timestamp(NOW),
    )


@pytest.mark.parametrize("role", [CHAIR, VICE_CHAIR, SECRETARY, TREASURER])
def test_a_single_holder_role_cannot_be_given_twice_in_one_term(role: int) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        domain.appoint(active_member(), role, "", *TERM, [appointment(role)], NOW)
    assert caught.value.field == "role"
    assert "held by member someone-else until 2026-12-31" in caught.value.message


def test_other_single_holder_roles_and_ordinary_members_do_not_block() -> None:
    held = [appointment(r) for r in (CHAIR, VICE_CHAIR, SECRETARY, COMMITTEE_MEMBER)]
    domain.appoint(active_member(), TREASURER, "", *TERM, held, NOW)
    # Ordinary committee members are many.
    domain.appoint(active_member(), COMMITTEE_MEMBER, "", *TERM, held, NOW)


def test_one_cluster_lead_per_cluster() -> None:
    held = [appointment(CLUSTER_LEAD, "textiles")]
    with pytest.raises(FailedPrecondition) as caught:
        domain.appoint(active_member(), CLUSTER_LEAD, "textiles", *TERM, held, NOW)
    assert caught.value.field == "cluster_code"
    assert "'textiles' already has a lead until 2026-12-31" in caught.value.message
    # Another cluster may have its own lead.
    made, _ = domain.appoint(active_member(), CLUSTER_LEAD, "food", *TERM, held, NOW)
    assert made.cluster_code == "food"


@pytest.mark.parametrize("end", [TERM[0], TERM[0] - timedelta(days=1)])
def test_the_term_must_end_after_it_starts(end: date) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.appoint(active_member(), CHAIR, "", TERM[0], end, [], NOW)
    assert caught.value.field == "term_end"


@pytest.mark.parametrize("status", [domain.APPLIED, domain.SUSPENDED, domain.LEFT])
def test_only_an_active_member_can_be_appointed(status: int) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        domain.appoint(member_in(status), CHAIR, "", *TERM, [], NOW)
    assert caught.value.field == "member_id"
    assert domain.STATUS_NAMES[status] in caught.value.message


@pytest.mark.parametrize(
    ("proto", "expected"),
    [
        (common_pb2.Date(year=2568, month=1, day=1), date(2025, 1, 1)),  # พ.ศ. 2568
        (common_pb2.Date(year=2569, month=12, day=31), date(2026, 12, 31)),
        (common_pb2.Date(year=2567, month=2, day=29), date(2024, 2, 29)),  # leap year in CE
        (common_pb2.Date(year=2400, month=6, day=1), date(1857, 6, 1)),  # the BE threshold
        (common_pb2.Date(year=2025, month=1, day=1), date(2025, 1, 1)),  # already CE
        (common_pb2.Date(year=2399, month=1, day=1), date(2399, 1, 1)),
    ],
)
def test_proto_dates_in_buddhist_era_are_converted(proto: common_pb2.Date, expected: date) -> None:
    violations = FieldViolations()
    assert to_common_era(proto, violations, "term_start") == expected
    assert not violations


@pytest.mark.parametrize(
    "proto",
    [
        common_pb2.Date(),  # unset
        common_pb2.Date(year=2568, month=2, day=29),  # 2025 is not a leap year
        common_pb2.Date(year=2568, month=13, day=1),
        common_pb2.Date(year=2568, month=1, day=0),
    ],
)
def test_an_impossible_date_is_a_violation_naming_the_field(proto: common_pb2.Date) -> None:
    violations = FieldViolations()
    assert to_common_era(proto, violations, "term_end") is None
    [(field, description)] = violations.violations
    assert field == "term_end" and "พ.ศ." in description


# --- mentoring (พี่สอนน้อง) -----------------------------------------------------------


def test_start_mentorship_records_mentorship_started() -> None:
    mentor, mentee = active_member(), active_member()
    mentorship, event = domain.start_mentorship(mentor, mentee, "การตลาดออนไลน์", False, NOW)
    assert mentorship.mentor_member_id == mentor.member_id
    assert mentorship.mentee_member_id == mentee.member_id
    assert mentorship.province_code == "TH-41"
    assert mentorship.focus == "การตลาดออนไลน์"
    assert mentorship.started_at == NOW and mentorship.ended_at is None
    assert event == events_pb2.MentorshipStarted(
        mentorship_id=mentorship.mentorship_id,
        province_code="TH-41",
        mentor_member_id=mentor.member_id,
        mentee_member_id=mentee.member_id,
        occurred_at=to_timestamp(NOW),
    )


def test_a_member_cannot_mentor_themselves() -> None:
    member = active_member()
    with pytest.raises(InvalidArgument) as caught:
        domain.start_mentorship(member, member, "", False, NOW)
    assert caught.value.field == "mentee_member_id"


@pytest.mark.parametrize("status", [domain.APPLIED, domain.SUSPENDED, domain.LEFT])
def test_the_mentor_must_be_active(status: int) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        domain.start_mentorship(member_in(status), active_member(), "", False, NOW)
    assert caught.value.field == "mentor_member_id"
    assert domain.STATUS_NAMES[status] in caught.value.message


@pytest.mark.parametrize("status", [domain.APPLIED, domain.SUSPENDED, domain.LEFT])
def test_the_mentee_must_be_active(status: int) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        domain.start_mentorship(active_member(), member_in(status), "", False, NOW)
    assert caught.value.field == "mentee_member_id"


def test_mentor_and_mentee_must_be_in_the_same_network() -> None:
    mentor = active_member(province="TH-41")
    mentee = active_member(province="TH-40", cluster="silk-kk")
    with pytest.raises(FailedPrecondition) as caught:
        domain.start_mentorship(mentor, mentee, "", False, NOW)
    assert caught.value.field == "mentee_member_id"
    assert "TH-41 and TH-40" in caught.value.message


def test_a_mentee_has_one_active_mentor_at_a_time() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        domain.start_mentorship(active_member(), active_member(), "", True, NOW)
    assert caught.value.field == "mentee_member_id"
    assert "already has an active mentor" in caught.value.message


def test_end_mentorship_records_mentorship_ended_once() -> None:
    mentor, mentee = active_member(), active_member()
    mentorship, _ = domain.start_mentorship(mentor, mentee, "", False, NOW)

    event = domain.end_mentorship(mentorship, LATER)
    assert mentorship.ended_at == LATER
    assert event == events_pb2.MentorshipEnded(
        mentorship_id=mentorship.mentorship_id,
        province_code="TH-41",
        mentor_member_id=mentor.member_id,
        mentee_member_id=mentee.member_id,
        occurred_at=to_timestamp(LATER),
    )
    with pytest.raises(FailedPrecondition) as caught:
        domain.end_mentorship(mentorship, LATER + timedelta(days=1))
    assert caught.value.field == "mentorship_id"
    assert mentorship.ended_at == LATER
