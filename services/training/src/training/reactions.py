"""Training's reactions to membership's events (consumer group "training").

Each handler runs in the writer with the inbox entry, so a redelivered event has
its effect once. A suspended member or one who left loses their places in sessions
that have not started (seats go to the waitlist at once); the training_member table
keeps each member's province and cluster, which targeting checks use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bizclub.membership.v1 import events_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.service import ServiceRuntime
from bizclub_shared.topics import MEMBERSHIP
from bizclub_shared.unit_of_work import UnitOfWork

from training import domain, store
from training.api import Clock, withdraw_member

CONSUMER = "training"


def occurred(event: Any) -> datetime:
    return event.occurred_at.ToDatetime(tzinfo=UTC)


def register(runtime: ServiceRuntime, clock: Clock) -> None:
    """Attach training's consumer of bizclub.membership.v1 to the runtime."""
    consumer = runtime.consumer(CONSUMER)

    @consumer.handles(events_pb2.MemberRegistered)
    def registered(uow: UnitOfWork, event: events_pb2.MemberRegistered, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.cluster_code,
            status="applied",
        )

    @consumer.handles(events_pb2.MemberApproved)
    def approved(uow: UnitOfWork, event: events_pb2.MemberApproved, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.cluster_code,
            status="active",
        )

    @consumer.handles(events_pb2.MemberClusterChanged)
    def cluster_changed(
        uow: UnitOfWork, event: events_pb2.MemberClusterChanged, _: Envelope
    ) -> None:
        # Places already held stay: the change only decides which sessions they may join next.
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            cluster_code=event.to_cluster_code,
        )

    @consumer.handles(events_pb2.MemberReinstated)
    def reinstated(uow: UnitOfWork, event: events_pb2.MemberReinstated, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            status="active",
        )

    @consumer.handles(events_pb2.MemberSuspended)
    def suspended(uow: UnitOfWork, event: events_pb2.MemberSuspended, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            status="suspended",
        )
        withdraw_member(uow, event.member_id, domain.BY_SUSPENSION, clock())

    @consumer.handles(events_pb2.MemberLeft)
    def left(uow: UnitOfWork, event: events_pb2.MemberLeft, _: Envelope) -> None:
        store.remember_member(
            uow.session,
            event.member_id,
            occurred(event),
            province_code=event.province_code,
            status="left",
        )
        withdraw_member(uow, event.member_id, domain.BY_LEAVING, clock())

    settings = runtime.settings
    consumer.subscribe(
        runtime.kafka,
        [MEMBERSHIP],
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
    )
