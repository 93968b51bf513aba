"""Training rules, as plain Python: sessions, seats and waitlists, attendance, completion,
product-development projects.

No I/O here. Each change records the event it causes (the published contract in
bizclub.training.v1), which the store writes to the outbox in the same commit.
Anything the rules need from elsewhere (the member's status, the current seat count)
is passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from bizclub.common.v1 import common_pb2
from bizclub.training.v1 import events_pb2, training_pb2, training_service_pb2
from bizclub_shared.errors import FailedPrecondition, FieldViolations
from bizclub_shared.ids import new_id
from bizclub_shared.thai_text import has_control_characters, normalize, parse_date
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import check_province, clean_text
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

Kind = training_pb2.SessionKind
Role = training_pb2.TrainerRole
Stage = training_pb2.ProjectStage
Outcome = training_pb2.ProjectOutcome

SCHEDULED = training_pb2.SESSION_STATUS_SCHEDULED
SESSION_CANCELLED = training_pb2.SESSION_STATUS_CANCELLED

CONFIRMED = training_pb2.ENROLLMENT_STATUS_CONFIRMED
WAITLISTED = training_pb2.ENROLLMENT_STATUS_WAITLISTED
CANCELLED = training_pb2.ENROLLMENT_STATUS_CANCELLED
COMPLETED = training_pb2.ENROLLMENT_STATUS_COMPLETED
# Statuses that hold the member's one place in a session (a cancelled one does not).
HOLDING = (CONFIRMED, WAITLISTED, COMPLETED)

BY_MEMBER = training_pb2.CANCELLATION_REASON_MEMBER_REQUEST
BY_SUSPENSION = training_pb2.CANCELLATION_REASON_MEMBER_SUSPENDED
BY_LEAVING = training_pb2.CANCELLATION_REASON_MEMBER_LEFT
BY_SESSION = training_pb2.CANCELLATION_REASON_SESSION_CANCELLED

ENROLLMENT_NAMES: dict[int, str] = {
    CONFIRMED: "confirmed",
    WAITLISTED: "waitlisted",
    CANCELLED: "cancelled",
    COMPLETED: "completed",
}
STAGE_NAMES: dict[int, str] = {
    training_pb2.PROJECT_STAGE_BRIEF: "brief",
    training_pb2.PROJECT_STAGE_PROTOTYPE: "prototype",
    training_pb2.PROJECT_STAGE_FINAL: "final",
    training_pb2.PROJECT_STAGE_COMPLETED: "completed",
}
NEXT_STAGE: dict[int, int] = {
    training_pb2.PROJECT_STAGE_BRIEF: training_pb2.PROJECT_STAGE_PROTOTYPE,
    training_pb2.PROJECT_STAGE_PROTOTYPE: training_pb2.PROJECT_STAGE_FINAL,
}

# Thailand keeps no daylight saving time: a fixed UTC+7 needs no tz database.
BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
BE_OFFSET = 543

MAX_TITLE = 200
MAX_TEXT = 2000
MAX_URL = 500
MAX_TRAINERS = 20
MAX_CLUSTERS = 20
MAX_PHOTOS = 20
MAX_CAPACITY = 1000
# Expert consultation and peer mentoring are one-to-one or small-group by nature.
SMALL_GROUP = 10
SMALL_GROUP_KINDS = {
    training_pb2.SESSION_KIND_CONSULTATION,
    training_pb2.SESSION_KIND_PEER_MENTORING,
}
MAX_DURATION = timedelta(days=31)
# Officers check people in at the door, a little before the start.
CHECK_IN_OPENS = timedelta(hours=2)
CLUSTER_CODE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# "15/03/2569 09:00", "2569-03-15T09:00", "15 มี.ค. 2569 09.00 น."
LOCAL_DATE_TIME = re.compile(r"^(.+?)[\sT,]+(\d{1,2})[:.](\d{2})(?:\s*น\.?)?$")
THAI_MONTHS = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
]


# --- time as officers read and type it ------------------------------------------------


def parse_local_datetime(text: str) -> datetime:
    """An Asia/Bangkok date and time as typed ("15/03/2569 09:00"), as an aware UTC time.

    The date takes every form `thai_text.parse_date` reads (พ.ศ. or ค.ศ., Thai month
    names); the time is HH:MM or HH.MM, optionally followed by น. Raises ValueError.
    """
    match = LOCAL_DATE_TIME.match(normalize(text))
    if match is None:
        raise ValueError(
            "is not a date and time such as 15/03/2569 09:00 (Asia/Bangkok; พ.ศ. or ค.ศ.)"
        )
    day = parse_date(match[1])
    hour, minute = int(match[2]), int(match[3])
    if hour > 23 or minute > 59:
        raise ValueError("has no such time of day; use 00:00 to 23:59")
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)
    return local.astimezone(UTC)


def format_local(moment: datetime) -> str:
    """Asia/Bangkok time with a Buddhist-era year: "15/03/2569 09:00"."""
    local = moment.astimezone(BANGKOK)
    return f"{local.day:02d}/{local.month:02d}/{local.year + BE_OFFSET} {local:%H:%M}"


def thai_long_date(moment: datetime) -> str:
    """ "15 มีนาคม 2569", as on an official document."""
    local = moment.astimezone(BANGKOK)
    return f"{local.day} {THAI_MONTHS[local.month - 1]} {local.year + BE_OFFSET}"


def local_day_start(day: date) -> datetime:
    """00:00 in Bangkok of a day, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=BANGKOK).astimezone(UTC)


