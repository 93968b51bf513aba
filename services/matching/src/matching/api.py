"""The MatchingService gRPC servicer: proto in, domain call, proto out.

Writes run through the group-commit writer (rows and outbox events in one
transaction); reads use their own sessions. Scoring runs in the read thread, off
the event loop and outside the write lock; only the suggestions it chose are
written. Domain errors become statuses with field details in the shared error
mapping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import (
    events_pb2,
    matching_pb2,
    matching_service_pb2,
    matching_service_pb2_grpc,
)
from bizclub_shared.auth import visible_provinces
from bizclub_shared.db import Database, utcnow
from bizclub_shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolations,
    InvalidArgument,
    NotFound,
)
from bizclub_shared.ids import new_id
from bizclub_shared.paging import MAX_PAGE, decode_cursor, encode_cursor, page_size, rows_after
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.topics import MATCHING
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from bizclub_shared.validation import check_province, clean_text, require_id
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from matching import domain, store

ms = matching_service_pb2
mp = matching_pb2
SIDES = (mp.SIDE_BUYER, mp.SIDE_MEMBER)


# --- proto out --------------------------------------------------------------------------


def money(satang: int) -> common_pb2.Money:
    return common_pb2.Money(satang=satang, currency_code="THB")


def buyer_to_proto(row: store.BuyerRow | domain.Buyer) -> mp.Buyer:
    return mp.Buyer(
        buyer_id=row.buyer_id,
        province_code=row.province_code,
        kind=row.kind,  # type: ignore[arg-type]
        name_th=row.name_th,
        name_en=row.name_en,
        registered_at=to_timestamp(row.registered_at),
    )


def need_to_proto(need: domain.Need) -> mp.Need:
    proto = mp.Need(
        need_id=need.need_id,
        buyer_id=need.buyer_id,
        province_code=need.province_code,
        categories=need.categories,  # type: ignore[arg-type]
        title=need.title,
        description=need.description,
        required_certifications=need.required_certifications,  # type: ignore[arg-type]
        min_otop_stars=need.min_otop_stars,
        delivery_regions=need.delivery_regions,  # type: ignore[arg-type]
        open_to_province_codes=need.open_to_province_codes,
        published_at=to_timestamp(need.published_at),
    )
    if need.volume:
        proto.volume.CopyFrom(domain.quantity_proto(need.volume))
    if need.price:
        proto.price.CopyFrom(domain.price_proto(need.price))
    if need.deadline:
        proto.deadline.CopyFrom(domain.date_proto(need.deadline))
    if need.closed_at:
        proto.closed_at.CopyFrom(to_timestamp(need.closed_at))
        proto.closed_reason = need.closed_reason
    return proto


def offer_to_proto(offer: domain.Offer) -> mp.Offer:
    proto = mp.Offer(
        offer_id=offer.offer_id,
        member_id=offer.member_id,
        province_code=offer.province_code,
        cluster_code=offer.cluster_code,
        business_name_th=offer.business_name_th,
        categories=offer.categories,  # type: ignore[arg-type]
        title=offer.title,
        description=offer.description,
        products=offer.products,
        certifications=offer.certifications,  # type: ignore[arg-type]
        otop_stars=offer.otop_stars,
        active=offer.active,
        updated_at=to_timestamp(offer.updated_at),
    )
    if offer.capacity:
        proto.capacity.CopyFrom(domain.quantity_proto(offer.capacity))
    if offer.price:
        proto.price.CopyFrom(domain.price_proto(offer.price))
    return proto


def suggestion_to_proto(s: domain.Suggestion) -> mp.MatchSuggestion:
    return mp.MatchSuggestion(
        need_id=s.need.need_id,
        buyer_id=s.need.buyer_id,
        buyer_province_code=s.need.province_code,
        offer_id=s.offer.offer_id,
        member_id=s.offer.member_id,
        member_province_code=s.offer.province_code,
        cluster_code=s.offer.cluster_code,
        business_name_th=s.offer.business_name_th,
        need_title=s.need.title,
        offer_title=s.offer.title,
        score=s.breakdown(),
    )


def slot_proto(slot: domain.Slot) -> mp.TimeSlot:
    return mp.TimeSlot(start_time=to_timestamp(slot.start), end_time=to_timestamp(slot.end))


def event_to_proto(row: store.MatchingEventRow) -> mp.MatchingEvent:
    return mp.MatchingEvent(
        matching_event_id=row.matching_event_id,
        province_code=row.province_code,
        kind=row.kind,  # type: ignore[arg-type]
        title=row.title,
        venue=row.venue,
        slots=[slot_proto(s) for s in store.slots_of(row)],
        table_codes=row.table_codes,
        booth_codes=row.booth_codes,
        created_at=to_timestamp(row.created_at),
    )


def participant_to_proto(row: store.ParticipantRow) -> mp.Participant:
    return mp.Participant(
        side=row.side,  # type: ignore[arg-type]
        party_id=row.party_id,
        name_th=row.name_th,
        province_code=row.province_code,
        available_slots=row.available_slots,
        booth_code=row.booth_code or "",
        withdrawn=row.withdrawn_at is not None,
    )


def meeting_to_proto(row: store.MeetingRow, slots: Sequence[domain.Slot]) -> mp.Meeting:
    proto = mp.Meeting(
        meeting_id=row.meeting_id,
        matching_event_id=row.matching_event_id,
        buyer_id=row.buyer_id,
        member_id=row.member_id,
        priority=row.priority,
        requested_by_buyer=row.requested_by_buyer,
        requested_by_member=row.requested_by_member,
        need_id=row.need_id,
        offer_id=row.offer_id,
        status=row.status,  # type: ignore[arg-type]
        missed_by=row.missed_by,  # type: ignore[arg-type]
    )
    if row.slot_index is not None and row.status in store.PLACED:
        proto.slot_index = row.slot_index
        proto.table_code = row.table_code or ""
        proto.slot.CopyFrom(slot_proto(slots[row.slot_index]))
    return proto


def schedule_order(row: store.MeetingRow) -> tuple[int, int, int, str]:
    """Placed meetings by slot and table; then requests not placed; then cancelled."""
    if row.status in store.PLACED and row.slot_index is not None:
        return (0, row.slot_index, 0, row.table_code or "")
    rank = 1 if row.status == mp.MEETING_STATUS_REQUESTED else 2
    return (rank, row.priority, row.id or 0, "")


def schedule_to_proto(
    rows: Sequence[store.MeetingRow], event: store.MatchingEventRow
) -> list[mp.Meeting]:
    slots = store.slots_of(event)
    return [meeting_to_proto(r, slots) for r in sorted(rows, key=schedule_order)]


def deal_to_proto(row: store.DealRow) -> mp.Deal:
    return mp.Deal(
        deal_id=row.deal_id,
        kind=row.kind,  # type: ignore[arg-type]
        buyer_id=row.buyer_id,
        member_id=row.member_id,
        meeting_id=row.meeting_id,
        matching_event_id=row.matching_event_id,
        order_value=money(row.order_value_satang),
        repeats=row.repeats,
        signed_at=to_timestamp(row.signed_at),
    )


def check_side(value: int, field: str) -> int:
    if value not in SIDES:
        raise InvalidArgument("is required: SIDE_BUYER or SIDE_MEMBER", field=field)
    return value


def check_page_size(page: common_pb2.PageRequest) -> None:
    if not 0 <= page.page_size <= MAX_PAGE:
        raise InvalidArgument(f"must be between 0 and {MAX_PAGE}", field="page.page_size")


def from_cursor_time(value: str | int) -> datetime:
    return datetime.fromisoformat(str(value))


def check_province_filter(code: str) -> None:
    if code:
        v = FieldViolations()
        check_province(v, "province_code", code)
        v.raise_if_any()


# --- scheduling, shared by ScheduleMeetings and WithdrawParticipant -------------------------


def place_pending(
    uow: UnitOfWork, event: store.MatchingEventRow, rows: Sequence[store.MeetingRow], now: datetime
) -> None:
    """Place the event's requests not placed yet; placed meetings stay where they are."""
    live = [r for r in rows if r.status in store.LIVE]
    placed = {r.meeting_id: p for r in live if (p := store.placement_of(r)) is not None}
    availability: dict[domain.Party, list[int] | None] = {
        (p.side, p.party_id): (p.available_slots or None)
        for p in store.participants(uow.session, event.matching_event_id)
        if p.withdrawn_at is None
    }
    new = domain.place_requests(
        [store.to_request(r) for r in live],
        placed,
        availability,
        len(event.slots),
        event.table_codes,
    )
    slots = store.slots_of(event)
    for row in live:
        placement = new.get(row.meeting_id)
        if placement is None:
            continue
        row.status, row.slot_index, row.table_code = (
            mp.MEETING_STATUS_SCHEDULED,
            placement.slot,
            placement.table,
        )
        row.updated_at = now
        uow.emit(
            MATCHING,
            event.matching_event_id,
            events_pb2.MeetingScheduled(
                meeting_id=row.meeting_id,
                matching_event_id=event.matching_event_id,
                province_code=event.province_code,
                buyer_id=row.buyer_id,
                member_id=row.member_id,
                slot_index=placement.slot,
                slot=slot_proto(slots[placement.slot]),
                table_code=placement.table,
                occurred_at=to_timestamp(now),
            ),
            event.province_code,
        )


