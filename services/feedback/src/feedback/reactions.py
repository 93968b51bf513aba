"""Feedback's reactions to membership's and training's events (consumer group "feedback").

Each handler runs in the writer with the inbox entry, so a redelivered event has its
effect once. `feedback_member` keeps each member's province, cluster and status (who
surveys, announcements and monthly reports are for); a member who leaves is dropped
from the open surveys they have not answered. Training's completions publish the
session's satisfaction survey (once) and add each participant to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bizclub.membership.v1 import events_pb2 as membership_events
from bizclub.training.v1 import events_pb2 as training_events
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.service import ServiceRuntime
from bizclub_shared.topics import MEMBERSHIP, TRAINING
from bizclub_shared.unit_of_work import UnitOfWork

from feedback import domain, store
from feedback.api import Clock, training_completed

CONSUMER = "feedback"


def occurred(event: Any) -> datetime:
    return event.occurred_at.ToDatetime(tzinfo=UTC)


def register(runtime: ServiceRuntime, clock: Clock) -> EventConsumer:
    """Attach feedback's consumer of bizclub.membership.v1 and bizclub.training.v1."""
    consumer = runtime.consumer(CONSUMER)
    add_handlers(consumer, clock)
    consumer.subscribe(
        runtime.kafka,
        [MEMBERSHIP, TRAINING],
        session_timeout_ms=runtime.settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=runtime.settings.consumer_heartbeat_interval_ms,
    )
    return consumer


def add_handlers(consumer: EventConsumer, clock: Clock) -> None:
    @consumer.handles(membership_events.MemberRegistered)
    def registered(uow: UnitOfWork, event: membership_events.MemberRegistered, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.cluster_code,
            status="applied",
        )

    @consumer.handles(membership_events.MemberApproved)
    def approved(uow: UnitOfWork, event: membership_events.MemberApproved, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.cluster_code,
            status=domain.ACTIVE,
        )

    @consumer.handles(membership_events.MemberClusterChanged)
    def cluster_changed(
        uow: UnitOfWork, event: membership_events.MemberClusterChanged, _: Envelope
    ) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.to_cluster_code,
        )

    @consumer.handles(membership_events.MemberSuspended)
    def suspended(uow: UnitOfWork, event: membership_events.MemberSuspended, _: Envelope) -> None:
        store.remember_member(
            uow.session, event.member_id, occurred(event), province_code=event.province_code,
            status="suspended",
        )  # fmt: skip

    @consumer.handles(membership_events.MemberReinstated)
    def reinstated(uow: UnitOfWork, event: membership_events.MemberReinstated, _: Envelope) -> None:
        store.remember_member(
            uow.session, event.member_id, occurred(event), province_code=event.province_code,
            status=domain.ACTIVE,
        )  # fmt: skip

    @consumer.handles(membership_events.MemberLeft)
    def left(uow: UnitOfWork, event: membership_events.MemberLeft, _: Envelope) -> None:
        store.remember_member(
            uow.session, event.member_id, occurred(event), province_code=event.province_code,
            status="left",
        )  # fmt: skip
        store.withdraw_from_open_surveys(uow.session, event.member_id, domain.local_today(clock()))

    @consumer.handles(training_events.SessionScheduled)
    def scheduled(uow: UnitOfWork, event: training_events.SessionScheduled, _: Envelope) -> None:
        store.remember_session(uow.session, event.session_id, event.province_code, event.title_th)

    @consumer.handles(training_events.TrainingCompleted)
    def completed(uow: UnitOfWork, event: training_events.TrainingCompleted, _: Envelope) -> None:
        training_completed(uow, event.session_id, event.province_code, event.member_id, clock())