def to_minutes(violations: FieldViolations, field_name: str, hours: float) -> int:
    """Hours as whole minutes (stored exactly); 0 for a violation."""
    if not math.isfinite(hours) or hours < 0:
        violations.add(field_name, "must be a number of hours, 0 or more")
        return 0
    if hours > 1000:
        violations.add(field_name, "must be at most 1000 hours")
        return 0
    return round(hours * 60)


def hours_of(minutes: int) -> float:
    return minutes / 60


# --- checks shared by several requests ---------------------------------------------


# --- trainers and sessions ----------------------------------------------------------


@dataclass(frozen=True)
class Trainer:
    name_th: str
    organisation_th: str
    role: int
    member_id: str = ""


def validate_trainer(
    v: FieldViolations, prefix: str, trainer: training_pb2.Trainer, *, allowed: set[int]
) -> Trainer:
    name = clean_text(v, f"{prefix}.name_th", trainer.name_th, required=True, limit=MAX_TITLE)
    organisation = clean_text(
        v, f"{prefix}.organisation_th", trainer.organisation_th, required=False, limit=MAX_TITLE
    )
    if trainer.role not in allowed:
        names = ", ".join(sorted(Role.Name(Role.ValueType(r)) for r in allowed))
        v.add(f"{prefix}.role", f"must be one of {names}")
    member_id = trainer.member_id.strip()
    if trainer.role == training_pb2.TRAINER_ROLE_MENTOR and not member_id:
        v.add(f"{prefix}.member_id", "is required for a mentor: the mentoring member's id")
    elif member_id and trainer.role != training_pb2.TRAINER_ROLE_MENTOR:
        v.add(f"{prefix}.member_id", "is only for a mentor (TRAINER_ROLE_MENTOR)")
    elif len(member_id) > 64:
        v.add(f"{prefix}.member_id", "is not a valid id")
    return Trainer(name, organisation, trainer.role, member_id)


@dataclass(frozen=True)
class SessionPlan:
    """A validated ScheduleSession request."""

    province_code: str
    kind: int
    title_th: str
    title_en: str
    description_th: str
    target_cluster_codes: list[str]
    venue_th: str
    online_url: str
    start_at: datetime
    end_at: datetime
    trainers: list[Trainer]
    capacity: int
    minutes: int
    completion_minutes: int

    @property
    def mentor_member_id(self) -> str:
        return next(
            (t.member_id for t in self.trainers if t.role == training_pb2.TRAINER_ROLE_MENTOR), ""
        )


