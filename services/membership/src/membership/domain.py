"""Membership rules, as plain Python: members, their lifecycle, committee, mentoring.

No I/O here. Each change records the event it causes (the published contract in
bizclub.membership.v1), which the store writes to the outbox in the same commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import events_pb2, membership_pb2, membership_service_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations, InvalidArgument
from bizclub_shared.ids import new_id
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import (
    check_money,
    check_province,
    check_thai_id,
    clean_text,
)
from google.protobuf.message import Message

Status = membership_pb2.MemberStatus
EnterpriseType = membership_pb2.EnterpriseType
CommitteeRole = membership_pb2.CommitteeRole

APPLIED = membership_pb2.MEMBER_STATUS_APPLIED
ACTIVE = membership_pb2.MEMBER_STATUS_ACTIVE
SUSPENDED = membership_pb2.MEMBER_STATUS_SUSPENDED
LEFT = membership_pb2.MEMBER_STATUS_LEFT

STATUS_NAMES: dict[int, str] = {
    APPLIED: "applied",
    ACTIVE: "active",
    SUSPENDED: "suspended",
    LEFT: "left",
}
# Roles one person holds at a time in a network; cluster leads are one per cluster.
SINGLE_HOLDER_ROLES = {
    membership_pb2.COMMITTEE_ROLE_CHAIR,
    membership_pb2.COMMITTEE_ROLE_VICE_CHAIR,
    membership_pb2.COMMITTEE_ROLE_SECRETARY,
    membership_pb2.COMMITTEE_ROLE_TREASURER,
}

MAX_NAME = 200
MAX_PRODUCTS = 50
MAX_PRODUCT = 120
MAX_REASON = 1000
MAX_EMAIL = 200
CLUSTER_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
PHONE = re.compile(r"^(\+66|0)\d{8,9}$")
PHONE_SEPARATORS = re.compile(r"[\s-]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- checks shared by several requests ---------------------------------------------


# --- the network --------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    cluster_code: str
    name_th: str
    name_en: str


def validate_cluster(
    violations: FieldViolations, prefix: str, cluster: membership_pb2.Cluster
) -> Cluster:
    code = cluster.cluster_code.strip()
    if not CLUSTER_CODE.match(code):
        violations.add(
            f"{prefix}.cluster_code",
            "must be 2-40 lower-case letters, digits or '-', e.g. textiles",
        )
    name_th = clean_text(
        violations, f"{prefix}.name_th", cluster.name_th, required=True, limit=MAX_NAME
    )
    name_en = clean_text(
        violations, f"{prefix}.name_en", cluster.name_en, required=False, limit=MAX_NAME
    )
    return Cluster(code, name_th, name_en)


# --- members ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Personal data: kept in this service only, never put on an event or in a log."""

    full_name: str
    phone: str
    email: str
    national_id: str


def masked(contact: Contact) -> Contact:
    """What a caller without a need for the contact data sees (PDPA): enough to
    recognise the person, not to reach or identify them."""

    def keep(text: str, head: int, tail: int) -> str:
        if not text:
            return ""
        hidden = max(len(text) - head - tail, 1)
        return text[:head] + "*" * hidden + (text[-tail:] if tail else "")

    user, _, domain_name = contact.email.partition("@")
    return Contact(
        full_name=keep(contact.full_name, 1, 0),
        phone=keep(contact.phone, 0, 2),
        email=f"{keep(user, 1, 0)}@{domain_name}" if contact.email else "",
        national_id=keep(contact.national_id, 0, 0),
    )


def personal_data_erased(member: Member, now: datetime) -> Message:
    return events_pb2.MemberPersonalDataErased(
        member_id=member.member_id,
        province_code=member.province_code,
        occurred_at=to_timestamp(now),
    )


