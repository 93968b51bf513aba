"""Analytics tables: the facts each event leaves, per projection generation.

Every table carries a `generation`. The live consumer writes into the generation being
served and into one being rebuilt (if any); a rebuild writes into its own; swapping is
one update of `analytics_generation`. Every write here is idempotent by its natural key
(an event id, a meeting id, a report's revision...), so an event applied twice, or by
both the live consumer and a rebuild, leaves the same rows. Figures are computed from
these facts at query time (see domain), by province, cluster and month.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from bizclub_shared.db import UTCDateTime
from bizclub_shared.inbox import InboxEntry
from bizclub_shared.outbox import OutboxEvent
from sqlalchemy import JSON, BigInteger, Column, Index, delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col

from analytics import domain

F = TypeVar("F")

# Generation states.
BUILDING, ACTIVE, RETIRED, FAILED = "building", "active", "retired", "failed"


class GenerationRow(SQLModel, table=True):
    __tablename__ = "analytics_generation"
    generation: int = Field(primary_key=True)
    state: str = Field(max_length=20)
    records_read: int = 0
    records_total: int = 0
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str = Field(default="")
    # Made by a rebuild (the first generation fills from the live consumer alone).
    rebuilt: bool = False


class NetworkFact(SQLModel, table=True):
    __tablename__ = "analytics_network"
    generation: int = Field(primary_key=True)
    province_code: str = Field(primary_key=True, max_length=10)
    name_th: str = Field(default="", max_length=200)
    name_en: str = Field(default="", max_length=200)


class MemberFact(SQLModel, table=True):
    __tablename__ = "analytics_member"
    __table_args__ = (Index("ix_analytics_member_province", "generation", "province_code"),)
    generation: int = Field(primary_key=True)
    member_id: str = Field(primary_key=True, max_length=64)
    province_code: str = Field(default="", max_length=10)
    cluster_code: str = Field(default="", max_length=40)
    # When the cluster was last set: a later change wins whatever order events arrive in.
    cluster_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enterprise_type: int = 0
    business_name_th: str = Field(default="", max_length=300)
    baseline_satang: int = Field(default=0, sa_type=BigInteger)
    sales_channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    registered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MemberStatusFact(SQLModel, table=True):
    """Each status change (registration included): the status at any month end."""

    __tablename__ = "analytics_member_status"
    generation: int = Field(primary_key=True)
    event_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=64, index=True)
    status: int
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class SessionFact(SQLModel, table=True):
    __tablename__ = "analytics_session"
    generation: int = Field(primary_key=True)
    session_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(max_length=10)
    # Empty: open to every cluster.
    target_cluster_codes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    month: int  # the start's month in Bangkok, year * 100 + month
    capacity: int
    hours: float
    cancelled: bool = False


class EnrollmentFact(SQLModel, table=True):
    """An enrolment's facts as flags, so the order they arrive in does not matter."""

    __tablename__ = "analytics_enrollment"
    generation: int = Field(primary_key=True)
    enrollment_id: str = Field(primary_key=True, max_length=36)
    session_id: str = Field(max_length=36, index=True)
    province_code: str = Field(max_length=10)
    member_id: str = Field(max_length=64)
    cluster_code: str = Field(default="", max_length=40)
    confirmed: bool = False
    waitlisted: bool = False
    cancelled: bool = False
    completed: bool = False
    attended_hours: float = 0.0


class MatchStepFact(SQLModel, table=True):
    """One step of the funnel (or a fair's sales), keyed so a step counts once."""

    __tablename__ = "analytics_match_step"
    __table_args__ = (Index("ix_analytics_match_step_province", "generation", "province_code"),)
    generation: int = Field(primary_key=True)
    step_key: str = Field(primary_key=True, max_length=120)
    step: str = Field(max_length=20)
    member_id: str = Field(max_length=64)
    province_code: str = Field(max_length=10)  # the member's
    cluster_code: str = Field(default="", max_length=40)  # empty: the member's now
    month: int
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    value_satang: int = Field(default=0, sa_type=BigInteger)


class MonthlyReportFact(SQLModel, table=True):
    __tablename__ = "analytics_monthly_report"
    __table_args__ = (Index("ix_analytics_report_province", "generation", "province_code"),)
    generation: int = Field(primary_key=True)
    member_id: str = Field(primary_key=True, max_length=64)
    month: int = Field(primary_key=True)  # the month reported, year * 100 + month
    report_id: str = Field(max_length=36)
    province_code: str = Field(max_length=10)
    cluster_code: str = Field(default="", max_length=40)
    revision: int
    revenue_satang: int = Field(sa_type=BigInteger)
    sales_channels: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class IssueFact(SQLModel, table=True):
    __tablename__ = "analytics_issue"
    generation: int = Field(primary_key=True)
    issue_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(max_length=10)
    member_id: str = Field(default="", max_length=64)
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated: bool = False
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SurveyAnswerFact(SQLModel, table=True):
    __tablename__ = "analytics_survey_answer"
    generation: int = Field(primary_key=True)
    survey_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(primary_key=True, max_length=64)
    province_code: str = Field(max_length=10)
    average_rating: float
    month: int