def _time_of(
    v: FieldViolations,
    ts_field: str,
    text_field: str,
    has_ts: bool,
    ts: Timestamp,
    text: str,
) -> datetime | None:
    if has_ts and text.strip():
        v.add(text_field, f"give {ts_field} or {text_field}, not both")
        return None
    if text.strip():
        try:
            return parse_local_datetime(text)
        except ValueError as err:
            v.add(text_field, str(err))
            return None
    if has_ts:
        try:
            return ts.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            v.add(ts_field, "is out of range")
            return None
    v.add(ts_field, f"is required (or {text_field} as Bangkok time, e.g. 15/03/2569 09:00)")
    return None


def validate_schedule(
    request: training_service_pb2.ScheduleSessionRequest, now: datetime
) -> SessionPlan:
    """Every field of a ScheduleSession request checked at once."""
    v = FieldViolations()
    check_province(v, "province_code", request.province_code)
    kind = request.kind
    if kind == 0 or kind not in Kind.values():
        v.add(
            "kind",
            "is required: seminar, workshop, consultation, peer mentoring, brainstorming or "
            "product development",
        )
    title_th = clean_text(v, "title_th", request.title_th, required=True, limit=MAX_TITLE)
    title_en = clean_text(v, "title_en", request.title_en, required=False, limit=MAX_TITLE)
    description = clean_text(
        v, "description_th", request.description_th, required=False, limit=MAX_TEXT, multiline=True
    )
    clusters: list[str] = []
    if len(request.target_cluster_codes) > MAX_CLUSTERS:
        v.add("target_cluster_codes", f"at most {MAX_CLUSTERS} clusters")
    for i, raw in enumerate(request.target_cluster_codes[:MAX_CLUSTERS]):
        code = raw.strip()
        if not CLUSTER_CODE.match(code):
            v.add(f"target_cluster_codes[{i}]", "is not a cluster code such as textiles")
        elif code in clusters:
            v.add(f"target_cluster_codes[{i}]", f"{code!r} is listed twice")
        else:
            clusters.append(code)
    venue = clean_text(v, "venue_th", request.venue_th, required=False, limit=MAX_TITLE)
    online_url = request.online_url.strip()
    if online_url and (len(online_url) > MAX_URL or not URL.match(online_url)):
        v.add("online_url", "must be an http:// or https:// link")
    if not venue and not online_url:
        v.add("venue_th", "give a venue, an online_url, or both")
    start = _time_of(
        v,
        "start_time",
        "local_start",
        request.HasField("start_time"),
        request.start_time,
        request.local_start,
    )
    end = _time_of(
        v,
        "end_time",
        "local_end",
        request.HasField("end_time"),
        request.end_time,
        request.local_end,
    )
    end_field = "local_end" if request.local_end.strip() else "end_time"
    if start is not None and start <= now:
        v.add(
            "local_start" if request.local_start.strip() else "start_time", "must be in the future"
        )
    if start is not None and end is not None:
        if end <= start:
            v.add(end_field, "must be after the start")
        elif end - start > MAX_DURATION:
            v.add(end_field, "a session lasts at most 31 days; schedule a programme as sessions")
    capacity = request.capacity
    if capacity <= 0:
        v.add("capacity", "must be at least 1 seat")
    elif capacity > MAX_CAPACITY:
        v.add("capacity", f"must be at most {MAX_CAPACITY} seats")
    elif kind in SMALL_GROUP_KINDS and capacity > SMALL_GROUP:
        v.add("capacity", f"a consultation or mentoring session is for at most {SMALL_GROUP}")
    minutes = to_minutes(v, "hours", request.hours)
    if request.hours == 0:
        v.add("hours", "is required: the hours of training the session gives")
    elif minutes and start is not None and end is not None and end > start:
        if timedelta(minutes=minutes) > end - start:
            v.add("hours", "is more than the time between start and end")
    completion = to_minutes(v, "completion_hours", request.completion_hours) or minutes
    if minutes and completion > minutes:
        v.add("completion_hours", "cannot be more than the session's hours")
    trainers = _validate_trainers(v, kind, request.trainers)
    v.raise_if_any()
    assert start is not None and end is not None
    return SessionPlan(
        province_code=request.province_code,
        kind=kind,
        title_th=title_th,
        title_en=title_en,
        description_th=description,
        target_cluster_codes=clusters,
        venue_th=venue,
        online_url=online_url,
        start_at=start,
        end_at=end,
        trainers=trainers,
        capacity=capacity,
        minutes=minutes,
        completion_minutes=completion,
    )