@dataclass
class Member:
    member_id: str
    province_code: str
    cluster_code: str
    business_name_th: str
    business_name_en: str
    tax_id: str
    enterprise_type: int
    products: list[str]
    sales_channels: list[int]
    baseline_revenue_satang: int
    status: int
    registered_at: datetime
    approved_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[Message] = field(default_factory=list, repr=False)

    @staticmethod
    def register(request: RegistrationFacts, contact: Contact, now: datetime) -> Member:
        member = Member(
            member_id=new_id(),
            province_code=request.province_code,
            cluster_code=request.cluster_code,
            business_name_th=request.business_name_th,
            business_name_en=request.business_name_en,
            tax_id=request.tax_id,
            enterprise_type=request.enterprise_type,
            products=list(request.products),
            sales_channels=list(request.sales_channels),
            baseline_revenue_satang=request.baseline_revenue_satang,
            status=APPLIED,
            registered_at=now,
            updated_at=now,
        )
        member.events.append(
            events_pb2.MemberRegistered(
                member_id=member.member_id,
                province_code=member.province_code,
                cluster_code=member.cluster_code,
                enterprise_type=member.enterprise_type,  # type: ignore[arg-type]
                business_name_th=member.business_name_th,
                business_name_en=member.business_name_en,
                products=member.products,
                sales_channels=member.sales_channels,  # type: ignore[arg-type]
                baseline_monthly_revenue=common_pb2.Money(
                    satang=member.baseline_revenue_satang, currency_code="THB"
                ),
                occurred_at=to_timestamp(now),
            )
        )
        return member

    def _require(self, allowed: set[int], action: str) -> None:
        if self.status not in allowed:
            wanted = " or ".join(sorted(STATUS_NAMES[s] for s in allowed))
            raise FailedPrecondition(
                f"cannot {action} a member who is {STATUS_NAMES[self.status]}; "
                f"the member must be {wanted}",
                field="member_id",
            )

    def approve(self, resolution: str, now: datetime) -> None:
        self._require({APPLIED}, "approve")
        self.status, self.approved_at, self.updated_at = ACTIVE, now, now
        self.events.append(
            events_pb2.MemberApproved(
                member_id=self.member_id,
                province_code=self.province_code,
                cluster_code=self.cluster_code,
                enterprise_type=self.enterprise_type,  # type: ignore[arg-type]
                resolution=resolution,
                occurred_at=to_timestamp(now),
            )
        )

    def suspend(self, reason: str, now: datetime) -> None:
        self._require({ACTIVE}, "suspend")
        self.status, self.updated_at = SUSPENDED, now
        self.events.append(
            events_pb2.MemberSuspended(
                member_id=self.member_id,
                province_code=self.province_code,
                reason=reason,
                occurred_at=to_timestamp(now),
            )
        )

    def reinstate(self, reason: str, now: datetime) -> None:
        self._require({SUSPENDED}, "reinstate")
        self.status, self.updated_at = ACTIVE, now
        self.events.append(
            events_pb2.MemberReinstated(
                member_id=self.member_id,
                province_code=self.province_code,
                reason=reason,
                occurred_at=to_timestamp(now),
            )
        )

    def leave(self, reason: str, now: datetime) -> None:
        self._require({APPLIED, ACTIVE, SUSPENDED}, "record the departure of")
        self.status, self.updated_at = LEFT, now
        self.events.append(
            events_pb2.MemberLeft(
                member_id=self.member_id,
                province_code=self.province_code,
                reason=reason,
                occurred_at=to_timestamp(now),
            )
        )

    def change_cluster(self, cluster_code: str, now: datetime) -> None:
        self._require({APPLIED, ACTIVE, SUSPENDED}, "change the cluster of")
        if cluster_code == self.cluster_code:
            raise FailedPrecondition(
                f"the member is already in cluster {cluster_code!r}", field="cluster_code"
            )
        previous, self.cluster_code, self.updated_at = self.cluster_code, cluster_code, now
        self.events.append(
            events_pb2.MemberClusterChanged(
                member_id=self.member_id,
                province_code=self.province_code,
                from_cluster_code=previous,
                to_cluster_code=cluster_code,
                occurred_at=to_timestamp(now),
            )
        )


@dataclass(frozen=True)
class RegistrationFacts:
    province_code: str
    cluster_code: str
    business_name_th: str
    business_name_en: str
    tax_id: str
    enterprise_type: int
    products: list[str]
    sales_channels: list[int]
    baseline_revenue_satang: int