class MatchingApi(matching_service_pb2_grpc.MatchingServiceServicer):
    def __init__(self, db: Database, writer: Writer) -> None:
        self._db = db
        self._writer = writer
        # Active offers and open needs for SuggestMatches, caught up with the database
        # (this replica's writes and every other's) before each ranking, under the lock.
        self._index = domain.SuggestionIndex()
        self._index_lock = threading.Lock()
        store.count_changes(db.write_sessions)

    async def load_index(self) -> None:
        """Build the suggestion index from the database (at start, so no call waits)."""

        def load(session: Session) -> None:
            with self._index_lock:
                store.refresh_index(session, self._index)
                self._index.prepare()

        await self._db.read(load)

    # --- buyers and needs -------------------------------------------------------------

    async def RegisterBuyer(
        self, request: ms.RegisterBuyerRequest, context: grpc.aio.ServicerContext
    ) -> ms.RegisterBuyerResponse:
        buyer = domain.validate_buyer(request, utcnow())

        def register(uow: UnitOfWork) -> mp.Buyer:
            uow.session.add(store.BuyerRow(**buyer.__dict__))
            uow.emit(MATCHING, buyer.buyer_id, buyer.registered_event(), buyer.province_code)
            return buyer_to_proto(buyer)

        return ms.RegisterBuyerResponse(buyer=await self._writer.run(register, "RegisterBuyer"))

    async def GetBuyer(
        self, request: ms.GetBuyerRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetBuyerResponse:
        buyer_id = require_id(request.buyer_id, "buyer_id")
        return await self._db.read(
            lambda s: ms.GetBuyerResponse(buyer=buyer_to_proto(store.buyer_row(s, buyer_id)))
        )

    async def ListBuyers(
        self, request: ms.ListBuyersRequest, context: grpc.aio.ServicerContext
    ) -> ms.ListBuyersResponse:
        check_province_filter(request.province_code)
        check_page_size(request.page)
        filters = json.dumps([request.province_code, request.kind])
        after = decode_cursor(request.page.page_token, filters, (str, str))
        size = page_size(request.page.page_size)
        b = store.BuyerRow
        order = (col(b.registered_at), col(b.buyer_id))

        def read(session: Session) -> ms.ListBuyersResponse:
            query = select(b).order_by(*order).limit(size + 1)
            if request.province_code:
                query = query.where(col(b.province_code) == request.province_code)
            if request.kind:
                query = query.where(col(b.kind) == request.kind)
            if after is not None:
                query = query.where(rows_after(order, [from_cursor_time(after[0]), after[1]]))
            rows = list(session.execute(query).scalars())
            reply = ms.ListBuyersResponse(buyers=[buyer_to_proto(r) for r in rows[:size]])
            if len(rows) > size:
                last = rows[size - 1]
                reply.page.next_page_token = encode_cursor(
                    [last.registered_at.isoformat(), last.buyer_id], filters
                )
            return reply

        return await self._db.read(read)

    async def PublishNeed(
        self, request: ms.PublishNeedRequest, context: grpc.aio.ServicerContext
    ) -> ms.PublishNeedResponse:
        buyer_id = require_id(request.buyer_id, "buyer_id")
        now = utcnow()
        facts = domain.validate_need(request, domain.thai_today(now))

        def publish(uow: UnitOfWork) -> mp.Need:
            buyer = store.to_buyer(store.buyer_row(uow.session, buyer_id))
            need = domain.publish_need(facts, buyer, now)
            uow.session.add(store.need_to_row(need))
            uow.emit(MATCHING, buyer.buyer_id, need.published_event(), buyer.province_code)
            return need_to_proto(need)

        return ms.PublishNeedResponse(need=await self._writer.run(publish, "PublishNeed"))

    async def CloseNeed(
        self, request: ms.CloseNeedRequest, context: grpc.aio.ServicerContext
    ) -> ms.CloseNeedResponse:
        need_id = require_id(request.need_id, "need_id")
        v = FieldViolations()
        reason = clean_text(v, "reason", request.reason, required=False, limit=1000)
        v.raise_if_any()

        def close(uow: UnitOfWork) -> mp.Need:
            row = store.need_row(uow.session, need_id)
            need = store.to_need(row)
            event = need.close(reason, utcnow())
            row.closed_at, row.closed_reason = need.closed_at, need.closed_reason
            uow.emit(MATCHING, need.buyer_id, event, need.province_code)
            return need_to_proto(need)

        return ms.CloseNeedResponse(need=await self._writer.run(close, "CloseNeed"))

    async def GetNeed(
        self, request: ms.GetNeedRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetNeedResponse:
        need_id = require_id(request.need_id, "need_id")
        need = await self._db.read(lambda s: store.to_need(store.need_row(s, need_id)))
        if not domain.need_visible_to(
            need.province_code, need.open_to_province_codes, visible_provinces()
        ):  # closed to the caller's provinces: as if it were not there
            raise NotFound(f"no need with id {need_id!r}", field="need_id")
        return ms.GetNeedResponse(need=need_to_proto(need))

    async def ListNeeds(
        self, request: ms.ListNeedsRequest, context: grpc.aio.ServicerContext
    ) -> ms.ListNeedsResponse:
        check_province_filter(request.province_code)
        check_page_size(request.page)
        provinces = visible_provinces()
        filters = json.dumps(
            [request.province_code, request.buyer_id.strip(), request.include_closed]
        )
        after = decode_cursor(request.page.page_token, filters, (str, str))
        size = page_size(request.page.page_size)
        n = store.NeedRow
        order = (col(n.published_at), col(n.need_id))

        def read(session: Session) -> ms.ListNeedsResponse:
            query = select(n).order_by(*order)
            if request.province_code:
                query = query.where(col(n.province_code) == request.province_code)
            if request.buyer_id.strip():
                query = query.where(col(n.buyer_id) == request.buyer_id.strip())
            if not request.include_closed:
                query = query.where(col(n.closed_at).is_(None))
            start = [from_cursor_time(after[0]), after[1]] if after is not None else None
            visible: list[store.NeedRow] = []
            # Needs closed to the caller's provinces are skipped, so read on in chunks
            # until the page (and one more, to know there is a next) is full.
            while len(visible) <= size:
                chunk_query = query.limit(2 * (size + 1))
                if start is not None:
                    chunk_query = chunk_query.where(rows_after(order, start))
                chunk = list(session.execute(chunk_query).scalars())
                visible += [
                    r
                    for r in chunk
                    if domain.need_visible_to(r.province_code, r.open_to_province_codes, provinces)
                ]
                if len(chunk) < 2 * (size + 1):
                    break
                start = [chunk[-1].published_at, chunk[-1].need_id]
            reply = ms.ListNeedsResponse(
                needs=[need_to_proto(store.to_need(r)) for r in visible[:size]]
            )
            if len(visible) > size:
                last = visible[size - 1]
                reply.page.next_page_token = encode_cursor(
                    [last.published_at.isoformat(), last.need_id], filters
                )
            return reply

        return await self._db.read(read)

    # --- offers -----------------------------------------------------------------------

    async def PublishOffer(
        self, request: ms.PublishOfferRequest, context: grpc.aio.ServicerContext
    ) -> ms.PublishOfferResponse:
        member_id = require_id(request.member_id, "member_id")
        offer_id = request.offer_id.strip()
        facts = domain.validate_offer(request)
        if not offer_id and not facts.title:
            raise InvalidArgument("is required for a new offer", field="title")

        def publish(uow: UnitOfWork) -> mp.Offer:
            member = store.member_row(uow.session, member_id)
            if member.status != store.ACTIVE_MEMBER:
                raise FailedPrecondition(
                    "only an active member publishes offers; this member is not active",
                    field="member_id",
                )
            now = utcnow()
            row: store.OfferRow | None = None
            if offer_id:
                row = uow.session.get(store.OfferRow, offer_id)
                if row is None or row.member_id != member_id:
                    raise NotFound(f"member has no offer with id {offer_id!r}", field="offer_id")
                offer = store.to_offer(row)
            else:
                offer = domain.Offer(
                    offer_id=new_id(),
                    member_id=member_id,
                    province_code=member.province_code,
                    cluster_code=member.cluster_code,
                    business_name_th=member.business_name_th,
                    categories=domain.categories_of_cluster(member.cluster_code),
                    title=facts.title,
                    description="",
                    products=[],
                    capacity=None,
                    price=None,
                    certifications=[],
                    otop_stars=0,
                    active=True,
                    updated_at=now,
                )
            domain.apply_offer_facts(offer, facts, now)
            saved = store.save_offer(uow.session, offer, row)
            if facts.categories:
                saved.categories_from_cluster = False
            uow.emit(MATCHING, member_id, offer.published_event(now), offer.province_code)
            return offer_to_proto(offer)

        return ms.PublishOfferResponse(offer=await self._writer.run(publish, "PublishOffer"))

    async def ListOffers(
        self, request: ms.ListOffersRequest, context: grpc.aio.ServicerContext
    ) -> ms.ListOffersResponse:
        check_province_filter(request.province_code)
        check_page_size(request.page)
        provinces = visible_provinces(request.province_code)  # narrowed, not refused
        if provinces == []:
            return ms.ListOffersResponse()
        member_id = request.member_id.strip()
        filters = json.dumps([sorted(provinces or []), member_id, request.active_only])
        after = decode_cursor(request.page.page_token, filters, (str, str))
        size = page_size(request.page.page_size)
        o = store.OfferRow
        order = (col(o.member_id), col(o.offer_id))

        def read(session: Session) -> ms.ListOffersResponse:
            query = select(o).order_by(*order).limit(size + 1)
            if provinces is not None:
                query = query.where(col(o.province_code).in_(provinces))
            if member_id:
                query = query.where(col(o.member_id) == member_id)
            if request.active_only:
                query = query.where(col(o.active).is_(True))
            if after is not None:
                query = query.where(rows_after(order, after))
            rows = list(session.execute(query).scalars())
            reply = ms.ListOffersResponse(
                offers=[offer_to_proto(store.to_offer(r)) for r in rows[:size]]
            )
            if len(rows) > size:
                last = rows[size - 1]
                reply.page.next_page_token = encode_cursor([last.member_id, last.offer_id], filters)
            return reply

        return await self._db.read(read)

    # --- suggestions ------------------------------------------------------------------

    async def SuggestMatches(
        self, request: ms.SuggestMatchesRequest, context: grpc.aio.ServicerContext
    ) -> ms.SuggestMatchesResponse:
        top_k = domain.top_k_of(request.top_k)
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument(
                "give one of need_id, member_id or matching_event_id", field="target"
            )
        target_id = require_id(getattr(request, target), target)
        now = utcnow()
        today = domain.thai_today(now)

        def rank(session: Session) -> list[domain.Suggestion]:
            if target == "need_id":
                need = store.to_need(store.need_row(session, target_id))
                history = store.history_for(session, [need.buyer_id])
                with self._index_lock:
                    store.refresh_index(session, self._index)
                    return self._index.rank_offers(need, history, today, top_k)
            if target == "member_id":
                store.member_row(session, target_id)
                with self._index_lock:
                    store.refresh_index(session, self._index)
                    clusters = self._index.clusters_of(target_id)
                    history = store.history_of_clusters(session, clusters)
                    return self._index.rank_needs_for_member(target_id, history, today, top_k)
            store.event_row(session, target_id)
            present = [p for p in store.participants(session, target_id) if p.withdrawn_at is None]
            buyer_ids = [p.party_id for p in present if p.side == mp.SIDE_BUYER]
            member_ids = [p.party_id for p in present if p.side == mp.SIDE_MEMBER]
            needs_by_buyer: dict[str, list[domain.Need]] = {b: [] for b in buyer_ids}
            for need in store.open_needs(session, today, buyer_ids):
                needs_by_buyer[need.buyer_id].append(need)
            return domain.rank_for_event(
                needs_by_buyer,
                store.active_offers(session, member_ids),
                store.history_for(session, buyer_ids),
                today,
                top_k,
            )

        suggestions = await self._db.read(rank)

        def record(uow: UnitOfWork) -> None:
            for s in store.record_suggestions(uow, suggestions, now):
                uow.emit(
                    MATCHING, s.need.need_id, domain.suggested_event(s, now), s.offer.province_code
                )

        if suggestions:
            await self._writer.run(record, "SuggestMatches")
        return ms.SuggestMatchesResponse(suggestions=[suggestion_to_proto(s) for s in suggestions])

    # --- matching events --------------------------------------------------------------

    async def CreateMatchingEvent(
        self, request: ms.CreateMatchingEventRequest, context: grpc.aio.ServicerContext
    ) -> ms.CreateMatchingEventResponse:
        facts = domain.validate_matching_event(request)

        def create(uow: UnitOfWork) -> mp.MatchingEvent:
            row = store.MatchingEventRow(
                matching_event_id=new_id(),
                province_code=facts.province_code,
                kind=facts.kind,
                title=facts.title,
                venue=facts.venue,
                slots=[[s.start.isoformat(), s.end.isoformat()] for s in facts.slots],
                table_codes=facts.table_codes,
                booth_codes=facts.booth_codes,
                created_at=utcnow(),
            )
            uow.session.add(row)
            return event_to_proto(row)

        return ms.CreateMatchingEventResponse(
            matching_event=await self._writer.run(create, "CreateMatchingEvent")
        )

    async def GetMatchingEvent(
        self, request: ms.GetMatchingEventRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetMatchingEventResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")

        def read(session: Session) -> ms.GetMatchingEventResponse:
            event = store.event_row(session, event_id)
            return ms.GetMatchingEventResponse(
                matching_event=event_to_proto(event),
                participants=[
                    participant_to_proto(p) for p in store.participants(session, event_id)
                ],
            )

        return await self._db.read(read)

    async def RegisterParticipant(
        self, request: ms.RegisterParticipantRequest, context: grpc.aio.ServicerContext
    ) -> ms.RegisterParticipantResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")
        side = check_side(request.side, "side")
        party_id = require_id(request.party_id, "party_id")

        def register(uow: UnitOfWork) -> mp.Participant:
            event = store.event_row(uow.session, event_id)
            slots = domain.check_available_slots(request.available_slots, len(event.slots))
            if store.participant(uow.session, event_id, side, party_id) is not None:
                raise AlreadyExists(
                    f"this {domain.side_name(side)} is already registered for the event",
                    field="party_id",
                )
            if side == mp.SIDE_BUYER:
                buyer = store.buyer_row(uow.session, party_id, "party_id")
                name, province = buyer.name_th, buyer.province_code
            else:
                member = store.member_row(uow.session, party_id, "party_id")
                if member.status != store.ACTIVE_MEMBER:
                    raise FailedPrecondition("the member is not active", field="party_id")
                name, province = member.business_name_th, member.province_code
            row = store.ParticipantRow(
                matching_event_id=event_id,
                side=side,
                party_id=party_id,
                name_th=name,
                province_code=province,
                available_slots=slots,
                registered_at=utcnow(),
            )
            uow.session.add(row)
            return participant_to_proto(row)

        return ms.RegisterParticipantResponse(
            participant=await self._writer.run(register, "RegisterParticipant")
        )

    async def WithdrawParticipant(
        self, request: ms.WithdrawParticipantRequest, context: grpc.aio.ServicerContext
    ) -> ms.WithdrawParticipantResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")
        side = check_side(request.side, "side")
        party_id = require_id(request.party_id, "party_id")

        def withdraw(uow: UnitOfWork) -> list[mp.Meeting]:
            event = store.event_row(uow.session, event_id)
            who = store.participant(uow.session, event_id, side, party_id)
            if who is None:
                raise NotFound("no such participant in this event", field="party_id")
            if who.withdrawn_at is not None:
                raise FailedPrecondition("the participant has already withdrawn", field="party_id")
            now = utcnow()
            who.withdrawn_at = now
            rows = store.meetings(uow.session, event_id)
            for row in rows:
                mine = row.buyer_id if side == mp.SIDE_BUYER else row.member_id
                # Held and missed meetings are history; only what is still to come is cancelled.
                if mine != party_id or row.status not in (
                    mp.MEETING_STATUS_REQUESTED,
                    mp.MEETING_STATUS_SCHEDULED,
                ):
                    continue
                row.status, row.slot_index, row.table_code, row.updated_at = (
                    mp.MEETING_STATUS_CANCELLED,
                    None,
                    None,
                    now,
                )
                uow.emit(
                    MATCHING,
                    event_id,
                    events_pb2.MeetingCancelled(
                        meeting_id=row.meeting_id,
                        matching_event_id=event_id,
                        province_code=event.province_code,
                        buyer_id=row.buyer_id,
                        member_id=row.member_id,
                        withdrawn_side=side,  # type: ignore[arg-type]
                        occurred_at=to_timestamp(now),
                    ),
                    event.province_code,
                )
            uow.session.flush()
            if event.scheduled_at is not None:
                place_pending(uow, event, rows, now)
            return schedule_to_proto(rows, event)

        return ms.WithdrawParticipantResponse(
            meetings=await self._writer.run(withdraw, "WithdrawParticipant")
        )

    async def AssignBooth(
        self, request: ms.AssignBoothRequest, context: grpc.aio.ServicerContext
    ) -> ms.AssignBoothResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")
        member_id = require_id(request.member_id, "member_id")
        booth = request.booth_code.strip()

        def assign(uow: UnitOfWork) -> mp.Participant:
            event = store.event_row(uow.session, event_id)
            if booth not in event.booth_codes:
                raise InvalidArgument(
                    f"is not a booth of this event ({', '.join(event.booth_codes) or 'none'})",
                    field="booth_code",
                )
            who = store.participant(uow.session, event_id, mp.SIDE_MEMBER, member_id)
            if who is None or who.withdrawn_at is not None:
                raise FailedPrecondition(
                    "the member is not registered for this event", field="member_id"
                )
            taken = uow.session.execute(
                select(col(store.ParticipantRow.party_id)).where(
                    col(store.ParticipantRow.matching_event_id) == event_id,
                    col(store.ParticipantRow.booth_code) == booth,
                )
            ).scalar_one_or_none()
            if taken is not None and taken != member_id:
                raise FailedPrecondition(
                    f"booth {booth} is assigned to another member", field="booth_code"
                )
            who.booth_code = booth
            return participant_to_proto(who)

        return ms.AssignBoothResponse(participant=await self._writer.run(assign, "AssignBooth"))

    # --- meetings ---------------------------------------------------------------------

    async def RequestMeeting(
        self, request: ms.RequestMeetingRequest, context: grpc.aio.ServicerContext
    ) -> ms.RequestMeetingResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")
        buyer_id = require_id(request.buyer_id, "buyer_id")
        member_id = require_id(request.member_id, "member_id")
        side = check_side(request.requested_by, "requested_by")
        priority = domain.check_priority(request.priority)
        need_id, offer_id = request.need_id.strip(), request.offer_id.strip()

        def request_meeting(uow: UnitOfWork) -> mp.Meeting:
            event = store.event_row(uow.session, event_id)
            for party_side, party_id, field in (
                (mp.SIDE_BUYER, buyer_id, "buyer_id"),
                (mp.SIDE_MEMBER, member_id, "member_id"),
            ):
                who = store.participant(uow.session, event_id, party_side, party_id)
                if who is None or who.withdrawn_at is not None:
                    raise FailedPrecondition(
                        f"the {domain.side_name(party_side)} is not registered for this event",
                        field=field,
                    )
            if need_id and store.need_row(uow.session, need_id).buyer_id != buyer_id:
                raise InvalidArgument("is not a need of this buyer", field="need_id")
            if offer_id:
                offer = uow.session.get(store.OfferRow, offer_id)
                if offer is None or offer.member_id != member_id:
                    raise InvalidArgument("is not an offer of this member", field="offer_id")
            now = utcnow()
            row = store.live_meeting_of_pair(uow.session, event_id, buyer_id, member_id)
            if row is None:
                row = store.MeetingRow(
                    meeting_id=new_id(),
                    matching_event_id=event_id,
                    buyer_id=buyer_id,
                    member_id=member_id,
                    priority=priority,
                    need_id=need_id,
                    offer_id=offer_id,
                    status=mp.MEETING_STATUS_REQUESTED,
                    requested_at=now,
                    updated_at=now,
                )
                uow.session.add(row)
            else:
                already = (
                    row.requested_by_buyer if side == mp.SIDE_BUYER else row.requested_by_member
                )
                if already:
                    raise AlreadyExists(
                        f"the {domain.side_name(side)} has already asked for this meeting "
                        f"({row.meeting_id})",
                        field="requested_by",
                    )
                # The other side asked too: one meeting, at the higher of the two priorities.
                row.priority = min(row.priority, priority)
                row.need_id = row.need_id or need_id
                row.offer_id = row.offer_id or offer_id
                row.updated_at = now
            if side == mp.SIDE_BUYER:
                row.requested_by_buyer = True
            else:
                row.requested_by_member = True
            uow.session.flush()
            buyer = store.buyer_row(uow.session, buyer_id)
            member = store.member_row(uow.session, member_id)
            uow.emit(
                MATCHING,
                event_id,
                events_pb2.MeetingRequested(
                    meeting_id=row.meeting_id,
                    matching_event_id=event_id,
                    province_code=event.province_code,
                    buyer_id=buyer_id,
                    buyer_province_code=buyer.province_code,
                    member_id=member_id,
                    member_province_code=member.province_code,
                    requested_by=side,  # type: ignore[arg-type]
                    priority=priority,
                    need_id=need_id,
                    offer_id=offer_id,
                    occurred_at=to_timestamp(now),
                ),
                event.province_code,
            )
            return meeting_to_proto(row, store.slots_of(event))

        return ms.RequestMeetingResponse(
            meeting=await self._writer.run(request_meeting, "RequestMeeting")
        )

    async def ScheduleMeetings(
        self, request: ms.ScheduleMeetingsRequest, context: grpc.aio.ServicerContext
    ) -> ms.ScheduleMeetingsResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")

        def schedule(uow: UnitOfWork) -> list[mp.Meeting]:
            event = store.event_row(uow.session, event_id)
            now = utcnow()
            event.scheduled_at = event.scheduled_at or now
            rows = store.meetings(uow.session, event_id)
            place_pending(uow, event, rows, now)
            return schedule_to_proto(rows, event)

        return ms.ScheduleMeetingsResponse(
            meetings=await self._writer.run(schedule, "ScheduleMeetings")
        )

    async def GetSchedule(
        self, request: ms.GetScheduleRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetScheduleResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")

        def read(session: Session) -> ms.GetScheduleResponse:
            event = store.event_row(session, event_id)
            return ms.GetScheduleResponse(
                meetings=schedule_to_proto(store.meetings(session, event_id), event)
            )

        return await self._db.read(read)

    # --- outcomes ---------------------------------------------------------------------

    async def RecordMeetingOutcome(
        self, request: ms.RecordMeetingOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> ms.RecordMeetingOutcomeResponse:
        meeting_id = require_id(request.meeting_id, "meeting_id")
        domain.check_outcome(request.outcome, request.missed_by)

        def record(uow: UnitOfWork) -> mp.Meeting:
            row = store.meeting_row(uow.session, meeting_id)
            domain.require_meeting_status(
                row.status, {mp.MEETING_STATUS_SCHEDULED}, "record an outcome"
            )
            event = store.event_row(uow.session, row.matching_event_id)
            member = store.member_row(uow.session, row.member_id)
            now = utcnow()
            row.status, row.missed_by, row.updated_at = request.outcome, request.missed_by, now
            happened: events_pb2.MeetingHeld | events_pb2.MeetingMissed
            if request.outcome == mp.MEETING_STATUS_HELD:
                store.add_history(uow.session, row.buyer_id, member, held=1)
                happened = events_pb2.MeetingHeld()
            else:
                store.add_history(uow.session, row.buyer_id, member, missed=1)
                happened = events_pb2.MeetingMissed(missed_by=request.missed_by)
            # The two events share these fields, by the same names and numbers.
            happened.meeting_id = row.meeting_id
            happened.matching_event_id = row.matching_event_id
            happened.province_code = event.province_code
            happened.buyer_id = row.buyer_id
            happened.member_id = row.member_id
            happened.member_province_code = member.province_code
            happened.cluster_code = member.cluster_code
            happened.occurred_at.CopyFrom(to_timestamp(now))
            uow.emit(MATCHING, row.matching_event_id, happened, event.province_code)
            return meeting_to_proto(row, store.slots_of(event))

        return ms.RecordMeetingOutcomeResponse(
            meeting=await self._writer.run(record, "RecordMeetingOutcome")
        )

    async def SignDeal(
        self, request: ms.SignDealRequest, context: grpc.aio.ServicerContext
    ) -> ms.SignDealResponse:
        facts = domain.validate_deal(request)
        meeting_id = request.meeting_id.strip()
        buyer_id, member_id = request.buyer_id.strip(), request.member_id.strip()

        def sign(uow: UnitOfWork) -> mp.Deal:
            event_id = ""
            nonlocal buyer_id, member_id
            if meeting_id:
                meeting = store.meeting_row(uow.session, meeting_id)
                domain.require_meeting_status(
                    meeting.status, {mp.MEETING_STATUS_HELD}, "sign a deal from it"
                )
                if buyer_id and buyer_id != meeting.buyer_id:
                    raise InvalidArgument("is not the buyer of the meeting", field="buyer_id")
                if member_id and member_id != meeting.member_id:
                    raise InvalidArgument("is not the member of the meeting", field="member_id")
                buyer_id, member_id = meeting.buyer_id, meeting.member_id
                event_id = meeting.matching_event_id
            buyer = store.buyer_row(uow.session, buyer_id)
            member = store.member_row(uow.session, member_id)
            now = utcnow()
            row = store.DealRow(
                deal_id=new_id(),
                kind=facts.kind,
                buyer_id=buyer_id,
                member_id=member_id,
                meeting_id=meeting_id,
                matching_event_id=event_id,
                order_value_satang=facts.value_satang,
                repeats=facts.repeats,
                signed_at=now,
            )
            uow.session.add(row)
            store.add_history(uow.session, buyer_id, member, deals=1, value=facts.value_satang)
            uow.emit(
                MATCHING,
                event_id or buyer_id,
                events_pb2.DealSigned(
                    deal_id=row.deal_id,
                    kind=facts.kind,  # type: ignore[arg-type]
                    buyer_id=buyer_id,
                    buyer_kind=buyer.kind,  # type: ignore[arg-type]
                    buyer_province_code=buyer.province_code,
                    member_id=member_id,
                    province_code=member.province_code,
                    cluster_code=member.cluster_code,
                    meeting_id=meeting_id,
                    matching_event_id=event_id,
                    order_value=money(facts.value_satang),
                    repeats=facts.repeats,
                    occurred_at=to_timestamp(now),
                ),
                member.province_code,
            )
            return deal_to_proto(row)

        return ms.SignDealResponse(deal=await self._writer.run(sign, "SignDeal"))

    async def RecordFairSales(
        self, request: ms.RecordFairSalesRequest, context: grpc.aio.ServicerContext
    ) -> ms.RecordFairSalesResponse:
        event_id = require_id(request.matching_event_id, "matching_event_id")
        member_id = require_id(request.member_id, "member_id")
        sales = domain.check_sales(request.sales)

        def record(uow: UnitOfWork) -> int:
            event = store.event_row(uow.session, event_id)
            if event.kind != mp.MATCHING_EVENT_KIND_TRADE_FAIR:
                raise FailedPrecondition(
                    "sales are recorded for trade fairs only", field="matching_event_id"
                )
            if store.participant(uow.session, event_id, mp.SIDE_MEMBER, member_id) is None:
                raise FailedPrecondition(
                    "the member is not registered for this fair", field="member_id"
                )
            member = store.member_row(uow.session, member_id)
            now = utcnow()
            uow.session.add(
                store.FairSaleRow(
                    matching_event_id=event_id,
                    member_id=member_id,
                    sales_satang=sales,
                    recorded_at=now,
                )
            )
            uow.session.flush()
            total = store.fair_sales_total(uow.session, event_id, member_id)
            uow.emit(
                MATCHING,
                event_id,
                events_pb2.FairSalesRecorded(
                    matching_event_id=event_id,
                    province_code=event.province_code,
                    member_id=member_id,
                    member_province_code=member.province_code,
                    cluster_code=member.cluster_code,
                    sales=money(sales),
                    total_sales=money(total),
                    occurred_at=to_timestamp(now),
                ),
                event.province_code,
            )
            return total

        total = await self._writer.run(record, "RecordFairSales")
        return ms.RecordFairSalesResponse(total_sales=money(total))