def _validate_trainers(
    v: FieldViolations, kind: int, trainers: Iterable[training_pb2.Trainer]
) -> list[Trainer]:
    items = list(trainers)
    if len(items) > MAX_TRAINERS:
        v.add("trainers", f"at most {MAX_TRAINERS} trainers")
    allowed = {int(r) for r in Role.values() if r != 0}
    result = [
        validate_trainer(v, f"trainers[{i}]", t, allowed=allowed)
        for i, t in enumerate(items[:MAX_TRAINERS])
    ]
    mentors = [t for t in result if t.role == training_pb2.TRAINER_ROLE_MENTOR]
    if kind == training_pb2.SESSION_KIND_PEER_MENTORING and len(mentors) != 1:
        v.add("trainers", "a peer-mentoring session has exactly one mentor (TRAINER_ROLE_MENTOR)")
    elif kind != training_pb2.SESSION_KIND_PEER_MENTORING and mentors:
        v.add("trainers", "a mentor (TRAINER_ROLE_MENTOR) leads peer-mentoring sessions only")
    if kind == training_pb2.SESSION_KIND_PRODUCT_DEVELOPMENT and not any(
        t.role == training_pb2.TRAINER_ROLE_DESIGNER for t in result
    ):
        v.add("trainers", "a product-development workshop needs a designer (TRAINER_ROLE_DESIGNER)")
    return result


def require_known_clusters(plan: SessionPlan, network_clusters: set[str]) -> None:
    """The target clusters must be clusters of the province's network."""
    v = FieldViolations()
    for i, code in enumerate(plan.target_cluster_codes):
        if code not in network_clusters:
            v.add(
                f"target_cluster_codes[{i}]",
                f"{plan.province_code} has no cluster {code!r}; its clusters are "
                f"{', '.join(sorted(network_clusters)) or 'none yet'}",
            )
    v.raise_if_any()


