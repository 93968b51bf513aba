"""Feedback tables and queries.

Table names start with `feedback_` (every service's tables share one SQLModel
metadata). `feedback_member` and `feedback_training_session` are feedback's own copy of
what membership's and training's events said; feedback never reads their tables.
Monthly reports keep every revision in `feedback_monthly_revision`; the report row
holds the current one.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from bizclub_shared import paging
from bizclub_shared.db import UTCDateTime
from bizclub_shared.errors import NotFound
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.unit_of_work import UnitOfWork
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Select,
    UniqueConstraint,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session as DbSession
from sqlmodel import Field, SQLModel, col

from feedback import domain


class MemberRow(SQLModel, table=True):
    """A member as membership's events describe them (no contact data)."""

    __tablename__ = "feedback_member"
    __table_args__ = (Index("ix_feedback_member_province", "province_code", "cluster_code"),)
    member_id: str = Field(primary_key=True, max_length=64)
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(max_length=40)
    status: str = Field(max_length=20)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TrainingSessionRow(SQLModel, table=True):
    """A training session as training's events describe it, for its satisfaction survey."""

    __tablename__ = "feedback_training_session"
    session_id: str = Field(primary_key=True, max_length=64)
    province_code: str = Field(max_length=10)
    title_th: str = Field(default="", max_length=200)


class TrainingParticipantRow(SQLModel, table=True):
    """A member who completed a training session (training's TrainingCompleted)."""

    __tablename__ = "feedback_training_participant"
    session_id: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(primary_key=True, max_length=64)
    completed_at: datetime = Field(sa_type=UTCDateTime)


