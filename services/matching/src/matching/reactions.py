"""Matching's reactions to membership's events: who the members are, and their offers.

Each member gets one offer from membership's facts (business name, products,
cluster, province): made when the member registers, active once the committee
approves, inactive while suspended and for good once they leave. The member fills
it in (description, capacity, price, certifications) with PublishOffer. Every
handler runs in the same transaction as its inbox entry, so a redelivered event
changes nothing twice.
"""

from __future__ import annotations

from bizclub.membership.v1 import events_pb2 as membership_events
from bizclub.membership.v1 import membership_pb2
from bizclub_shared.db import utcnow
from bizclub_shared.envelope import Envelope
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.service import ServiceRuntime
from bizclub_shared.topics import MATCHING, MEMBERSHIP
from bizclub_shared.unit_of_work import UnitOfWork

from matching import domain, store

CONSUMER_GROUP = "matching"
APPLIED, ACTIVE = membership_pb2.MEMBER_STATUS_APPLIED, membership_pb2.MEMBER_STATUS_ACTIVE
SUSPENDED, LEFT = membership_pb2.MEMBER_STATUS_SUSPENDED, membership_pb2.MEMBER_STATUS_LEFT


def register(runtime: ServiceRuntime) -> EventConsumer:
    """Attach matching's consumer of membership's events to the runtime."""
    consumer = runtime.consumer(CONSUMER_GROUP)
    add_handlers(consumer)
    consumer.subscribe(
        runtime.kafka,
        [MEMBERSHIP],
        session_timeout_ms=runtime.settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=runtime.settings.consumer_heartbeat_interval_ms,
    )
    return consumer


def add_handlers(consumer: EventConsumer) -> None:
    consumer.handles(membership_events.MemberRegistered)(member_registered)
    consumer.handles(membership_events.MemberApproved)(member_approved)
    consumer.handles(membership_events.MemberClusterChanged)(member_cluster_changed)
    consumer.handles(membership_events.MemberSuspended)(member_suspended)
    consumer.handles(membership_events.MemberReinstated)(member_reinstated)
    consumer.handles(membership_events.MemberLeft)(member_left)


def _member(
    uow: UnitOfWork,
    member_id: str,
    province_code: str,
    cluster_code: str,
    status: int,
    *,
    name: str = "",
    products: list[str] | None = None,
) -> store.MemberRow:
    """The member's row, made if this is the first matching hears of them."""
    row = uow.session.get(store.MemberRow, member_id)
    if row is None:
        row = store.MemberRow(
            member_id=member_id,
            province_code=province_code,
            cluster_code=cluster_code,
            business_name_th=name,
            products=list(products or []),
            status=status,
            updated_at=utcnow(),
        )
        uow.session.add(row)
        uow.session.flush()
        offer = domain.shell_offer(
            member_id, province_code, cluster_code, name, row.products, utcnow()
        )
        store.save_offer(uow.session, offer)
    return row


def _set_active(uow: UnitOfWork, member: store.MemberRow, status: int) -> list[store.OfferRow]:
    """Set the member's status; their offers are active exactly while they are."""
    member.status, member.updated_at = status, utcnow()
    offers = store.offers_of(uow.session, member.member_id)
    for offer in offers:
        offer.active, offer.updated_at = status == ACTIVE, utcnow()
    return offers


def member_registered(
    uow: UnitOfWork, event: membership_events.MemberRegistered, envelope: Envelope
) -> None:
    row = _member(
        uow,
        event.member_id,
        event.province_code,
        event.cluster_code,
        APPLIED,
        name=event.business_name_th,
        products=list(event.products),
    )
    # Approved before (an event replayed out of a lost log): keep what is newer.
    row.business_name_th = row.business_name_th or event.business_name_th
    row.products = row.products or list(event.products)


def member_approved(
    uow: UnitOfWork, event: membership_events.MemberApproved, envelope: Envelope
) -> None:
    member = _member(uow, event.member_id, event.province_code, event.cluster_code, APPLIED)
    offers = _set_active(uow, member, ACTIVE)
    now = utcnow()
    shell = next((o for o in offers if o.offer_id == domain.shell_offer_id(member.member_id)), None)
    if shell is not None:
        # The member's products are on the market now: announce the offer.
        uow.emit(
            MATCHING,
            member.member_id,
            store.to_offer(shell).published_event(now),
            member.province_code,
        )


def member_cluster_changed(
    uow: UnitOfWork, event: membership_events.MemberClusterChanged, envelope: Envelope
) -> None:
    member = uow.session.get(store.MemberRow, event.member_id)
    if member is None:
        return  # never heard of: its registration will carry the new cluster
    member.cluster_code, member.updated_at = event.to_cluster_code, utcnow()
    for offer in store.offers_of(uow.session, member.member_id):
        offer.cluster_code = event.to_cluster_code
        if offer.categories_from_cluster:
            offer.categories = domain.categories_of_cluster(event.to_cluster_code)
        offer.updated_at = utcnow()


def member_suspended(
    uow: UnitOfWork, event: membership_events.MemberSuspended, envelope: Envelope
) -> None:
    member = uow.session.get(store.MemberRow, event.member_id)
    if member is not None and member.status != LEFT:
        _set_active(uow, member, SUSPENDED)


def member_reinstated(
    uow: UnitOfWork, event: membership_events.MemberReinstated, envelope: Envelope
) -> None:
    member = uow.session.get(store.MemberRow, event.member_id)
    if member is not None and member.status == SUSPENDED:
        _set_active(uow, member, ACTIVE)


def member_left(uow: UnitOfWork, event: membership_events.MemberLeft, envelope: Envelope) -> None:
    member = uow.session.get(store.MemberRow, event.member_id)
    if member is not None:
        _set_active(uow, member, LEFT)