@dataclass
class Session:
    session_id: str
    province_code: str
    kind: int
    title_th: str
    title_en: str
    description_th: str
    target_cluster_codes: list[str]
    venue_th: str
    online_url: str
    start_at: datetime
    end_at: datetime
    trainers: list[Trainer]
    capacity: int
    minutes: int
    completion_minutes: int
    status: int
    created_at: datetime
    cancel_reason: str = ""
    events: list[Message] = field(default_factory=list, repr=False)

    @property
    def mentor_member_id(self) -> str:
        return next(
            (t.member_id for t in self.trainers if t.role == training_pb2.TRAINER_ROLE_MENTOR), ""
        )

    @staticmethod
    def schedule(plan: SessionPlan, now: datetime) -> Session:
        session = Session(
            session_id=new_id(),
            province_code=plan.province_code,
            kind=plan.kind,
            title_th=plan.title_th,
            title_en=plan.title_en,
            description_th=plan.description_th,
            target_cluster_codes=list(plan.target_cluster_codes),
            venue_th=plan.venue_th,
            online_url=plan.online_url,
            start_at=plan.start_at,
            end_at=plan.end_at,
            trainers=list(plan.trainers),
            capacity=plan.capacity,
            minutes=plan.minutes,
            completion_minutes=plan.completion_minutes,
            status=SCHEDULED,
            created_at=now,
        )
        session.events.append(
            events_pb2.SessionScheduled(
                session_id=session.session_id,
                province_code=session.province_code,
                kind=session.kind,  # type: ignore[arg-type]
                title_th=session.title_th,
                target_cluster_codes=session.target_cluster_codes,
                start_time=to_timestamp(session.start_at),
                end_time=to_timestamp(session.end_at),
                capacity=session.capacity,
                hours=hours_of(session.minutes),
                completion_hours=hours_of(session.completion_minutes),
                online=bool(session.online_url),
                mentor_member_id=session.mentor_member_id,
                occurred_at=to_timestamp(now),
            )
        )
        return session

    def has_started(self, now: datetime) -> bool:
        return now >= self.start_at

    def is_open_to(self, cluster_code: str) -> bool:
        return not self.target_cluster_codes or cluster_code in self.target_cluster_codes

    def require_enrollable(self, now: datetime, field_name: str = "session_id") -> None:
        if self.status == SESSION_CANCELLED:
            raise FailedPrecondition("the session was cancelled", field=field_name)
        if self.has_started(now):
            raise FailedPrecondition(
                f"the session started at {format_local(self.start_at)}; enrolment is closed",
                field=field_name,
            )

    def cancel(self, reason: str, enrollments: list[Enrollment], now: datetime) -> None:
        """Cancel a session that has not started, and every place held in it."""
        if self.status == SESSION_CANCELLED:
            raise FailedPrecondition("the session is already cancelled", field="session_id")
        if self.has_started(now):
            raise FailedPrecondition(
                "the session has already started; it can no longer be cancelled",
                field="session_id",
            )
        self.status, self.cancel_reason = SESSION_CANCELLED, reason
        active = [e for e in enrollments if e.status in (CONFIRMED, WAITLISTED)]
        self.events.append(
            events_pb2.SessionCancelled(
                session_id=self.session_id,
                province_code=self.province_code,
                reason=reason,
                cancelled_enrollments=len(active),
                occurred_at=to_timestamp(now),
            )
        )
        for enrollment in active:
            enrollment.cancel(BY_SESSION, now)


# --- enrolment --------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFacts:
    """What membership told us about a member just now (GetMember)."""

    member_id: str
    province_code: str
    cluster_code: str
    business_name_th: str
    active: bool
    status_name: str
    updated_at: datetime | None = None


def targeting_cluster(member: MemberFacts, known_cluster: str, known_at: datetime | None) -> str:
    """The cluster targeting checks use: what membership's events last told training,
    unless membership's answer just now is newer (its event is still on the way)."""
    if not known_cluster or known_at is None:
        return member.cluster_code
    if member.updated_at is not None and member.updated_at > known_at:
        return member.cluster_code
    return known_cluster


def require_may_enrol(session: Session, member: MemberFacts, cluster_code: str) -> None:
    """Only active members of the session's province network, in a targeted cluster."""
    if not member.active:
        raise FailedPrecondition(
            f"only active members may enrol; member {member.member_id} is {member.status_name}",
            field="member_id",
        )
    if member.province_code != session.province_code:
        raise FailedPrecondition(
            f"member {member.member_id} belongs to the {member.province_code} network; the "
            f"session is for {session.province_code} members",
            field="member_id",
        )
    if not session.is_open_to(cluster_code):
        raise FailedPrecondition(
            f"the session is for the {', '.join(session.target_cluster_codes)} cluster(s); "
            f"member {member.member_id} is in {cluster_code!r}",
            field="member_id",
        )
    if member.member_id == session.mentor_member_id:
        raise FailedPrecondition(
            f"member {member.member_id} is the mentor of this session", field="member_id"
        )


