"""`make run`'s matching demo: buyers and needs, offers from membership's seeded members,
a matching day scheduled without clashes, a fair with booths; a restart seeds nothing new.

Real broker, real SQLite files; membership seeds its Udon Thani network first and
matching hears of the members from the topic, as in the running stack.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bizclub.matching.v1 import matching_pb2 as mp
from bizclub.matching.v1 import matching_service_pb2 as ms
from matching import store
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from tests.conftest import Broker, MembershipFactory
from tests.integration.matching_support import RunningMatching, running_matching

SEED = {"seed_demo_data": True, "seed_wait_seconds": 60.0}


@dataclass
class Demo:
    buyers: list[mp.Buyer]
    needs: list[mp.Need]
    offers: list[mp.Offer]
    schedules: dict[int, list[mp.Meeting]]  # by event kind
    fair: mp.MatchingEvent | None = None


async def demo(matching: RunningMatching) -> Demo:
    """What the seed made."""
    stub = matching.stub

    def events(session: Session) -> list[tuple[str, int]]:
        query = select(
            col(store.MatchingEventRow.matching_event_id), col(store.MatchingEventRow.kind)
        )
        return [(event_id, kind) for event_id, kind in session.execute(query)]

    schedules: dict[int, list[mp.Meeting]] = {}
    fair = None
    for event_id, kind in await matching.app.runtime.db.read(events):
        reply = await stub.GetSchedule(ms.GetScheduleRequest(matching_event_id=event_id))
        schedules[kind] = list(reply.meetings)
        if kind == mp.MATCHING_EVENT_KIND_TRADE_FAIR:
            request = ms.GetMatchingEventRequest(matching_event_id=event_id)
            fair = (await stub.GetMatchingEvent(request)).matching_event
    return Demo(
        buyers=list((await stub.ListBuyers(ms.ListBuyersRequest())).buyers),
        needs=list((await stub.ListNeeds(ms.ListNeedsRequest())).needs),
        offers=await matching.all_offers(),
        schedules=schedules,
        fair=fair,
    )


async def test_the_demo_seed_makes_a_matching_day_from_membership_members_once(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    await start_membership(seed_demo_data=True)
    async with running_matching(tmp_path, broker, **SEED) as matching:
        first = await demo(matching)

    assert Counter(b.kind for b in first.buyers) == {
        mp.BUYER_KIND_DEPARTMENT_STORE: 1,
        mp.BUYER_KIND_EXPORTER: 1,
        mp.BUYER_KIND_MODERN_TRADE: 1,
        mp.BUYER_KIND_PROVINCIAL_NETWORK: 1,
        mp.BUYER_KIND_HOTEL: 2,
    }
    assert {b.province_code for b in first.buyers} == {"TH-10", "TH-11", "TH-40", "TH-41"}
    assert any("ผ้าไหมทอมือ" in n.title for n in first.needs)
    # Membership's 200 demo members: 178 approved and still active; each offer filled in.
    assert len(first.offers) == 178
    assert all(o.description for o in first.offers)

    scheduled = [
        m
        for m in first.schedules[mp.MATCHING_EVENT_KIND_BUSINESS_MATCHING]
        if m.status == mp.MEETING_STATUS_SCHEDULED
    ]
    assert len(scheduled) >= 12
    assert len({(m.slot_index, m.table_code) for m in scheduled}) == len(scheduled)
    assert len({(m.slot_index, m.buyer_id) for m in scheduled}) == len(scheduled)
    assert len({(m.slot_index, m.member_id) for m in scheduled}) == len(scheduled)
    assert any(m.requested_by_buyer and m.requested_by_member for m in scheduled)
    assert first.fair is not None and len(first.fair.booth_codes) == 12

    # Started again on the same database: nothing is seeded twice.
    async with running_matching(tmp_path, broker, **SEED) as again:
        second = await demo(again)
    assert second == first