# The known values, 0 (unspecified) left out: values() builds a new list on every call.
_ENTERPRISE_TYPES = frozenset(EnterpriseType.values()) - {0}
_SALES_CHANNELS = frozenset(common_pb2.SalesChannel.values()) - {0}


def validate_registration(
    request: membership_service_pb2.RegisterMemberRequest,
) -> tuple[RegistrationFacts, Contact]:
    """Every field of a registration checked at once; raises InvalidArgument naming each."""
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    cluster_code = request.cluster_code.strip()
    v.check(bool(cluster_code), "cluster_code", "is required, e.g. textiles")
    name_th = clean_text(
        v, "business_name_th", request.business_name_th, required=True, limit=MAX_NAME
    )
    name_en = clean_text(
        v, "business_name_en", request.business_name_en, required=False, limit=MAX_NAME
    )
    tax_id = check_thai_id(v, "tax_id", request.tax_id, required=True)
    if request.enterprise_type not in _ENTERPRISE_TYPES:
        v.add(
            "enterprise_type", "is required: SME, community enterprise, OTOP or young smart trader"
        )
    if len(request.products) > MAX_PRODUCTS:
        v.add("products", f"at most {MAX_PRODUCTS} products")
    products = [
        clean_text(v, f"products[{i}]", p, required=True, limit=MAX_PRODUCT)
        for i, p in enumerate(request.products[:MAX_PRODUCTS])
    ]
    channels: list[int] = []
    for i, channel in enumerate(request.sales_channels):
        if channel not in _SALES_CHANNELS:
            v.add(f"sales_channels[{i}]", "is not a known sales channel")
        elif channel not in channels:
            channels.append(channel)
    revenue = check_money(v, "baseline_monthly_revenue", request.baseline_monthly_revenue)
    contact = validate_contact(v, request.contact)
    v.raise_if_any()
    facts = RegistrationFacts(
        province_code=request.province_code,
        cluster_code=cluster_code,
        business_name_th=name_th,
        business_name_en=name_en,
        tax_id=tax_id,
        enterprise_type=request.enterprise_type,
        products=products,
        sales_channels=channels,
        baseline_revenue_satang=revenue,
    )
    return facts, contact


def validate_contact(v: FieldViolations, contact: membership_pb2.Contact) -> Contact:
    full_name = clean_text(v, "contact.full_name", contact.full_name, required=True, limit=MAX_NAME)
    phone = PHONE_SEPARATORS.sub("", contact.phone)
    if phone and not PHONE.match(phone):
        v.add("contact.phone", "must be a Thai number such as 081-234-5678 or +66812345678")
    email = contact.email.strip()
    if len(email) > MAX_EMAIL:  # the column's length: PostgreSQL refuses longer
        v.add("contact.email", f"is longer than {MAX_EMAIL} characters")
    elif email and not EMAIL.match(email):
        v.add("contact.email", "is not an e-mail address")
    national_id = check_thai_id(v, "contact.national_id", contact.national_id, required=False)
    return Contact(full_name=full_name, phone=phone, email=email, national_id=national_id)


def require_cluster_of_province(
    cluster_province: str | None, member_province: str, cluster_code: str
) -> None:
    """The cluster must exist in the member's own province network."""
    if cluster_province is None:
        raise InvalidArgument(
            f"no cluster {cluster_code!r} in the network of {member_province}", field="cluster_code"
        )
    if cluster_province != member_province:
        raise InvalidArgument(
            f"cluster {cluster_code!r} belongs to {cluster_province}, not {member_province}",
            field="cluster_code",
        )


def reason_text(value: str, field_name: str = "reason") -> str:
    v = FieldViolations()
    text = clean_text(v, field_name, value, required=False, limit=MAX_REASON)
    v.raise_if_any()
    return text


# --- committee ----------------------------------------------------------------------


@dataclass(frozen=True)
class Appointment:
    appointment_id: str
    province_code: str
    member_id: str
    role: int
    cluster_code: str
    term_start: date
    term_end: date