@dataclass
class Enrollment:
    enrollment_id: str
    session_id: str
    province_code: str
    member_id: str
    business_name_th: str
    cluster_code: str
    status: int
    waitlist_position: int
    attended_minutes: int
    enrolled_at: datetime
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: int = 0
    completed_at: datetime | None = None
    certificate_no: str = ""
    events: list[Message] = field(default_factory=list, repr=False)

    @staticmethod
    def enrol(
        session: Session,
        member: MemberFacts,
        cluster_code: str,
        seats_taken: int,
        last_position: int,
        now: datetime,
    ) -> Enrollment:
        """A seat while one is free, else the place after the last one on the waitlist.

        `seats_taken` and `last_position` must be read in the same transaction, with no
        other enrolment in between: the writer runs one operation at a time.
        """
        session.require_enrollable(now)
        require_may_enrol(session, member, cluster_code)
        seat = seats_taken < session.capacity
        enrollment = Enrollment(
            enrollment_id=new_id(),
            session_id=session.session_id,
            province_code=session.province_code,
            member_id=member.member_id,
            business_name_th=member.business_name_th,
            cluster_code=cluster_code,
            status=CONFIRMED if seat else WAITLISTED,
            waitlist_position=0 if seat else last_position + 1,
            attended_minutes=0,
            enrolled_at=now,
            confirmed_at=now if seat else None,
        )
        if seat:
            enrollment.events.append(
                events_pb2.EnrollmentConfirmed(
                    enrollment_id=enrollment.enrollment_id,
                    session_id=session.session_id,
                    province_code=session.province_code,
                    member_id=member.member_id,
                    cluster_code=cluster_code,
                    kind=session.kind,  # type: ignore[arg-type]
                    occurred_at=to_timestamp(now),
                )
            )
        else:
            enrollment.events.append(
                events_pb2.EnrollmentWaitlisted(
                    enrollment_id=enrollment.enrollment_id,
                    session_id=session.session_id,
                    province_code=session.province_code,
                    member_id=member.member_id,
                    cluster_code=cluster_code,
                    waitlist_position=enrollment.waitlist_position,
                    occurred_at=to_timestamp(now),
                )
            )
        return enrollment

    def _require(self, allowed: tuple[int, ...], action: str) -> None:
        if self.status not in allowed:
            wanted = " or ".join(ENROLLMENT_NAMES[s] for s in allowed)
            raise FailedPrecondition(
                f"cannot {action} an enrolment that is {ENROLLMENT_NAMES[self.status]}; "
                f"it must be {wanted}",
                field="member_id",
            )

    def cancel(self, reason: int, now: datetime) -> None:
        self._require((CONFIRMED, WAITLISTED), "cancel")
        previous = self.status
        self.status, self.cancelled_at, self.cancellation_reason = CANCELLED, now, reason
        self.events.append(
            events_pb2.EnrollmentCancelled(
                enrollment_id=self.enrollment_id,
                session_id=self.session_id,
                province_code=self.province_code,
                member_id=self.member_id,
                previous_status=previous,  # type: ignore[arg-type]
                reason=reason,  # type: ignore[arg-type]
                occurred_at=to_timestamp(now),
            )
        )

    def promote(self, now: datetime) -> None:
        self._require((WAITLISTED,), "promote")
        self.status, self.confirmed_at = CONFIRMED, now
        self.events.append(
            events_pb2.WaitlistPromoted(
                enrollment_id=self.enrollment_id,
                session_id=self.session_id,
                province_code=self.province_code,
                member_id=self.member_id,
                waitlist_position=self.waitlist_position,
                occurred_at=to_timestamp(now),
            )
        )

    def record_attendance(self, session: Session, minutes: int, now: datetime) -> None:
        """Check-in: `minutes` attended (0: the session's full hours)."""
        self._require((CONFIRMED,), "record attendance for")
        if session.status == SESSION_CANCELLED:
            raise FailedPrecondition("the session was cancelled", field="session_id")
        if now < session.start_at - CHECK_IN_OPENS:
            raise FailedPrecondition(
                f"check-in opens two hours before the start ({format_local(session.start_at)})",
                field="session_id",
            )
        minutes = minutes or session.minutes - self.attended_minutes
        if minutes <= 0 or self.attended_minutes + minutes > session.minutes:
            left = hours_of(session.minutes - self.attended_minutes)
            raise FailedPrecondition(
                f"the session gives {hours_of(session.minutes):g} hours and "
                f"{hours_of(self.attended_minutes):g} are recorded; at most {left:g} more",
                field="hours",
            )
        self.attended_minutes += minutes
        self.events.append(
            events_pb2.AttendanceRecorded(
                enrollment_id=self.enrollment_id,
                session_id=self.session_id,
                province_code=self.province_code,
                member_id=self.member_id,
                hours=hours_of(minutes),
                attended_hours=hours_of(self.attended_minutes),
                occurred_at=to_timestamp(now),
            )
        )

    def complete(self, session: Session, certificate_no: str, now: datetime) -> None:
        self._require((CONFIRMED,), "complete")
        if self.attended_minutes < session.completion_minutes:
            short = hours_of(session.completion_minutes - self.attended_minutes)
            raise FailedPrecondition(
                f"attended {hours_of(self.attended_minutes):g} of the "
                f"{hours_of(session.completion_minutes):g} hours needed; {short:g} hours short",
                field="member_id",
            )
        self.status, self.completed_at, self.certificate_no = COMPLETED, now, certificate_no
        self.events.append(
            events_pb2.TrainingCompleted(
                enrollment_id=self.enrollment_id,
                session_id=self.session_id,
                province_code=self.province_code,
                member_id=self.member_id,
                cluster_code=self.cluster_code,
                kind=session.kind,  # type: ignore[arg-type]
                hours=hours_of(session.minutes),
                certificate_no=certificate_no,
                occurred_at=to_timestamp(now),
            )
        )