class MemberEventFact(SQLModel, table=True):
    """Every event about a member, for their history."""

    __tablename__ = "analytics_member_event"
    __table_args__ = (
        Index("ix_analytics_member_event_member", "generation", "member_id", "occurred_at"),
    )
    generation: int = Field(primary_key=True)
    event_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=64)
    event_type: str = Field(max_length=200)
    subject_id: str = Field(default="", max_length=64)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    value_satang: int = Field(default=0, sa_type=BigInteger)


FACT_TABLES: list[Any] = [
    NetworkFact,
    MemberFact,
    MemberStatusFact,
    SessionFact,
    EnrollmentFact,
    MatchStepFact,
    MonthlyReportFact,
    IssueFact,
    SurveyAnswerFact,
    MemberEventFact,
]
TABLES: list[Any] = [GenerationRow, *FACT_TABLES, OutboxEvent, InboxEntry]


# --- generations ----------------------------------------------------------------------


def active_generation(session: Session) -> int:
    found = session.execute(
        select(col(GenerationRow.generation)).where(col(GenerationRow.state) == ACTIVE)
    ).scalar()
    return int(found) if found is not None else 0


def open_generations(session: Session) -> list[int]:
    """The generations events are applied to: the one served and one being rebuilt."""
    return list(
        session.execute(
            select(col(GenerationRow.generation)).where(
                col(GenerationRow.state).in_([ACTIVE, BUILDING])
            )
        ).scalars()
    )


def latest_generation(session: Session) -> GenerationRow | None:
    return session.execute(
        select(GenerationRow).order_by(col(GenerationRow.generation).desc()).limit(1)
    ).scalar()


def generation(session: Session, number: int) -> GenerationRow | None:
    return session.get(GenerationRow, number)


def latest_rebuild(session: Session) -> GenerationRow | None:
    return session.execute(
        select(GenerationRow)
        .where(col(GenerationRow.rebuilt))
        .order_by(col(GenerationRow.generation).desc())
        .limit(1)
    ).scalar()


def ensure_active_generation(session: Session, now: datetime) -> int:
    """On start: the first generation if there is none; a rebuild cut short by a crash
    is marked failed (its rows are dropped by `drop_generation`)."""
    session.execute(
        update(GenerationRow)
        .where(col(GenerationRow.state) == BUILDING)
        .values(state=FAILED, finished_at=now, error="the service stopped during the rebuild")
    )
    current = active_generation(session)
    if current:
        return current
    latest = latest_generation(session)
    number = (latest.generation if latest else 0) + 1
    session.add(GenerationRow(generation=number, state=ACTIVE, started_at=now, finished_at=now))
    return number


def stale_generations(session: Session) -> list[int]:
    return list(
        session.execute(
            select(col(GenerationRow.generation)).where(
                col(GenerationRow.state).in_([RETIRED, FAILED])
            )
        ).scalars()
    )


def drop_generation(session: Session, number: int) -> None:
    """Delete a retired or failed generation's facts (its status row stays)."""
    for table in FACT_TABLES:
        session.execute(delete(table).where(col(table.generation) == number))


# --- writes (each idempotent by its key) -------------------------------------------------


def _get_or_new(session: Session, model: Any, **key: Any) -> Any:
    row = session.get(model, tuple(key.values()))
    if row is None:
        row = model(**key)
        session.add(row)
    return row


def put_network(session: Session, gen: int, province: str, name_th: str, name_en: str) -> None:
    row = _get_or_new(session, NetworkFact, generation=gen, province_code=province)
    row.name_th, row.name_en = name_th, name_en


def put_member(session: Session, gen: int, member_id: str, **values: Any) -> None:
    row = _get_or_new(session, MemberFact, generation=gen, member_id=member_id)
    for name, value in values.items():
        setattr(row, name, value)


def set_member_cluster(
    session: Session, gen: int, member_id: str, province: str, cluster: str, at: datetime
) -> None:
    row = _get_or_new(session, MemberFact, generation=gen, member_id=member_id)
    if row.cluster_at is None or row.cluster_at <= at:
        row.province_code, row.cluster_code, row.cluster_at = province, cluster, at


def add_status(
    session: Session, gen: int, event_id: str, member_id: str, status: int, at: datetime
) -> None:
    if session.get(MemberStatusFact, (gen, event_id)) is None:
        session.add(
            MemberStatusFact(
                generation=gen,
                event_id=event_id,
                member_id=member_id,
                status=status,
                occurred_at=at,
            )
        )


