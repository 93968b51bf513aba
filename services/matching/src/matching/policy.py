"""Who may call what on matching: the service's one policy table.

Province officers register their provinces' buyers and run their matching events;
a member publishes their own offers and asks for their own suggestions. Buyers,
needs and events are a market's shop window: every role may read them (needs
closed to other provinces are narrowed in the handler). Suggestions across
provinces carry business names, products and clusters only: matching never holds
contact data. Members' offers are narrowed to the caller's provinces.
"""

from __future__ import annotations

from typing import Any

from bizclub.matching.v1 import matching_service_pb2
from bizclub_shared.auth import (
    EVERYONE,
    MEMBER,
    OFFICER,
    READERS,
    AccessPolicy,
    Target,
    TargetLookup,
    province_of_request,
    rule,
)
from bizclub_shared.db import Database
from sqlalchemy import select
from sqlmodel import col

from matching import store

SERVICE_NAME = matching_service_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name


def access_policy(db: Database) -> AccessPolicy:
    m, b, n, e = store.MemberRow, store.BuyerRow, store.NeedRow, store.MatchingEventRow
    # None when matching has not heard of the member (yet): every handler that takes a
    # member refuses one it does not know, so nothing is read or written.
    member = TargetLookup(
        db,
        col(m.member_id),
        province=col(m.province_code),
        cluster=col(m.cluster_code),
        member=col(m.member_id),
    )
    buyer_target = TargetLookup(db, col(b.buyer_id), province=col(b.province_code))
    need_target = TargetLookup(db, col(n.need_id), province=col(n.province_code))
    event_target = TargetLookup(db, col(e.matching_event_id), province=col(e.province_code))

    async def member_of_request(request: Any) -> Target | None:
        return await member(request.member_id)

    async def buyer(request: Any) -> Target | None:
        return await buyer_target(request.buyer_id)

    async def need(request: Any) -> Target | None:
        return await need_target(request.need_id)

    async def event(request: Any) -> Target | None:
        return await event_target(request.matching_event_id)

    async def meeting_request(request: Any) -> Target | None:
        # The organising province's business, and the member's own when they ask.
        found = await event(request)
        return Target(found.province, member_id=request.member_id.strip()) if found else None

    async def meeting(request: Any) -> Target | None:
        mt = store.MeetingRow
        event_id = await db.read(
            lambda session: session.scalar(
                select(col(mt.matching_event_id)).where(
                    col(mt.meeting_id) == request.meeting_id.strip()
                )
            )
        )
        if event_id is None:
            return None
        return await event_target(event_id)

    async def suggestion_target(request: Any) -> Target | None:
        which = request.WhichOneof("target")
        if which == "need_id":
            return await need_target(request.need_id)
        if which == "member_id":
            return await member(request.member_id)
        if which == "matching_event_id":
            return await event(request)
        return None  # the handler says which field is missing

    async def deal(request: Any) -> Target | None:
        if request.meeting_id.strip():
            return await meeting(request)
        return await member(request.member_id)

    table = {
        "RegisterBuyer": rule(OFFICER, target=province_of_request),
        "GetBuyer": rule(*EVERYONE),
        "ListBuyers": rule(*EVERYONE),
        "PublishNeed": rule(OFFICER, target=buyer),
        "CloseNeed": rule(OFFICER, target=need),
        "GetNeed": rule(*EVERYONE),  # a need closed to the caller's provinces: NOT_FOUND
        "ListNeeds": rule(*EVERYONE),  # narrowed in the handler
        "PublishOffer": rule(OFFICER, MEMBER, target=member_of_request),
        "ListOffers": rule(*READERS),  # narrowed in the handler
        "SuggestMatches": rule(*READERS, MEMBER, target=suggestion_target),
        "CreateMatchingEvent": rule(OFFICER, target=province_of_request),
        "GetMatchingEvent": rule(*EVERYONE),
        "RegisterParticipant": rule(OFFICER, target=event),
        "WithdrawParticipant": rule(OFFICER, target=event),
        "AssignBooth": rule(OFFICER, target=event),
        "RequestMeeting": rule(OFFICER, MEMBER, target=meeting_request),
        "ScheduleMeetings": rule(OFFICER, target=event),
        "GetSchedule": rule(*READERS, target=event),
        "RecordMeetingOutcome": rule(OFFICER, target=meeting),
        "SignDeal": rule(OFFICER, target=deal),
        "RecordFairSales": rule(OFFICER, target=event),
    }
    return {f"/{SERVICE_NAME}/{method}": access for method, access in table.items()}