def withdraw(
    enrollment: Enrollment, reason: int, next_in_line: Enrollment | None, now: datetime
) -> Enrollment | None:
    """Cancel an enrolment; a freed seat goes to the first on the waitlist in the same step.

    Returns the promoted enrolment, if any.
    """
    freed = enrollment.status == CONFIRMED
    enrollment.cancel(reason, now)
    if freed and next_in_line is not None:
        next_in_line.promote(now)
        return next_in_line
    return None


def require_cancellable(session: Session, now: datetime) -> None:
    if session.has_started(now):
        raise FailedPrecondition(
            "the session has started; an enrolment can no longer be cancelled", field="session_id"
        )


def certificate_number(province_code: str, completed_at: datetime, serial: int) -> str:
    """ "TH-41-2569-000123": province, Buddhist-era year, a serial unique in the service."""
    year = completed_at.astimezone(BANGKOK).year + BE_OFFSET
    return f"{province_code}-{year}-{serial:06d}"


# --- product-development projects ---------------------------------------------------


@dataclass(frozen=True)
class ProductFacts:
    product_name_th: str
    unit_price_satang: int
    packaging_th: str
    photo_refs: list[str]

    def to_proto(self) -> training_pb2.ProductFacts:
        return training_pb2.ProductFacts(
            product_name_th=self.product_name_th,
            unit_price=common_pb2.Money(satang=self.unit_price_satang, currency_code="THB"),
            packaging_th=self.packaging_th,
            photo_refs=self.photo_refs,
        )


def validate_product_facts(
    v: FieldViolations, prefix: str, facts: training_pb2.ProductFacts
) -> ProductFacts:
    name = clean_text(
        v, f"{prefix}.product_name_th", facts.product_name_th, required=True, limit=MAX_TITLE
    )
    if facts.unit_price.currency_code not in ("", "THB"):
        v.add(f"{prefix}.unit_price.currency_code", "must be THB")
    if facts.unit_price.satang <= 0:
        v.add(f"{prefix}.unit_price.satang", "is required: the price of one unit, in satang")
    packaging = clean_text(
        v, f"{prefix}.packaging_th", facts.packaging_th, required=False, limit=MAX_TEXT
    )
    if len(facts.photo_refs) > MAX_PHOTOS:
        v.add(f"{prefix}.photo_refs", f"at most {MAX_PHOTOS} photos")
    photos = []
    for i, ref in enumerate(facts.photo_refs[:MAX_PHOTOS]):
        ref = ref.strip()
        if not ref or len(ref) > MAX_URL or has_control_characters(ref):
            v.add(f"{prefix}.photo_refs[{i}]", "must be a link or storage key of a photo")
        photos.append(ref)
    return ProductFacts(name, facts.unit_price.satang, packaging, photos)