def erase_member_name(session: Session, gen: int, member_id: str) -> None:
    row = session.get(MemberFact, (gen, member_id))
    if row is not None:
        row.business_name_th = ""


def put_session(session: Session, gen: int, session_id: str, **values: Any) -> None:
    # Never touches `cancelled`: a cancellation stays whatever arrives after it.
    row = _get_or_new(session, SessionFact, generation=gen, session_id=session_id)
    for name, value in values.items():
        setattr(row, name, value)


def cancel_session(session: Session, gen: int, session_id: str, province: str) -> None:
    row = session.get(SessionFact, (gen, session_id))
    if row is None:
        row = SessionFact(
            generation=gen,
            session_id=session_id,
            province_code=province,
            month=0,
            capacity=0,
            hours=0.0,
        )
        session.add(row)
    row.cancelled = True


def mark_enrollment(
    session: Session,
    gen: int,
    enrollment_id: str,
    *,
    session_id: str,
    province: str,
    member_id: str,
    cluster: str = "",
    flag: str = "",
    attended_hours: float = 0.0,
) -> None:
    row = session.get(EnrollmentFact, (gen, enrollment_id))
    if row is None:
        row = EnrollmentFact(
            generation=gen,
            enrollment_id=enrollment_id,
            session_id=session_id,
            province_code=province,
            member_id=member_id,
        )
        session.add(row)
    if cluster:
        row.cluster_code = cluster
    if flag:
        setattr(row, flag, True)
    row.attended_hours = max(row.attended_hours, attended_hours)


def put_step(
    session: Session,
    gen: int,
    step_key: str,
    *,
    step: str,
    member_id: str,
    province: str,
    cluster: str,
    at: datetime,
    value_satang: int = 0,
) -> None:
    row = session.get(MatchStepFact, (gen, step_key))
    if row is None:
        session.add(
            MatchStepFact(
                generation=gen,
                step_key=step_key,
                step=step,
                member_id=member_id,
                province_code=province,
                cluster_code=cluster,
                month=domain.month_of(at),
                occurred_at=at,
                value_satang=value_satang,
            )
        )
    elif value_satang > row.value_satang:  # a fair's running total only grows
        row.value_satang = value_satang


def put_report(
    session: Session,
    gen: int,
    *,
    member_id: str,
    month: int,
    report_id: str,
    province: str,
    cluster: str,
    revision: int,
    revenue_satang: int,
    sales_channels: list[int],
) -> None:
    row = session.get(MonthlyReportFact, (gen, member_id, month))
    if row is None:
        row = MonthlyReportFact(
            generation=gen,
            member_id=member_id,
            month=month,
            report_id=report_id,
            revision=0,
            province_code=province,
            revenue_satang=0,
        )
        session.add(row)
    if revision >= row.revision:  # the latest revision wins, in any order
        row.report_id, row.province_code, row.cluster_code = report_id, province, cluster
        row.revision, row.revenue_satang = revision, revenue_satang
        row.sales_channels = sales_channels


def mark_issue(session: Session, gen: int, issue_id: str, province: str, **values: Any) -> None:
    row = _get_or_new(session, IssueFact, generation=gen, issue_id=issue_id)
    row.province_code = province
    for name, value in values.items():
        setattr(row, name, value)


def put_answer(
    session: Session,
    gen: int,
    *,
    survey_id: str,
    member_id: str,
    province: str,
    rating: float,
    at: datetime,
) -> None:
    if session.get(SurveyAnswerFact, (gen, survey_id, member_id)) is None:
        session.add(
            SurveyAnswerFact(
                generation=gen,
                survey_id=survey_id,
                member_id=member_id,
                province_code=province,
                average_rating=rating,
                month=domain.month_of(at),
            )
        )


def add_member_event(
    session: Session,
    gen: int,
    *,
    event_id: str,
    member_id: str,
    event_type: str,
    subject_id: str,
    at: datetime,
    value_satang: int = 0,
) -> None:
    if member_id and session.get(MemberEventFact, (gen, event_id)) is None:
        session.add(
            MemberEventFact(
                generation=gen,
                event_id=event_id,
                member_id=member_id,
                event_type=event_type,
                subject_id=subject_id,
                occurred_at=at,
                value_satang=value_satang,
            )
        )


# --- reads -----------------------------------------------------------------------------


def _scoped(query: Any, table: Any, gen: int, provinces: Sequence[str] | None) -> Any:
    query = query.where(col(table.generation) == gen)
    if provinces is not None:
        query = query.where(col(table.province_code).in_(list(provinces)))
    return query


