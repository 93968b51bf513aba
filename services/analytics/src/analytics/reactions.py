"""Analytics' reactions: one consumer group ("analytics") reading every area's topic.

Each event type has one projection: a function writing the facts it leaves into a
generation's tables. The live consumer applies it, with its inbox entry in the same
transaction, to every open generation (the one served, and one being rebuilt); a rebuild
(replay.py) applies the same functions to its own generation. The projections are
idempotent by their natural keys, so an event applied twice leaves the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bizclub.feedback.v1 import events_pb2 as feedback_events
from bizclub.matching.v1 import events_pb2 as matching_events
from bizclub.membership.v1 import events_pb2 as membership_events
from bizclub.training.v1 import events_pb2 as training_events
from bizclub_shared.envelope import Envelope
from bizclub_shared.service import ServiceRuntime
from bizclub_shared.topics import ALL_AREAS
from bizclub_shared.unit_of_work import UnitOfWork
from google.protobuf.message import Message
from sqlalchemy.orm import Session

from analytics import domain, store

CONSUMER = "analytics"

# A projection: (session, generation, event, envelope) -> None.
Projection = Callable[[Session, int, Any, Envelope], None]
PROJECTIONS: dict[str, tuple[type[Message], Projection]] = {}


def projects(event_type: type[Message]) -> Callable[[Projection], Projection]:
    def register(projection: Projection) -> Projection:
        PROJECTIONS[event_type.DESCRIPTOR.full_name] = (event_type, projection)
        return projection

    return register


def occurred(event: Any, envelope: Envelope) -> datetime:
    if event.HasField("occurred_at"):
        return event.occurred_at.ToDatetime(tzinfo=UTC)
    return envelope.time


def history(
    session: Session,
    gen: int,
    event: Any,
    envelope: Envelope,
    member_id: str,
    subject_id: str = "",
    value_satang: int = 0,
) -> None:
    store.add_member_event(
        session,
        gen,
        event_id=envelope.event_id,
        member_id=member_id,
        event_type=envelope.event_type,
        subject_id=subject_id,
        at=occurred(event, envelope),
        value_satang=value_satang,
    )


# --- membership --------------------------------------------------------------------------

me = membership_events


@projects(me.NetworkCreated)
def network_created(s: Session, gen: int, e: me.NetworkCreated, env: Envelope) -> None:
    store.put_network(s, gen, e.province_code, e.name_th, e.name_en)


@projects(me.MemberRegistered)
def member_registered(s: Session, gen: int, e: me.MemberRegistered, env: Envelope) -> None:
    at = occurred(e, env)
    store.set_member_cluster(s, gen, e.member_id, e.province_code, e.cluster_code, at)
    store.put_member(
        s,
        gen,
        e.member_id,
        enterprise_type=int(e.enterprise_type),
        business_name_th=e.business_name_th,
        baseline_satang=e.baseline_monthly_revenue.satang,
        sales_channels=[int(c) for c in e.sales_channels],
        registered_at=at,
    )
    store.add_status(s, gen, env.event_id, e.member_id, domain.APPLIED, at)
    history(s, gen, e, env, e.member_id, e.member_id, e.baseline_monthly_revenue.satang)


@projects(me.MemberApproved)
def member_approved(s: Session, gen: int, e: me.MemberApproved, env: Envelope) -> None:
    at = occurred(e, env)
    store.set_member_cluster(s, gen, e.member_id, e.province_code, e.cluster_code, at)
    store.add_status(s, gen, env.event_id, e.member_id, domain.ACTIVE, at)
    history(s, gen, e, env, e.member_id, e.member_id)


@projects(me.MemberClusterChanged)
def cluster_changed(s: Session, gen: int, e: me.MemberClusterChanged, env: Envelope) -> None:
    at = occurred(e, env)
    store.set_member_cluster(s, gen, e.member_id, e.province_code, e.to_cluster_code, at)
    history(s, gen, e, env, e.member_id, e.to_cluster_code)


def _status(status: int) -> Projection:
    def project(s: Session, gen: int, e: Any, env: Envelope) -> None:
        store.add_status(s, gen, env.event_id, e.member_id, status, occurred(e, env))
        history(s, gen, e, env, e.member_id, e.member_id)

    return project


projects(me.MemberSuspended)(_status(domain.SUSPENDED))
projects(me.MemberReinstated)(_status(domain.ACTIVE))
projects(me.MemberLeft)(_status(domain.LEFT))


@projects(me.MemberPersonalDataErased)
def erased(s: Session, gen: int, e: me.MemberPersonalDataErased, env: Envelope) -> None:
    store.erase_member_name(s, gen, e.member_id)


# --- training ----------------------------------------------------------------------------

te = training_events


@projects(te.SessionScheduled)
def session_scheduled(s: Session, gen: int, e: te.SessionScheduled, env: Envelope) -> None:
    store.put_session(
        s,
        gen,
        e.session_id,
        province_code=e.province_code,
        target_cluster_codes=list(e.target_cluster_codes),
        month=domain.month_of(e.start_time.ToDatetime(tzinfo=UTC)),
        capacity=e.capacity,
        hours=e.hours,
    )


@projects(te.SessionCancelled)
def session_cancelled(s: Session, gen: int, e: te.SessionCancelled, env: Envelope) -> None:
    store.cancel_session(s, gen, e.session_id, e.province_code)


def _enrollment(e: Any, **values: Any) -> dict[str, Any]:
    return {
        "session_id": e.session_id,
        "province": e.province_code,
        "member_id": e.member_id,
        **values,
    }


@projects(te.EnrollmentConfirmed)
def confirmed(s: Session, gen: int, e: te.EnrollmentConfirmed, env: Envelope) -> None:
    store.mark_enrollment(
        s, gen, e.enrollment_id, **_enrollment(e, cluster=e.cluster_code, flag="confirmed")
    )
    history(s, gen, e, env, e.member_id, e.session_id)


@projects(te.EnrollmentWaitlisted)
def waitlisted(s: Session, gen: int, e: te.EnrollmentWaitlisted, env: Envelope) -> None:
    store.mark_enrollment(
        s, gen, e.enrollment_id, **_enrollment(e, cluster=e.cluster_code, flag="waitlisted")
    )
    history(s, gen, e, env, e.member_id, e.session_id)


@projects(te.WaitlistPromoted)
def promoted(s: Session, gen: int, e: te.WaitlistPromoted, env: Envelope) -> None:
    store.mark_enrollment(s, gen, e.enrollment_id, **_enrollment(e, flag="confirmed"))
    history(s, gen, e, env, e.member_id, e.session_id)


@projects(te.EnrollmentCancelled)
def enrollment_cancelled(s: Session, gen: int, e: te.EnrollmentCancelled, env: Envelope) -> None:
    store.mark_enrollment(s, gen, e.enrollment_id, **_enrollment(e, flag="cancelled"))
    history(s, gen, e, env, e.member_id, e.session_id)


@projects(te.AttendanceRecorded)
def attended(s: Session, gen: int, e: te.AttendanceRecorded, env: Envelope) -> None:
    # attended_hours is the running total: the largest seen is the latest.
    store.mark_enrollment(
        s, gen, e.enrollment_id, **_enrollment(e, attended_hours=e.attended_hours)
    )


@projects(te.TrainingCompleted)
def completed(s: Session, gen: int, e: te.TrainingCompleted, env: Envelope) -> None:
    store.mark_enrollment(
        s, gen, e.enrollment_id, **_enrollment(e, cluster=e.cluster_code, flag="completed")
    )
    history(s, gen, e, env, e.member_id, e.session_id)


@projects(te.ProductProjectStarted)
def project_started(s: Session, gen: int, e: te.ProductProjectStarted, env: Envelope) -> None:
    history(s, gen, e, env, e.member_id, e.project_id)


@projects(te.ProductProjectCompleted)
def project_completed(s: Session, gen: int, e: te.ProductProjectCompleted, env: Envelope) -> None:
    history(s, gen, e, env, e.member_id, e.project_id)


# --- matching ----------------------------------------------------------------------------

xe = matching_events


def _step(
    s: Session,
    gen: int,
    e: Any,
    env: Envelope,
    *,
    key: str,
    step: str,
    province: str,
    cluster: str = "",
    value: int = 0,
    subject: str = "",
) -> None:
    store.put_step(
        s,
        gen,
        f"{step}:{key}",
        step=step,
        member_id=e.member_id,
        province=province,
        cluster=cluster,
        at=occurred(e, env),
        value_satang=value,
    )
    history(s, gen, e, env, e.member_id, subject, value)


@projects(xe.MatchSuggested)
def suggested(s: Session, gen: int, e: xe.MatchSuggested, env: Envelope) -> None:
    _step(
        s,
        gen,
        e,
        env,
        key=f"{e.need_id}:{e.offer_id}",
        step=domain.SUGGESTED,
        province=e.province_code,
        cluster=e.cluster_code,
        subject=e.need_id,
    )


@projects(xe.MeetingRequested)
def requested(s: Session, gen: int, e: xe.MeetingRequested, env: Envelope) -> None:
    _step(
        s,
        gen,
        e,
        env,
        key=e.meeting_id,
        step=domain.REQUESTED,
        province=e.member_province_code,
        subject=e.meeting_id,
    )


@projects(xe.MeetingHeld)
def held(s: Session, gen: int, e: xe.MeetingHeld, env: Envelope) -> None:
    _step(
        s,
        gen,
        e,
        env,
        key=e.meeting_id,
        step=domain.HELD,
        province=e.member_province_code,
        cluster=e.cluster_code,
        subject=e.meeting_id,
    )


@projects(xe.DealSigned)
def deal(s: Session, gen: int, e: xe.DealSigned, env: Envelope) -> None:
    _step(
        s,
        gen,
        e,
        env,
        key=e.deal_id,
        step=domain.DEAL,
        province=e.province_code,
        cluster=e.cluster_code,
        value=e.order_value.satang,
        subject=e.deal_id,
    )


@projects(xe.FairSalesRecorded)
def fair_sales(s: Session, gen: int, e: xe.FairSalesRecorded, env: Envelope) -> None:
    # The record carries the member's running total at this fair: the largest is the latest.
    store.put_step(
        s,
        gen,
        f"{domain.FAIR_SALES}:{e.matching_event_id}:{e.member_id}",
        step=domain.FAIR_SALES,
        member_id=e.member_id,
        province=e.member_province_code,
        cluster=e.cluster_code,
        at=occurred(e, env),
        value_satang=e.total_sales.satang,
    )
    history(s, gen, e, env, e.member_id, e.matching_event_id, e.sales.satang)


# --- feedback ----------------------------------------------------------------------------

fe = feedback_events


@projects(fe.MonthlyReportSubmitted)
def report_submitted(s: Session, gen: int, e: fe.MonthlyReportSubmitted, env: Envelope) -> None:
    store.put_report(
        s,
        gen,
        member_id=e.member_id,
        month=domain.month_key(e.month.year, e.month.month),
        report_id=e.report_id,
        province=e.province_code,
        cluster=e.cluster_code,
        revision=1,
        revenue_satang=e.figures.revenue.satang,
        sales_channels=[int(c) for c in e.figures.sales_channels],
    )
    history(s, gen, e, env, e.member_id, e.report_id, e.figures.revenue.satang)


@projects(fe.MonthlyReportRevised)
def report_revised(s: Session, gen: int, e: fe.MonthlyReportRevised, env: Envelope) -> None:
    store.put_report(
        s,
        gen,
        member_id=e.member_id,
        month=domain.month_key(e.month.year, e.month.month),
        report_id=e.report_id,
        province=e.province_code,
        cluster=e.cluster_code,
        revision=e.revision,
        revenue_satang=e.current.revenue.satang,
        sales_channels=[int(c) for c in e.current.sales_channels],
    )
    history(s, gen, e, env, e.member_id, e.report_id, e.current.revenue.satang)


@projects(fe.IssueReported)
def issue_reported(s: Session, gen: int, e: fe.IssueReported, env: Envelope) -> None:
    at = occurred(e, env)
    store.mark_issue(s, gen, e.issue_id, e.province_code, member_id=e.member_id, reported_at=at)
    history(s, gen, e, env, e.member_id, e.issue_id)


@projects(fe.IssueEscalated)
def issue_escalated(s: Session, gen: int, e: fe.IssueEscalated, env: Envelope) -> None:
    store.mark_issue(s, gen, e.issue_id, e.province_code, escalated=True)


@projects(fe.IssueResolved)
def issue_resolved(s: Session, gen: int, e: fe.IssueResolved, env: Envelope) -> None:
    store.mark_issue(s, gen, e.issue_id, e.province_code, resolved_at=occurred(e, env))


@projects(fe.SurveyAnswered)
def survey_answered(s: Session, gen: int, e: fe.SurveyAnswered, env: Envelope) -> None:
    store.put_answer(
        s,
        gen,
        survey_id=e.survey_id,
        member_id=e.member_id,
        province=e.province_code,
        rating=e.average_rating,
        at=occurred(e, env),
    )
    history(s, gen, e, env, e.member_id, e.survey_id)


# --- wiring ------------------------------------------------------------------------------


def apply(session: Session, generations: list[int], event: Message, envelope: Envelope) -> None:
    """Apply one event's projection to each of the generations."""
    _, projection = PROJECTIONS[envelope.event_type]
    for gen in generations:
        projection(session, gen, event, envelope)


def register(runtime: ServiceRuntime) -> None:
    """Attach analytics' consumer of every area's topic to the runtime."""
    consumer = runtime.consumer(CONSUMER)

    def live(uow: UnitOfWork, event: Message, envelope: Envelope) -> None:
        generations = store.open_generations(uow.session)
        if not generations:  # never marks the event seen without a place to put it
            raise RuntimeError("no projection generation to apply events to")
        apply(uow.session, generations, event, envelope)

    for event_type, _ in PROJECTIONS.values():
        consumer.handles(event_type)(live)

    settings = runtime.settings
    consumer.subscribe(
        runtime.kafka,
        list(ALL_AREAS),
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
    )