class SurveyRow(SQLModel, table=True):
    __tablename__ = "feedback_survey"
    __table_args__ = (Index("ix_feedback_survey_province", "province_code", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    survey_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    audience: int
    cluster_code: str = Field(default="", max_length=40)
    # A training session has at most one survey made from its completions; an officer's
    # own survey of a session is not that one.
    session_id: str = Field(default="", max_length=64, index=True)
    from_training: bool = False
    title_th: str = Field(max_length=200)
    description_th: str = Field(default="")
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    opens_on: date
    closes_on: date
    published_at: datetime = Field(sa_type=UTCDateTime)


class SurveyRecipientRow(SQLModel, table=True):
    __tablename__ = "feedback_survey_recipient"
    survey_id: str = Field(primary_key=True, max_length=36, foreign_key="feedback_survey.survey_id")
    member_id: str = Field(primary_key=True, max_length=64, index=True)


class SurveyAnswerRow(SQLModel, table=True):
    __tablename__ = "feedback_survey_answer"
    # One answer per member per survey, whatever two concurrent calls do.
    __table_args__ = (UniqueConstraint("survey_id", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    survey_id: str = Field(max_length=36, foreign_key="feedback_survey.survey_id")
    member_id: str = Field(max_length=64)
    answers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    answered_at: datetime = Field(sa_type=UTCDateTime)


class IssueRow(SQLModel, table=True):
    __tablename__ = "feedback_issue"
    __table_args__ = (
        Index("ix_feedback_issue_province", "province_code", "id"),
        Index("ix_feedback_issue_level", "level", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    issue_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    member_id: str = Field(default="", max_length=64)
    reported_by: str = Field(max_length=64)
    category: int
    severity: int
    description_th: str
    status: int
    level: int
    reported_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_th: str = Field(default="")
    # Who did what and when: [{status, actor_id, note_th, at}], oldest first.
    history: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


class AnnouncementRow(SQLModel, table=True):
    __tablename__ = "feedback_announcement"
    id: int | None = Field(default=None, primary_key=True)
    announcement_id: str = Field(max_length=36, unique=True)
    from_province_code: str = Field(default="", max_length=10)
    # Empty: every province. The same codes are in feedback_announcement_province.
    province_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    national: bool
    cluster_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    title_th: str = Field(max_length=200)
    body_th: str
    published_at: datetime = Field(sa_type=UTCDateTime)


class AnnouncementProvinceRow(SQLModel, table=True):
    __tablename__ = "feedback_announcement_province"
    announcement_id: str = Field(
        primary_key=True, max_length=36, foreign_key="feedback_announcement.announcement_id"
    )
    province_code: str = Field(primary_key=True, max_length=10, index=True)


class AnnouncementReadRow(SQLModel, table=True):
    __tablename__ = "feedback_announcement_read"
    announcement_id: str = Field(
        primary_key=True, max_length=36, foreign_key="feedback_announcement.announcement_id"
    )
    member_id: str = Field(primary_key=True, max_length=64, index=True)
    read_at: datetime = Field(sa_type=UTCDateTime)


class MeetingRow(SQLModel, table=True):
    __tablename__ = "feedback_meeting"
    __table_args__ = (Index("ix_feedback_meeting_province", "province_code", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: str = Field(max_length=36, unique=True)
    province_code: str = Field(max_length=10)
    kind: int
    title_th: str = Field(max_length=200)
    cluster_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    venue_th: str = Field(default="", max_length=200)
    start_at: datetime = Field(sa_type=UTCDateTime)
    agenda_th: list[str] = Field(sa_column=Column(JSON, nullable=False))
    attendee_member_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: int
    minutes_th: str = Field(default="")
    decisions_th: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ActionItemRow(SQLModel, table=True):
    __tablename__ = "feedback_action_item"
    id: int | None = Field(default=None, primary_key=True)
    action_item_id: str = Field(max_length=36, unique=True)
    meeting_id: str = Field(max_length=36, foreign_key="feedback_meeting.meeting_id", index=True)
    province_code: str = Field(max_length=10)
    description_th: str
    owner_member_id: str = Field(default="", max_length=64)
    owner_th: str = Field(default="", max_length=200)
    due_on: date
    status: int
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MonthlyReportRow(SQLModel, table=True):
    __tablename__ = "feedback_monthly_report"
    # One report per member per month: the database holds to it under any concurrency.
    __table_args__ = (
        UniqueConstraint("member_id", "month"),
        Index("ix_feedback_report_province", "province_code", "month", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(max_length=36, unique=True)
    member_id: str = Field(max_length=64)
    # year * 100 + month, e.g. 202503.
    month: int
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(max_length=40)
    revision: int
    revenue_satang: int = Field(sa_type=BigInteger)
    sales_channels: list[int] = Field(sa_column=Column(JSON, nullable=False))
    employees: int
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class MonthlyRevisionRow(SQLModel, table=True):
    """Every revision of a report, the first included: a correction never overwrites."""

    __tablename__ = "feedback_monthly_revision"
    report_id: str = Field(
        primary_key=True, max_length=36, foreign_key="feedback_monthly_report.report_id"
    )
    revision: int = Field(primary_key=True)
    revenue_satang: int = Field(sa_type=BigInteger)
    sales_channels: list[int] = Field(sa_column=Column(JSON, nullable=False))
    employees: int
    reason_th: str = Field(default="")
    recorded_at: datetime = Field(sa_type=UTCDateTime)


TABLES = [
    MemberRow,
    TrainingSessionRow,
    TrainingParticipantRow,
    SurveyRow,
    SurveyRecipientRow,
    SurveyAnswerRow,
    IssueRow,
    AnnouncementRow,
    AnnouncementProvinceRow,
    AnnouncementReadRow,
    MeetingRow,
    ActionItemRow,
    MonthlyReportRow,
    MonthlyRevisionRow,
    OutboxEvent,
    InboxEntry,
]


def newest_first(
    db: DbSession,
    query: Select[Any],
    id_column: Any,
    *,
    filters: list[Any],
    size: int,
    page_token: str,
) -> tuple[list[Any], str]:
    """One page of `query`, newest (highest id) first, with a cursor for the next."""
    key = json.dumps(filters)
    after = paging.decode_cursor(page_token, key, (int,))
    if after is not None:
        query = query.where(id_column < after[0])
    rows = list(db.execute(query.order_by(id_column.desc()).limit(size + 1)).scalars())
    next_token = ""
    if len(rows) > size:
        rows = rows[:size]
        next_token = paging.encode_cursor([int(getattr(rows[-1], "id", 0) or 0)], key)
    return rows, next_token


# --- members and sessions, from events --------------------------------------------------


def member(db: DbSession, member_id: str) -> domain.MemberRef | None:
    row = db.get(MemberRow, member_id)
    if row is None:
        return None
    return domain.MemberRef(row.member_id, row.province_code, row.cluster_code, row.status)


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
    row = db.get(MemberRow, member_id)
    if row is None:
        db.add(
            MemberRow(
                member_id=member_id,
                province_code=province_code or "",
                cluster_code=cluster_code or "",
                status=status or "",
                updated_at=moment,
            )
        )
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


def active_members(db: DbSession, province_code: str, cluster_code: str = "") -> list[str]:
    query = select(col(MemberRow.member_id)).where(
        col(MemberRow.province_code) == province_code, col(MemberRow.status) == domain.ACTIVE
    )
    if cluster_code:
        query = query.where(col(MemberRow.cluster_code) == cluster_code)
    return list(db.execute(query.order_by(col(MemberRow.member_id))).scalars())


def count_addressed(db: DbSession, province_codes: list[str], cluster_codes: list[str]) -> int:
    query = select(func.count()).where(col(MemberRow.status) == domain.ACTIVE)
    if province_codes:
        query = query.where(col(MemberRow.province_code).in_(province_codes))
    if cluster_codes:
        query = query.where(col(MemberRow.cluster_code).in_(cluster_codes))
    return int(db.execute(query).scalar_one())


def remember_session(db: DbSession, session_id: str, province_code: str, title_th: str) -> None:
    row = db.get(TrainingSessionRow, session_id)
    if row is None:
        db.add(
            TrainingSessionRow(
                session_id=session_id, province_code=province_code, title_th=title_th
            )
        )
    else:
        row.title_th = title_th


def remember_completion(db: DbSession, session_id: str, member_id: str, moment: datetime) -> None:
    if db.get(TrainingParticipantRow, (session_id, member_id)) is None:
        db.add(
            TrainingParticipantRow(session_id=session_id, member_id=member_id, completed_at=moment)
        )


def completed_participants(db: DbSession, session_id: str) -> list[str]:
    """The session's participants who completed it and have not left the network."""
    return list(
        db.execute(
            select(col(TrainingParticipantRow.member_id))
            .join(
                MemberRow,
                col(MemberRow.member_id) == col(TrainingParticipantRow.member_id),
                isouter=True,
            )
            .where(
                col(TrainingParticipantRow.session_id) == session_id,
                or_(col(MemberRow.status).is_(None), col(MemberRow.status) != "left"),
            )
            .order_by(col(TrainingParticipantRow.member_id))
        ).scalars()
    )


# --- surveys ---------------------------------------------------------------------------


def survey_row(db: DbSession, survey_id: str) -> SurveyRow:
    row = db.execute(
        select(SurveyRow).where(col(SurveyRow.survey_id) == survey_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no survey with id {survey_id!r}", field="survey_id")
    return row


def training_survey(db: DbSession, session_id: str) -> SurveyRow | None:
    return db.execute(
        select(SurveyRow).where(
            col(SurveyRow.session_id) == session_id, col(SurveyRow.from_training).is_(True)
        )
    ).scalar_one_or_none()


def questions_of(row: SurveyRow) -> list[domain.Question]:
    return [domain.Question.from_json(q) for q in row.questions]


def is_recipient(db: DbSession, survey_id: str, member_id: str) -> bool:
    return db.get(SurveyRecipientRow, (survey_id, member_id)) is not None


def add_recipients(db: DbSession, survey_id: str, member_ids: list[str]) -> int:
    added = 0
    for member_id in member_ids:
        if db.get(SurveyRecipientRow, (survey_id, member_id)) is None:
            db.add(SurveyRecipientRow(survey_id=survey_id, member_id=member_id))
            added += 1
    return added


def survey_counts(db: DbSession, survey_ids: list[str]) -> dict[str, tuple[int, int]]:
    """{survey_id: (recipients, responses)}."""
    counts = {sid: (0, 0) for sid in survey_ids}
    if not survey_ids:
        return counts
    for sid, n in db.execute(
        select(col(SurveyRecipientRow.survey_id), func.count())
        .where(col(SurveyRecipientRow.survey_id).in_(survey_ids))
        .group_by(col(SurveyRecipientRow.survey_id))
    ).all():
        counts[sid] = (n, counts[sid][1])
    for sid, n in db.execute(
        select(col(SurveyAnswerRow.survey_id), func.count())
        .where(col(SurveyAnswerRow.survey_id).in_(survey_ids))
        .group_by(col(SurveyAnswerRow.survey_id))
    ).all():
        counts[sid] = (counts[sid][0], n)
    return counts


def answer_of(db: DbSession, survey_id: str, member_id: str) -> SurveyAnswerRow | None:
    return db.execute(
        select(SurveyAnswerRow).where(
            col(SurveyAnswerRow.survey_id) == survey_id,
            col(SurveyAnswerRow.member_id) == member_id,
        )
    ).scalar_one_or_none()


def answers_to(db: DbSession, survey_id: str) -> list[dict[str, Any]]:
    return list(
        db.execute(
            select(col(SurveyAnswerRow.answers))
            .where(col(SurveyAnswerRow.survey_id) == survey_id)
            .order_by(col(SurveyAnswerRow.id))
        ).scalars()
    )


def answered_by(db: DbSession, member_id: str, survey_ids: list[str]) -> list[str]:
    return list(
        db.execute(
            select(col(SurveyAnswerRow.survey_id)).where(
                col(SurveyAnswerRow.member_id) == member_id,
                col(SurveyAnswerRow.survey_id).in_(survey_ids),
            )
        ).scalars()
    )


def withdraw_from_open_surveys(db: DbSession, member_id: str, today: date) -> int:
    """A member who left stops receiving surveys: unanswered open ones drop them."""
    rows = db.execute(
        select(SurveyRecipientRow)
        .join(SurveyRow, col(SurveyRow.survey_id) == col(SurveyRecipientRow.survey_id))
        .where(col(SurveyRecipientRow.member_id) == member_id, col(SurveyRow.closes_on) >= today)
    ).scalars()
    removed = 0
    for row in rows:
        if answer_of(db, row.survey_id, member_id) is None:
            db.delete(row)
            removed += 1
    return removed


def list_surveys(
    db: DbSession, *, province_code: str, member_id: str, size: int, page_token: str
) -> tuple[list[SurveyRow], str]:
    query = select(SurveyRow)
    if province_code:
        query = query.where(col(SurveyRow.province_code) == province_code)
    if member_id:
        query = query.join(
            SurveyRecipientRow, col(SurveyRecipientRow.survey_id) == col(SurveyRow.survey_id)
        ).where(col(SurveyRecipientRow.member_id) == member_id)
    return newest_first(
        db,
        query,
        col(SurveyRow.id),
        filters=[province_code, member_id],
        size=size,
        page_token=page_token,
    )


# --- problem reports --------------------------------------------------------------------


def step_to_json(step: domain.Step) -> dict[str, Any]:
    return {
        "status": step.status,
        "actor_id": step.actor_id,
        "note_th": step.note_th,
        "at": step.at.isoformat(),
    }


def to_issue(row: IssueRow) -> domain.Issue:
    return domain.Issue(
        issue_id=row.issue_id,
        province_code=row.province_code,
        member_id=row.member_id,
        reported_by=row.reported_by,
        category=row.category,
        severity=row.severity,
        description_th=row.description_th,
        status=row.status,
        level=row.level,
        reported_at=row.reported_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        resolution_th=row.resolution_th,
        history=[
            domain.Step(s["status"], s["actor_id"], s["note_th"], datetime.fromisoformat(s["at"]))
            for s in row.history
        ],
    )


def new_issue_row(issue: domain.Issue) -> IssueRow:
    row = IssueRow(
        issue_id=issue.issue_id,
        province_code=issue.province_code,
        member_id=issue.member_id,
        reported_by=issue.reported_by,
        category=issue.category,
        severity=issue.severity,
        description_th=issue.description_th,
        status=issue.status,
        level=issue.level,
        reported_at=issue.reported_at,
        history=[],
    )
    apply_issue(issue, row)
    return row


def apply_issue(issue: domain.Issue, row: IssueRow) -> None:
    row.status, row.level = issue.status, issue.level
    row.acknowledged_at, row.resolved_at = issue.acknowledged_at, issue.resolved_at
    row.resolution_th = issue.resolution_th
    row.history = [step_to_json(s) for s in issue.history]


def issue_row(db: DbSession, issue_id: str) -> IssueRow:
    row = db.execute(
        select(IssueRow).where(col(IssueRow.issue_id) == issue_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no problem report with id {issue_id!r}", field="issue_id")
    return row


def visible_issue(db: DbSession, issue_id: str, scope: domain.Scope) -> IssueRow:
    """The report, if the viewer may see it; NOT_FOUND otherwise (its existence is not told)."""
    row = issue_row(db, issue_id)
    if not scope.sees(row.province_code, row.level):
        raise NotFound(f"no problem report with id {issue_id!r}", field="issue_id")
    return row


def list_issues(
    db: DbSession,
    *,
    scope: domain.Scope,
    status: int,
    category: int,
    overdue_before: datetime | None,
    size: int,
    page_token: str,
) -> tuple[list[IssueRow], str]:
    """The reports the viewer may see (the same rule as Scope.sees), newest first.

    `overdue_before`: only reports made before it and never acknowledged nor resolved.
    """
    query = select(IssueRow)
    if scope.central:
        query = query.where(col(IssueRow.level) == domain.CENTRAL_LEVEL)
    else:
        query = query.where(col(IssueRow.province_code) == scope.province_code)
    if status:
        query = query.where(col(IssueRow.status) == status)
    if category:
        query = query.where(col(IssueRow.category) == category)
    if overdue_before is not None:
        query = query.where(
            col(IssueRow.acknowledged_at).is_(None),
            col(IssueRow.status) != domain.RESOLVED,
            col(IssueRow.reported_at) < overdue_before,
        )
    return newest_first(
        db,
        query,
        col(IssueRow.id),
        # The overdue bound moves with the clock: the token keeps only whether it applies.
        filters=[scope.central, scope.province_code, status, category, overdue_before is not None],
        size=size,
        page_token=page_token,
    )


# --- announcements ----------------------------------------------------------------------


def announcement_row(db: DbSession, announcement_id: str) -> AnnouncementRow:
    row = db.execute(
        select(AnnouncementRow).where(col(AnnouncementRow.announcement_id) == announcement_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no announcement with id {announcement_id!r}", field="announcement_id")
    return row


def read_counts(db: DbSession, ids: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(ids, 0)
    if ids:
        for aid, n in db.execute(
            select(col(AnnouncementReadRow.announcement_id), func.count())
            .where(col(AnnouncementReadRow.announcement_id).in_(ids))
            .group_by(col(AnnouncementReadRow.announcement_id))
        ).all():
            counts[aid] = n
    return counts


def readers(db: DbSession, announcement_id: str) -> list[str]:
    return list(
        db.execute(
            select(col(AnnouncementReadRow.member_id))
            .where(col(AnnouncementReadRow.announcement_id) == announcement_id)
            .order_by(col(AnnouncementReadRow.read_at), col(AnnouncementReadRow.member_id))
        ).scalars()
    )


def read_by(db: DbSession, member_id: str, ids: list[str]) -> list[str]:
    return list(
        db.execute(
            select(col(AnnouncementReadRow.announcement_id)).where(
                col(AnnouncementReadRow.member_id) == member_id,
                col(AnnouncementReadRow.announcement_id).in_(ids),
            )
        ).scalars()
    )


def list_announcements(
    db: DbSession, *, province_code: str, size: int, page_token: str
) -> tuple[list[AnnouncementRow], str]:
    """Announcements to a province's network (national ones too); all when no province."""
    query = select(AnnouncementRow)
    if province_code:
        to_province = select(col(AnnouncementProvinceRow.announcement_id)).where(
            col(AnnouncementProvinceRow.province_code) == province_code
        )
        query = query.where(
            or_(
                col(AnnouncementRow.national).is_(True),
                col(AnnouncementRow.announcement_id).in_(to_province),
            )
        )
    return newest_first(
        db,
        query,
        col(AnnouncementRow.id),
        filters=[province_code],
        size=size,
        page_token=page_token,
    )


# --- meetings ---------------------------------------------------------------------------


def meeting_row(db: DbSession, meeting_id: str) -> MeetingRow:
    row = db.execute(
        select(MeetingRow).where(col(MeetingRow.meeting_id) == meeting_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no meeting with id {meeting_id!r}", field="meeting_id")
    return row


def action_items(db: DbSession, meeting_id: str) -> list[ActionItemRow]:
    return list(
        db.execute(
            select(ActionItemRow)
            .where(col(ActionItemRow.meeting_id) == meeting_id)
            .order_by(col(ActionItemRow.id))
        ).scalars()
    )


def action_item_row(db: DbSession, action_item_id: str) -> ActionItemRow:
    row = db.execute(
        select(ActionItemRow).where(col(ActionItemRow.action_item_id) == action_item_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no action item with id {action_item_id!r}", field="action_item_id")
    return row


def list_meetings(
    db: DbSession, *, province_code: str, status: int, size: int, page_token: str
) -> tuple[list[MeetingRow], str]:
    query = select(MeetingRow)
    if province_code:
        query = query.where(col(MeetingRow.province_code) == province_code)
    if status:
        query = query.where(col(MeetingRow.status) == status)
    return newest_first(
        db,
        query,
        col(MeetingRow.id),
        filters=[province_code, status],
        size=size,
        page_token=page_token,
    )


# --- monthly reports --------------------------------------------------------------------


def figures_of(row: MonthlyReportRow | MonthlyRevisionRow) -> domain.Figures:
    return domain.Figures(row.revenue_satang, tuple(row.sales_channels), row.employees)


def report_of(db: DbSession, member_id: str, month: int) -> MonthlyReportRow | None:
    return db.execute(
        select(MonthlyReportRow).where(
            col(MonthlyReportRow.member_id) == member_id, col(MonthlyReportRow.month) == month
        )
    ).scalar_one_or_none()


def revisions(db: DbSession, report_id: str) -> list[MonthlyRevisionRow]:
    return list(
        db.execute(
            select(MonthlyRevisionRow)
            .where(col(MonthlyRevisionRow.report_id) == report_id)
            .order_by(col(MonthlyRevisionRow.revision))
        ).scalars()
    )


def revision_row(
    report_id: str, revision: int, figures: domain.Figures, reason_th: str, now: datetime
) -> MonthlyRevisionRow:
    return MonthlyRevisionRow(
        report_id=report_id,
        revision=revision,
        revenue_satang=figures.revenue_satang,
        sales_channels=list(figures.sales_channels),
        employees=figures.employees,
        reason_th=reason_th,
        recorded_at=now,
    )


def list_reports(
    db: DbSession,
    *,
    province_code: str,
    member_id: str,
    from_month: int,
    to_month: int,
    size: int,
    page_token: str,
) -> tuple[list[MonthlyReportRow], str]:
    query = select(MonthlyReportRow)
    if province_code:
        query = query.where(col(MonthlyReportRow.province_code) == province_code)
    if member_id:
        query = query.where(col(MonthlyReportRow.member_id) == member_id)
    if from_month:
        query = query.where(col(MonthlyReportRow.month) >= from_month)
    if to_month:
        query = query.where(col(MonthlyReportRow.month) <= to_month)
    return newest_first(
        db,
        query,
        col(MonthlyReportRow.id),
        filters=[province_code, member_id, from_month, to_month],
        size=size,
        page_token=page_token,
    )


_members = MemberRow.__table__.c  # type: ignore[attr-defined]
# Built once: building a select per call costs about 80 us more than running it, and this
# runs once a report inside the batch, while the write lock is held.
_REPORTING_MEMBER = select(_members.province_code, _members.cluster_code, _members.status).where(
    _members.member_id == bindparam("member_id")
)


def reporting_member(db: DbSession, member_id: str) -> domain.MemberRef | None:
    """The member, read with a plain query (the hot path of monthly reports)."""
    row = db.connection().execute(_REPORTING_MEMBER, {"member_id": member_id}).first()
    return None if row is None else domain.MemberRef(member_id, row[0], row[1], row[2])


def insert_report(
    uow: UnitOfWork,
    report_id: str,
    member: domain.MemberRef,
    month: int,
    figures: domain.Figures,
    now: datetime,
) -> bool:
    """The report and its revision 1, with plain inserts written with the batch's others
    (the hot path of monthly reports); False if the month is taken."""
    reports = MonthlyReportRow.__table__  # type: ignore[attr-defined]
    # A month already reported breaks the unique (member, month) index, and the batch is
    # retried one operation at a time: only then is it looked up, to say so.
    if uow.one_at_a_time:
        taken = (
            uow.session.connection()
            .execute(
                select(reports.c.id).where(
                    reports.c.member_id == member.member_id, reports.c.month == month
                )
            )
            .first()
        )
        if taken is not None:
            return False
    channels = list(figures.sales_channels)
    uow.insert(
        reports,
        {
            "report_id": report_id,
            "member_id": member.member_id,
            "month": month,
            "province_code": member.province_code,
            "cluster_code": member.cluster_code,
            "revision": 1,
            "revenue_satang": figures.revenue_satang,
            "sales_channels": channels,
            "employees": figures.employees,
            "submitted_at": now,
            "updated_at": now,
        },
    )
    uow.insert(
        MonthlyRevisionRow.__table__,  # type: ignore[attr-defined]
        {
            "report_id": report_id,
            "revision": 1,
            "revenue_satang": figures.revenue_satang,
            "sales_channels": channels,
            "employees": figures.employees,
            "reason_th": "",
            "recorded_at": now,
        },
    )
    return True


def has_reports(db: DbSession) -> bool:
    return db.execute(select(col(MonthlyReportRow.id)).limit(1)).first() is not None