def _facts(session: Session, kind: type[F], table: Any, query_where: Any) -> list[F]:
    """Rows of `table` as `kind` (a domain dataclass whose fields are column names),
    read as plain column tuples: no ORM objects, so a read over a whole province holds
    one small object per fact, not an entity with its tracking state."""
    columns = [getattr(table, f.name) for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    return [kind(*row) for row in session.execute(query_where(select(*columns)))]


def load_facts(session: Session, gen: int, provinces: Sequence[str] | None) -> domain.Facts:
    """Every fact of the given provinces (None: all) in one generation."""

    def facts(kind: type[F], table: Any) -> list[F]:
        return _facts(session, kind, table, lambda q: _scoped(q, table, gen, provinces))

    def of_members_in_scope(query: Any) -> Any:
        # Status changes carry no province: those of the scope's members.
        query = query.join(
            MemberFact,
            (col(MemberFact.generation) == col(MemberStatusFact.generation))
            & (col(MemberFact.member_id) == col(MemberStatusFact.member_id)),
        ).where(col(MemberStatusFact.generation) == gen)
        if provinces is not None:
            query = query.where(col(MemberFact.province_code).in_(list(provinces)))
        return query

    networks = session.execute(
        _scoped(
            select(
                col(NetworkFact.province_code), col(NetworkFact.name_th), col(NetworkFact.name_en)
            ),
            NetworkFact,
            gen,
            provinces,
        )
    )
    return domain.Facts(
        networks={province: (name_th, name_en) for province, name_th, name_en in networks},
        members=facts(domain.Member, MemberFact),
        statuses=_facts(session, domain.StatusChange, MemberStatusFact, of_members_in_scope),
        sessions=facts(domain.TrainingSession, SessionFact),
        enrollments=facts(domain.Enrollment, EnrollmentFact),
        steps=facts(domain.MatchStep, MatchStepFact),
        reports=facts(domain.Report, MonthlyReportFact),
        issues=facts(domain.Issue, IssueFact),
        answers=facts(domain.Answer, SurveyAnswerFact),
    )


def member_of(m: MemberFact) -> domain.Member:
    return domain.Member(
        member_id=m.member_id,
        province_code=m.province_code,
        cluster_code=m.cluster_code,
        enterprise_type=m.enterprise_type,
        business_name_th=m.business_name_th,
        baseline_satang=m.baseline_satang,
        sales_channels=list(m.sales_channels),
        registered_at=m.registered_at,
    )


def report_of(r: MonthlyReportFact) -> domain.Report:
    return domain.Report(
        member_id=r.member_id,
        month=r.month,
        province_code=r.province_code,
        cluster_code=r.cluster_code,
        revision=r.revision,
        revenue_satang=r.revenue_satang,
        sales_channels=list(r.sales_channels),
    )


def member_statuses(session: Session, gen: int, member_id: str) -> list[domain.StatusChange]:
    rows = session.execute(
        select(MemberStatusFact).where(
            col(MemberStatusFact.generation) == gen, col(MemberStatusFact.member_id) == member_id
        )
    ).scalars()
    return [domain.StatusChange(s.member_id, s.status, s.occurred_at) for s in rows]


def member_history(
    session: Session, gen: int, member_id: str
) -> tuple[MemberFact | None, list[MonthlyReportFact], list[MemberEventFact]]:
    member = session.get(MemberFact, (gen, member_id))
    reports = list(
        session.execute(
            select(MonthlyReportFact)
            .where(
                col(MonthlyReportFact.generation) == gen,
                col(MonthlyReportFact.member_id) == member_id,
            )
            .order_by(col(MonthlyReportFact.month))
        ).scalars()
    )
    events = list(
        session.execute(
            select(MemberEventFact)
            .where(
                col(MemberEventFact.generation) == gen, col(MemberEventFact.member_id) == member_id
            )
            .order_by(col(MemberEventFact.occurred_at), col(MemberEventFact.event_id))
        ).scalars()
    )
    return member, reports, events


def member_training(session: Session, gen: int, member_id: str) -> tuple[int, float]:
    """(completed enrolments, hours attended) of a member."""
    rows = session.execute(
        select(EnrollmentFact).where(
            col(EnrollmentFact.generation) == gen,
            col(EnrollmentFact.member_id) == member_id,
            ~col(EnrollmentFact.cancelled),
        )
    ).scalars()
    completed, hours = 0, 0.0
    for row in rows:
        completed += row.completed
        hours += row.attended_hours
    return completed, round(hours, 2)


def member_target(session: Session, member_id: str) -> tuple[str, str] | None:
    """(province, cluster) of a member in the generation served; None when unknown."""
    gen = active_generation(session)
    row = session.get(MemberFact, (gen, member_id))
    return None if row is None else (row.province_code, row.cluster_code)
