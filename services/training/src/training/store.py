"""Training tables and queries.

Seats are counted, and waitlist places handed out, inside the writer's one
operation at a time, so these queries need no locks of their own. The `training_member`
table is training's own copy of what membership's events say about a member
(province, cluster, status); training never reads membership's tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bizclub_shared import paging
from bizclub_shared.db import UTCDateTime
from bizclub_shared.errors import InvalidArgument, NotFound
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent
from sqlalchemy import JSON, Column, Index, and_, exists, func, or_, select, text
from sqlalchemy.orm import Session as DbSession
from sqlmodel import Field, SQLModel, col

from training import domain


class SessionRow(SQLModel, table=True):
    __tablename__ = "training_session"
    __table_args__ = (Index("ix_session_province_start", "province_code", "start_at", "id"),)
    # The integer id breaks ties in listings and cursors; session_id is the public id.
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    kind: int
    title_th: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    description_th: str = Field(default="")
    # Empty list: every cluster. The same codes are in session_cluster for filtering.
    target_cluster_codes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    all_clusters: bool = True
    venue_th: str = Field(default="", max_length=200)
    online_url: str = Field(default="", max_length=500)
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    trainers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    capacity: int
    minutes: int
    completion_minutes: int
    status: int
    cancel_reason: str = Field(default="", max_length=1000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SessionClusterRow(SQLModel, table=True):
    __tablename__ = "training_session_cluster"
    session_id: str = Field(primary_key=True, foreign_key="training_session.session_id")
    cluster_code: str = Field(primary_key=True, max_length=40, index=True)


class EnrollmentRow(SQLModel, table=True):
    __tablename__ = "enrollment"
    __table_args__ = (
        # One place per member per session; a cancelled one does not count, so the member
        # may enrol again.
        Index(
            "ux_enrollment_session_member_holding",
            "session_id",
            "member_id",
            unique=True,
            sqlite_where=text(f"status != {domain.CANCELLED}"),
            postgresql_where=text(f"status != {domain.CANCELLED}"),
        ),
        Index("ix_enrollment_session_status", "session_id", "status", "waitlist_position"),
    )
    # The order enrolments were written in: the order they reached the writer.
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: str = Field(max_length=36, unique=True)
    session_id: str = Field(foreign_key="training_session.session_id", max_length=36)
    province_code: str = Field(max_length=10)
    member_id: str = Field(max_length=64, index=True)
    business_name_th: str = Field(max_length=200)
    cluster_code: str = Field(max_length=40)
    status: int
    waitlist_position: int = 0
    attended_minutes: int = 0
    enrolled_at: datetime = Field(sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancellation_reason: int = 0
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    certificate_no: str = Field(default="", max_length=40)


class AttendanceRow(SQLModel, table=True):
    """Each check-in, so an officer can see when the hours were recorded."""

    __tablename__ = "training_attendance"
    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: str = Field(foreign_key="enrollment.enrollment_id", index=True, max_length=36)
    minutes: int
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class MemberRefRow(SQLModel, table=True):
    """A member as membership's events describe them (no contact data)."""

    __tablename__ = "training_member"
    member_id: str = Field(primary_key=True, max_length=64)
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(max_length=40)
    status: str = Field(max_length=20)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ProjectRow(SQLModel, table=True):
    __tablename__ = "product_project"
    __table_args__ = (Index("ix_project_province", "province_code", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    member_id: str = Field(max_length=64, index=True)
    business_name_th: str = Field(max_length=200)
    session_id: str = Field(default="", max_length=36)
    designer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stage: int
    brief_th: str = Field(default="")
    prototype_note_th: str = Field(default="")
    final_note_th: str = Field(default="")
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    outcome: int = 0
    outcome_note_th: str = Field(default="")
    started_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


TABLES = [
    SessionRow,
    SessionClusterRow,
    EnrollmentRow,
    AttendanceRow,
    MemberRefRow,
    ProjectRow,
    OutboxEvent,
    InboxEntry,
]


# --- sessions -----------------------------------------------------------------------


def trainer_to_json(trainer: domain.Trainer) -> dict[str, Any]:
    return dict(trainer.__dict__)


def trainer_from_json(data: dict[str, Any]) -> domain.Trainer:
    return domain.Trainer(**data)


def insert_session(db: DbSession, session: domain.Session) -> SessionRow:
    row = SessionRow(
        session_id=session.session_id,
        province_code=session.province_code,
        kind=session.kind,
        title_th=session.title_th,
        title_en=session.title_en,
        description_th=session.description_th,
        target_cluster_codes=session.target_cluster_codes,
        all_clusters=not session.target_cluster_codes,
        venue_th=session.venue_th,
        online_url=session.online_url,
        start_at=session.start_at,
        end_at=session.end_at,
        trainers=[trainer_to_json(t) for t in session.trainers],
        capacity=session.capacity,
        minutes=session.minutes,
        completion_minutes=session.completion_minutes,
        status=session.status,
        created_at=session.created_at,
        updated_at=session.created_at,
    )
    db.add(row)
    db.flush()  # the session row must exist before its cluster rows (foreign key)
    for code in session.target_cluster_codes:
        db.add(SessionClusterRow(session_id=session.session_id, cluster_code=code))
    return row


def to_session(row: SessionRow) -> domain.Session:
    return domain.Session(
        session_id=row.session_id,
        province_code=row.province_code,
        kind=row.kind,
        title_th=row.title_th,
        title_en=row.title_en,
        description_th=row.description_th,
        target_cluster_codes=list(row.target_cluster_codes),
        venue_th=row.venue_th,
        online_url=row.online_url,
        start_at=row.start_at,
        end_at=row.end_at,
        trainers=[trainer_from_json(t) for t in row.trainers],
        capacity=row.capacity,
        minutes=row.minutes,
        completion_minutes=row.completion_minutes,
        status=row.status,
        created_at=row.created_at,
        cancel_reason=row.cancel_reason,
    )


def session_row(db: DbSession, session_id: str, field: str = "session_id") -> SessionRow:
    row = db.execute(
        select(SessionRow).where(col(SessionRow.session_id) == session_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no session with id {session_id!r}", field=field)
    return row


def seat_counts(db: DbSession, session_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """{session_id: (seats taken, waitlisted)}; completed enrolments keep their seat."""
    if not session_ids:
        return {}
    rows = db.execute(
        select(col(EnrollmentRow.session_id), col(EnrollmentRow.status), func.count())
        .where(
            col(EnrollmentRow.session_id).in_(session_ids),
            col(EnrollmentRow.status) != domain.CANCELLED,
        )
        .group_by(col(EnrollmentRow.session_id), col(EnrollmentRow.status))
    ).all()
    counts = {sid: (0, 0) for sid in session_ids}
    for session_id, status, count in rows:
        seats, waiting = counts[session_id]
        if status == domain.WAITLISTED:
            waiting += count
        else:
            seats += count
        counts[session_id] = (seats, waiting)
    return counts


def last_waitlist_position(db: DbSession, session_id: str) -> int:
    """The highest place ever handed out in this session's queue (places are never reused)."""
    return int(
        db.execute(
            select(func.coalesce(func.max(col(EnrollmentRow.waitlist_position)), 0)).where(
                col(EnrollmentRow.session_id) == session_id
            )
        ).scalar_one()
    )


def first_waitlisted(db: DbSession, session_id: str) -> EnrollmentRow | None:
    return db.execute(
        select(EnrollmentRow)
        .where(
            col(EnrollmentRow.session_id) == session_id,
            col(EnrollmentRow.status) == domain.WAITLISTED,
        )
        .order_by(col(EnrollmentRow.waitlist_position))
        .limit(1)
    ).scalar_one_or_none()


# --- enrolments ---------------------------------------------------------------------


def to_enrollment(row: EnrollmentRow) -> domain.Enrollment:
    return domain.Enrollment(
        enrollment_id=row.enrollment_id,
        session_id=row.session_id,
        province_code=row.province_code,
        member_id=row.member_id,
        business_name_th=row.business_name_th,
        cluster_code=row.cluster_code,
        status=row.status,
        waitlist_position=row.waitlist_position,
        attended_minutes=row.attended_minutes,
        enrolled_at=row.enrolled_at,
        confirmed_at=row.confirmed_at,
        cancelled_at=row.cancelled_at,
        cancellation_reason=row.cancellation_reason,
        completed_at=row.completed_at,
        certificate_no=row.certificate_no,
    )


def new_enrollment_row(enrollment: domain.Enrollment) -> EnrollmentRow:
    values = {k: v for k, v in enrollment.__dict__.items() if k != "events"}
    return EnrollmentRow(**values)


def apply_enrollment(enrollment: domain.Enrollment, row: EnrollmentRow) -> None:
    """Copy what a change may alter back onto the loaded row."""
    row.status = enrollment.status
    row.attended_minutes = enrollment.attended_minutes
    row.confirmed_at = enrollment.confirmed_at
    row.cancelled_at = enrollment.cancelled_at
    row.cancellation_reason = enrollment.cancellation_reason
    row.completed_at = enrollment.completed_at
    row.certificate_no = enrollment.certificate_no


def holding_enrollment(db: DbSession, session_id: str, member_id: str) -> EnrollmentRow | None:
    """The member's place in the session (confirmed, waitlisted or completed), if any."""
    return db.execute(
        select(EnrollmentRow).where(
            col(EnrollmentRow.session_id) == session_id,
            col(EnrollmentRow.member_id) == member_id,
            col(EnrollmentRow.status) != domain.CANCELLED,
        )
    ).scalar_one_or_none()


def current_enrollment(db: DbSession, session_id: str, member_id: str) -> EnrollmentRow:
    """The member's place in the session, else their latest cancelled one; NotFound if none."""
    row = db.execute(
        select(EnrollmentRow)
        .where(
            col(EnrollmentRow.session_id) == session_id,
            col(EnrollmentRow.member_id) == member_id,
        )
        .order_by((col(EnrollmentRow.status) == domain.CANCELLED), col(EnrollmentRow.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"member {member_id} is not enrolled in this session", field="member_id")
    return row


def upcoming_places_of(db: DbSession, member_id: str, now: datetime) -> list[EnrollmentRow]:
    """The member's confirmed and waitlisted places in sessions that have not started."""
    return list(
        db.execute(
            select(EnrollmentRow)
            .join(SessionRow, col(SessionRow.session_id) == col(EnrollmentRow.session_id))
            .where(
                col(EnrollmentRow.member_id) == member_id,
                col(EnrollmentRow.status).in_([domain.CONFIRMED, domain.WAITLISTED]),
                col(SessionRow.status) == domain.SCHEDULED,
                col(SessionRow.start_at) > now,
            )
            .order_by(col(EnrollmentRow.id))
        ).scalars()
    )


def session_enrollments(db: DbSession, session_id: str) -> list[EnrollmentRow]:
    """Every enrolment of a session, in the order they were made."""
    return list(
        db.execute(
            select(EnrollmentRow)
            .where(col(EnrollmentRow.session_id) == session_id)
            .order_by(col(EnrollmentRow.id))
        ).scalars()
    )


def member_history(db: DbSession, member_id: str) -> list[tuple[EnrollmentRow, SessionRow]]:
    rows = db.execute(
        select(EnrollmentRow, SessionRow)
        .join(SessionRow, col(SessionRow.session_id) == col(EnrollmentRow.session_id))
        .where(col(EnrollmentRow.member_id) == member_id)
        .order_by(col(SessionRow.start_at).desc(), col(EnrollmentRow.id).desc())
    ).all()
    return [(e, s) for e, s in rows]


# --- what membership's events told us -------------------------------------------------


def member_ref(db: DbSession, member_id: str) -> MemberRefRow | None:
    return db.get(MemberRefRow, member_id)


def remember_member(
    db: DbSession,
    member_id: str,
    moment: datetime,
    *,
    province_code: str | None = None,
    cluster_code: str | None = None,
    status: str | None = None,
) -> None:
    """Upsert what an event says about a member; fields left None stay as they were."""
    row = db.get(MemberRefRow, member_id)
    if row is None:
        row = MemberRefRow(
            member_id=member_id,
            province_code=province_code or "",
            cluster_code=cluster_code or "",
            status=status or "",
            updated_at=moment,
        )
        db.add(row)
        return
    if moment < row.updated_at:
        return  # an older event delivered late (e.g. replayed from the dead-letter topic)
    if province_code is not None:
        row.province_code = province_code
    if cluster_code is not None:
        row.cluster_code = cluster_code
    if status is not None:
        row.status = status
    row.updated_at = moment


# --- listing with cursor paging -----------------------------------------------------


def list_sessions(
    db: DbSession,
    *,
    province_code: str,
    cluster_code: str,
    kind: int,
    starts_from: datetime | None,
    starts_before: datetime | None,
    include_cancelled: bool,
    size: int,
    page_token: str,
) -> tuple[list[SessionRow], str]:
    """Sessions in start order; `cluster_code` keeps those open to that cluster."""
    filters = json.dumps(
        [
            province_code,
            cluster_code,
            kind,
            starts_from.isoformat() if starts_from else "",
            starts_before.isoformat() if starts_before else "",
            include_cancelled,
        ]
    )
    after = paging.decode_cursor(page_token, filters, (str, int))
    conditions = []
    if after is not None:
        try:
            start, last_id = datetime.fromisoformat(str(after[0])), int(after[1])
        except (ValueError, IndexError):
            raise InvalidArgument(
                "is not a token this service issued", field="page.page_token"
            ) from None
        conditions.append(
            or_(
                col(SessionRow.start_at) > start,
                and_(col(SessionRow.start_at) == start, col(SessionRow.id) > last_id),
            )
        )
    if province_code:
        conditions.append(col(SessionRow.province_code) == province_code)
    if cluster_code:
        targeted = exists().where(
            col(SessionClusterRow.session_id) == col(SessionRow.session_id),
            col(SessionClusterRow.cluster_code) == cluster_code,
        )
        conditions.append(or_(col(SessionRow.all_clusters).is_(True), targeted))
    if kind:
        conditions.append(col(SessionRow.kind) == kind)
    if starts_from is not None:
        conditions.append(col(SessionRow.start_at) >= starts_from)
    if starts_before is not None:
        conditions.append(col(SessionRow.start_at) < starts_before)
    if not include_cancelled:
        conditions.append(col(SessionRow.status) == domain.SCHEDULED)
    rows = list(
        db.execute(
            select(SessionRow)
            .where(*conditions)
            .order_by(col(SessionRow.start_at), col(SessionRow.id))
            .limit(size + 1)
        ).scalars()
    )
    next_token = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_token = paging.encode_cursor([last.start_at.isoformat(), last.id or 0], filters)
    return rows, next_token


def has_sessions(db: DbSession, province_code: str) -> bool:
    found = db.execute(
        select(col(SessionRow.id)).where(col(SessionRow.province_code) == province_code).limit(1)
    ).first()
    return found is not None


# --- product-development projects ---------------------------------------------------


def facts_to_json(facts: domain.ProductFacts) -> dict[str, Any]:
    return {**facts.__dict__, "photo_refs": list(facts.photo_refs)}


def facts_from_json(data: dict[str, Any]) -> domain.ProductFacts:
    return domain.ProductFacts(**data)


def new_project_row(project: domain.ProductProject) -> ProjectRow:
    row = ProjectRow(
        project_id=project.project_id,
        province_code=project.province_code,
        member_id=project.member_id,
        business_name_th=project.business_name_th,
        session_id=project.session_id,
        designer=trainer_to_json(project.designer),
        stage=project.stage,
        brief_th=project.brief_th,
        before=facts_to_json(project.before),
        started_at=project.started_at,
        updated_at=project.updated_at,
    )
    apply_project(project, row)
    return row


def apply_project(project: domain.ProductProject, row: ProjectRow) -> None:
    row.stage = project.stage
    row.prototype_note_th = project.prototype_note_th
    row.final_note_th = project.final_note_th
    row.after = facts_to_json(project.after) if project.after else None
    row.outcome = project.outcome
    row.outcome_note_th = project.outcome_note_th
    row.updated_at = project.updated_at
    row.completed_at = project.completed_at


def to_project(row: ProjectRow) -> domain.ProductProject:
    return domain.ProductProject(
        project_id=row.project_id,
        province_code=row.province_code,
        member_id=row.member_id,
        business_name_th=row.business_name_th,
        session_id=row.session_id,
        designer=trainer_from_json(row.designer),
        stage=row.stage,
        brief_th=row.brief_th,
        before=facts_from_json(row.before),
        started_at=row.started_at,
        updated_at=row.updated_at,
        prototype_note_th=row.prototype_note_th,
        final_note_th=row.final_note_th,
        after=facts_from_json(row.after) if row.after else None,
        outcome=row.outcome,
        outcome_note_th=row.outcome_note_th,
        completed_at=row.completed_at,
    )


def project_row(db: DbSession, project_id: str) -> ProjectRow:
    row = db.execute(
        select(ProjectRow).where(col(ProjectRow.project_id) == project_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no product project with id {project_id!r}", field="project_id")
    return row


def list_projects(
    db: DbSession,
    *,
    province_codes: Sequence[str] | None,
    member_id: str,
    stage: int,
    size: int,
    page_token: str,
) -> tuple[list[ProjectRow], str]:
    filters = json.dumps([sorted(province_codes or []), member_id, stage])
    after = paging.decode_cursor(page_token, filters, (int,))
    conditions = []
    if after is not None:
        conditions.append(col(ProjectRow.id) > after[0])
    if province_codes is not None:
        conditions.append(col(ProjectRow.province_code).in_(province_codes))
    if member_id:
        conditions.append(col(ProjectRow.member_id) == member_id)
    if stage:
        conditions.append(col(ProjectRow.stage) == stage)
    rows = list(
        db.execute(
            select(ProjectRow).where(*conditions).order_by(col(ProjectRow.id)).limit(size + 1)
        ).scalars()
    )
    next_token = ""
    if len(rows) > size:
        rows = rows[:size]
        next_token = paging.encode_cursor([rows[-1].id or 0], filters)
    return rows, next_token