@dataclass
class ProductProject:
    project_id: str
    province_code: str
    member_id: str
    business_name_th: str
    session_id: str
    designer: Trainer
    stage: int
    brief_th: str
    before: ProductFacts
    started_at: datetime
    updated_at: datetime
    prototype_note_th: str = ""
    final_note_th: str = ""
    after: ProductFacts | None = None
    outcome: int = 0
    outcome_note_th: str = ""
    completed_at: datetime | None = None
    events: list[Message] = field(default_factory=list, repr=False)

    @staticmethod
    def start(
        member: MemberFacts,
        session: Session | None,
        session_seat: bool,
        designer: Trainer,
        brief_th: str,
        before: ProductFacts,
        now: datetime,
    ) -> ProductProject:
        """A selected member of the network paired with a designer, at the brief."""
        if not member.active:
            raise FailedPrecondition(
                f"only an active member can start a project; member {member.member_id} is "
                f"{member.status_name}",
                field="member_id",
            )
        if session is not None:
            if session.kind != training_pb2.SESSION_KIND_PRODUCT_DEVELOPMENT:
                raise FailedPrecondition("is not a product-development session", field="session_id")
            if session.province_code != member.province_code:
                raise FailedPrecondition(
                    f"the session is in {session.province_code}; the member in "
                    f"{member.province_code}",
                    field="session_id",
                )
            if not session_seat:
                raise FailedPrecondition(
                    f"member {member.member_id} holds no seat in this session; select from "
                    "its participants",
                    field="member_id",
                )
        project = ProductProject(
            project_id=new_id(),
            province_code=member.province_code,
            member_id=member.member_id,
            business_name_th=member.business_name_th,
            session_id=session.session_id if session else "",
            designer=designer,
            stage=training_pb2.PROJECT_STAGE_BRIEF,
            brief_th=brief_th,
            before=before,
            started_at=now,
            updated_at=now,
        )
        project.events.append(
            events_pb2.ProductProjectStarted(
                project_id=project.project_id,
                province_code=project.province_code,
                member_id=project.member_id,
                session_id=project.session_id,
                before=before.to_proto(),
                occurred_at=to_timestamp(now),
            )
        )
        return project

    def advance(self, stage: int, note: str, now: datetime) -> None:
        """brief -> prototype -> final, one step at a time."""
        expected = NEXT_STAGE.get(self.stage)
        if expected is None:
            raise FailedPrecondition(
                f"the project is at {STAGE_NAMES[self.stage]}; it cannot move on", field="stage"
            )
        if stage != expected:
            raise FailedPrecondition(
                f"the project is at {STAGE_NAMES[self.stage]}; the next stage is "
                f"{Stage.Name(Stage.ValueType(expected))}",
                field="stage",
            )
        self.stage, self.updated_at = stage, now
        if stage == training_pb2.PROJECT_STAGE_PROTOTYPE:
            self.prototype_note_th = note
        else:
            self.final_note_th = note

    def complete(self, after: ProductFacts, outcome: int, note: str, now: datetime) -> None:
        if self.stage != training_pb2.PROJECT_STAGE_FINAL:
            raise FailedPrecondition(
                f"the project is at {STAGE_NAMES[self.stage]}; complete it from the final stage",
                field="project_id",
            )
        self.stage, self.after, self.outcome = training_pb2.PROJECT_STAGE_COMPLETED, after, outcome
        self.outcome_note_th, self.completed_at, self.updated_at = note, now, now
        self.events.append(
            events_pb2.ProductProjectCompleted(
                project_id=self.project_id,
                province_code=self.province_code,
                member_id=self.member_id,
                session_id=self.session_id,
                before=self.before.to_proto(),
                after=after.to_proto(),
                outcome=outcome,  # type: ignore[arg-type]
                occurred_at=to_timestamp(now),
            )
        )