def appoint(
    member: Member,
    role: int,
    cluster_code: str,
    term_start: date,
    term_end: date,
    overlapping: list[Appointment],
    now: datetime,
) -> tuple[Appointment, Message]:
    """Appoint an active member; one holder per single-holder role or cluster lead at a time."""
    if member.status != ACTIVE:
        raise FailedPrecondition(
            f"only an active member can sit on the committee; this member is "
            f"{STATUS_NAMES[member.status]}",
            field="member_id",
        )
    if term_end <= term_start:
        raise InvalidArgument("must be after term_start", field="term_end")
    for other in overlapping:
        if role in SINGLE_HOLDER_ROLES and other.role == role:
            raise FailedPrecondition(
                f"the role {CommitteeRole.Name(CommitteeRole.ValueType(role))} is held by member {other.member_id} "
                f"until {other.term_end.isoformat()}",
                field="role",
            )
        if (
            role == membership_pb2.COMMITTEE_ROLE_CLUSTER_LEAD
            and other.role == role
            and other.cluster_code == cluster_code
        ):
            raise FailedPrecondition(
                f"cluster {cluster_code!r} already has a lead until {other.term_end.isoformat()}",
                field="cluster_code",
            )
    appointment = Appointment(
        appointment_id=new_id(),
        province_code=member.province_code,
        member_id=member.member_id,
        role=role,
        cluster_code=cluster_code,
        term_start=term_start,
        term_end=term_end,
    )
    event = events_pb2.CommitteeMemberAppointed(
        appointment_id=appointment.appointment_id,
        province_code=appointment.province_code,
        member_id=appointment.member_id,
        role=role,  # type: ignore[arg-type]
        cluster_code=cluster_code,
        term_start=common_pb2.Date(
            year=term_start.year, month=term_start.month, day=term_start.day
        ),
        term_end=common_pb2.Date(year=term_end.year, month=term_end.month, day=term_end.day),
        occurred_at=to_timestamp(now),
    )
    return appointment, event


# --- mentoring (พี่สอนน้อง) -----------------------------------------------------------


@dataclass
class Mentorship:
    mentorship_id: str
    province_code: str
    mentor_member_id: str
    mentee_member_id: str
    focus: str
    started_at: datetime
    ended_at: datetime | None = None


def start_mentorship(
    mentor: Member, mentee: Member, focus: str, mentee_has_active_mentor: bool, now: datetime
) -> tuple[Mentorship, Message]:
    if mentor.member_id == mentee.member_id:
        raise InvalidArgument("a member cannot mentor themselves", field="mentee_member_id")
    if mentor.status != ACTIVE:
        raise FailedPrecondition(
            f"the mentor must be active; this member is {STATUS_NAMES[mentor.status]}",
            field="mentor_member_id",
        )
    if mentee.status != ACTIVE:
        raise FailedPrecondition(
            f"the mentee must be active; this member is {STATUS_NAMES[mentee.status]}",
            field="mentee_member_id",
        )
    if mentor.province_code != mentee.province_code:
        raise FailedPrecondition(
            f"mentor and mentee must be in the same network ({mentor.province_code} and "
            f"{mentee.province_code})",
            field="mentee_member_id",
        )
    if mentee_has_active_mentor:
        raise FailedPrecondition(
            "the mentee already has an active mentor; end that mentorship first",
            field="mentee_member_id",
        )
    mentorship = Mentorship(
        mentorship_id=new_id(),
        province_code=mentor.province_code,
        mentor_member_id=mentor.member_id,
        mentee_member_id=mentee.member_id,
        focus=focus,
        started_at=now,
    )
    event = events_pb2.MentorshipStarted(
        mentorship_id=mentorship.mentorship_id,
        province_code=mentorship.province_code,
        mentor_member_id=mentor.member_id,
        mentee_member_id=mentee.member_id,
        occurred_at=to_timestamp(now),
    )
    return mentorship, event


def end_mentorship(mentorship: Mentorship, now: datetime) -> Message:
    if mentorship.ended_at is not None:
        raise FailedPrecondition("the mentorship has already ended", field="mentorship_id")
    mentorship.ended_at = now
    return events_pb2.MentorshipEnded(
        mentorship_id=mentorship.mentorship_id,
        province_code=mentorship.province_code,
        mentor_member_id=mentorship.mentor_member_id,
        mentee_member_id=mentorship.mentee_member_id,
        occurred_at=to_timestamp(now),
    )
