"""A business-matching day end to end, on the real broker and real SQLite files.

Members join through membership; matching hears of them from the topic and makes
their offers; they fill them in; buyers from Bangkok and Khon Kaen publish needs;
suggestions come with their scores; both sides ask to meet; the day is scheduled; a
buyer withdraws and the schedule closes the gap without moving anyone else; meetings
are held or missed; deals are signed; a fair records sales. Every fact is on
bizclub.matching.v1 with its envelope and without contact data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import events_pb2 as ev
from bizclub.matching.v1 import matching_pb2 as mp
from bizclub.matching.v1 import matching_service_pb2 as ms
from bizclub.membership.v1 import events_pb2 as membership_events
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub_shared.envelope import Envelope
from bizclub_shared.grpc_server import field_violations
from bizclub_shared.topics import MATCHING
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conftest import Broker, MembershipFactory, RunningMembership
from tests.integration.matching_support import RunningMatching, running_matching
from tests.integration.probes import eventually
from tests.support import Record, read_topic, registration, udon_thani_network

BUYER, MEMBER = mp.SIDE_BUYER, mp.SIDE_MEMBER
CONTACT_DATA = ("บุญมี ศรีสุข", "0812345678", "boonmee@example.co.th")


def thb(baht: int) -> common_pb2.Money:
    return common_pb2.Money(satang=baht * 100, currency_code="THB")


def khon_kaen_network() -> membership_service_pb2.CreateNetworkRequest:
    return membership_service_pb2.CreateNetworkRequest(
        province_code="TH-40",
        name_th="เครือข่าย MOC Biz Club ขอนแก่น",
        clusters=[membership_pb2.Cluster(cluster_code="textiles", name_th="ผ้าและเครื่องแต่งกาย")],
    )


async def join(membership: RunningMembership, **overrides: object) -> str:
    """Register and approve a member in membership; its id."""
    member = (await membership.stub.RegisterMember(registration(**overrides))).member
    await membership.stub.ApproveMember(
        membership_service_pb2.ApproveMemberRequest(member_id=member.member_id)
    )
    return member.member_id


def slots(count: int) -> list[mp.TimeSlot]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)

    def ts(moment: datetime) -> Timestamp:
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        return stamp

    return [
        mp.TimeSlot(
            start_time=ts(start + timedelta(minutes=20 * i)),
            end_time=ts(start + timedelta(minutes=20 * (i + 1))),
        )
        for i in range(count)
    ]


async def publish(
    matching: RunningMatching, member_id: str, offer_id: str, **fields: object
) -> None:
    await matching.stub.PublishOffer(
        ms.PublishOfferRequest(member_id=member_id, offer_id=offer_id, **fields)  # type: ignore[arg-type]
    )


async def test_a_matching_day_from_suggestions_to_deals_with_every_event_on_the_topic(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    membership = await start_membership()
    async with running_matching(tmp_path, broker) as matching:
        await membership.stub.CreateNetwork(udon_thani_network())
        await membership.stub.CreateNetwork(khon_kaen_network())
        silk = await join(
            membership, business_name_th="กลุ่มทอผ้าไหมมัดหมี่บ้านเชียง", products=["ผ้าไหมมัดหมี่ทอมือ"]
        )
        yarn = await join(
            membership, business_name_th="กลุ่มถักไหมพรมหนองหาน", products=["ไหมพรมถักมือ"]
        )
        kk_silk = await join(
            membership,
            province_code="TH-40",
            business_name_th="กลุ่มผ้าไหมชนบท ขอนแก่น",
            products=["ผ้าไหมทอมือ", "ผ้าไหมมัดหมี่"],
        )
        sausage = await join(
            membership,
            cluster_code="food",
            business_name_th="แหนมหมูแม่บัว",
            products=["แหนมหมู", "ไส้กรอกอีสาน"],
        )
        members = {silk, yarn, kk_silk, sausage}

        # --- offers: made from membership's events, filled in by the members ---
        offers = await matching.offers_arrive(members)
        assert offers[silk].products == ["ผ้าไหมมัดหมี่ทอมือ"]
        assert offers[kk_silk].province_code == "TH-40"
        assert list(offers[sausage].categories) == [
            mp.PRODUCT_CATEGORY_FOOD,
            mp.PRODUCT_CATEGORY_BEVERAGE,
        ]
        otop = [mp.CERTIFICATION_OTOP]
        await publish(
            matching,
            silk,
            offers[silk].offer_id,
            description="ผ้าไหมมัดหมี่ทอมือ ย้อมสีธรรมชาติ",
            capacity=mp.Quantity(amount=150, unit="ผืน"),
            price=mp.PriceRange(min_per_unit=thb(1_200), max_per_unit=thb(2_500)),
            certifications=otop,
            otop_stars=4,
        )
        await publish(matching, yarn, offers[yarn].offer_id, description="ผ้าพันคอไหมพรมถักมือ")
        await publish(
            matching,
            kk_silk,
            offers[kk_silk].offer_id,
            capacity=mp.Quantity(amount=300, unit="ผืน"),
            certifications=otop,
            otop_stars=5,
        )
        await publish(
            matching,
            sausage,
            offers[sausage].offer_id,
            capacity=mp.Quantity(amount=1, unit="ตัน"),
            price=mp.PriceRange(min_per_unit=thb(150)),
            certifications=[mp.CERTIFICATION_THAI_FDA],
        )

        # --- buyers and needs, across provinces ---
        async def buyer(province: str, kind: int, name: str) -> str:
            reply = await matching.stub.RegisterBuyer(
                ms.RegisterBuyerRequest(province_code=province, kind=kind, name_th=name)  # type: ignore[arg-type]
            )
            return reply.buyer.buyer_id

        store = await buyer("TH-10", mp.BUYER_KIND_DEPARTMENT_STORE, "ห้างสรรพสินค้าไทยรุ่งเรือง")
        kk_net = await buyer(
            "TH-40", mp.BUYER_KIND_PROVINCIAL_NETWORK, "เครือข่าย MOC Biz Club ขอนแก่น"
        )
        silk_need = (
            await matching.stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=store,
                    categories=[mp.PRODUCT_CATEGORY_TEXTILES],
                    title="ผ้าไหมทอมือ",
                    description="ห้างสรรพสินค้าในกรุงเทพฯ ต้องการผ้าไหมทอมือสำหรับมุม OTOP",
                    volume=mp.Quantity(amount=300, unit="ผืน"),
                    price=mp.PriceRange(min_per_unit=thb(1_000), max_per_unit=thb(3_000)),
                    required_certifications=otop,
                    min_otop_stars=3,
                    deadline=common_pb2.Date(year=datetime.now(UTC).year + 544, month=3, day=31),
                )
            )
        ).need
        assert silk_need.deadline.year == datetime.now(UTC).year + 1  # พ.ศ. read as such
        sausage_need = (
            await matching.stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=kk_net,
                    categories=[mp.PRODUCT_CATEGORY_FOOD],
                    title="แหนมหมู ไส้กรอกอีสาน",
                    volume=mp.Quantity(amount=500, unit="กก."),
                    required_certifications=[mp.CERTIFICATION_THAI_FDA],
                )
            )
        ).need

        # --- suggestions: ranked, with their parts; the uncertified yarn never appears ---
        reply = await matching.stub.SuggestMatches(
            ms.SuggestMatchesRequest(need_id=silk_need.need_id)
        )
        suggested = [s.member_id for s in reply.suggestions]
        assert set(suggested) == {silk, kk_silk}
        assert yarn not in suggested
        for s in reply.suggestions:
            assert [p.name for p in s.score.parts] == [
                "text",
                "category",
                "capacity",
                "price",
                "distance",
                "history",
                "certification",
            ]
            assert s.score.total == pytest.approx(
                sum(p.contribution for p in s.score.parts), abs=1e-3
            )
            assert all(p.reason_th and p.reason_en for p in s.score.parts)
        for_member = await matching.stub.SuggestMatches(ms.SuggestMatchesRequest(member_id=sausage))
        assert [s.need_id for s in for_member.suggestions] == [sausage_need.need_id]
        assert for_member.suggestions[0].buyer_province_code == "TH-40"  # cross-province

        # --- the matching day: 2 slots, 1 table ---
        day = (
            await matching.stub.CreateMatchingEvent(
                ms.CreateMatchingEventRequest(
                    province_code="TH-41",
                    kind=mp.MATCHING_EVENT_KIND_BUSINESS_MATCHING,
                    title="วันจับคู่ธุรกิจ อุดรธานี",
                    slots=slots(2),
                    table_codes=["T1"],
                )
            )
        ).matching_event
        day_id = day.matching_event_id
        for side, party in (
            (BUYER, store),
            (BUYER, kk_net),
            (MEMBER, silk),
            (MEMBER, kk_silk),
            (MEMBER, sausage),
        ):
            await matching.stub.RegisterParticipant(
                ms.RegisterParticipantRequest(matching_event_id=day_id, side=side, party_id=party)
            )
        event_suggestions = await matching.stub.SuggestMatches(
            ms.SuggestMatchesRequest(matching_event_id=day_id, top_k=2)
        )
        assert {(s.buyer_id, s.member_id) for s in event_suggestions.suggestions} == {
            (store, silk),
            (store, kk_silk),
            (kk_net, sausage),
        }

        async def ask(buyer_id: str, member_id: str, by: int, priority: int) -> mp.Meeting:
            return (
                await matching.stub.RequestMeeting(
                    ms.RequestMeetingRequest(
                        matching_event_id=day_id,
                        buyer_id=buyer_id,
                        member_id=member_id,
                        requested_by=by,  # type: ignore[arg-type]
                        priority=priority,
                    )
                )
            ).meeting

        m_silk = await ask(store, silk, BUYER, 1)
        assert (await ask(store, silk, MEMBER, 2)).meeting_id == m_silk.meeting_id  # both asked
        m_kk = await ask(store, kk_silk, BUYER, 2)
        m_sausage = await ask(kk_net, sausage, MEMBER, 1)

        schedule = (
            await matching.stub.ScheduleMeetings(
                ms.ScheduleMeetingsRequest(matching_event_id=day_id)
            )
        ).meetings
        placed = {m.meeting_id: (m.status, m.slot_index, m.table_code) for m in schedule}
        scheduled = mp.MEETING_STATUS_SCHEDULED
        # Priority 1 first (the mutual one ahead at equal priority); priority 2 waits.
        assert placed == {
            m_silk.meeting_id: (scheduled, 0, "T1"),
            m_sausage.meeting_id: (scheduled, 1, "T1"),
            m_kk.meeting_id: (mp.MEETING_STATUS_REQUESTED, 0, ""),
        }

        # --- Khon Kaen withdraws: its meeting goes, the waiting one takes its place ---
        after = (
            await matching.stub.WithdrawParticipant(
                ms.WithdrawParticipantRequest(matching_event_id=day_id, side=BUYER, party_id=kk_net)
            )
        ).meetings
        placed = {m.meeting_id: (m.status, m.slot_index, m.table_code) for m in after}
        assert placed == {
            m_silk.meeting_id: (scheduled, 0, "T1"),  # unchanged
            m_kk.meeting_id: (scheduled, 1, "T1"),
            m_sausage.meeting_id: (mp.MEETING_STATUS_CANCELLED, 0, ""),
        }
        assert (
            await matching.stub.GetSchedule(ms.GetScheduleRequest(matching_event_id=day_id))
        ).meetings == after

        # --- outcomes and deals ---
        held = mp.MEETING_STATUS_HELD
        await matching.stub.RecordMeetingOutcome(
            ms.RecordMeetingOutcomeRequest(meeting_id=m_silk.meeting_id, outcome=held)
        )
        await matching.stub.RecordMeetingOutcome(
            ms.RecordMeetingOutcomeRequest(
                meeting_id=m_kk.meeting_id, outcome=mp.MEETING_STATUS_MISSED, missed_by=MEMBER
            )
        )
        order = (
            await matching.stub.SignDeal(
                ms.SignDealRequest(
                    kind=mp.DEAL_KIND_ORDER,
                    meeting_id=m_silk.meeting_id,
                    # 25 million baht: more satang than a 32-bit INTEGER holds.
                    order_value=thb(25_000_000),
                    repeats=True,
                )
            )
        ).deal
        assert (order.buyer_id, order.member_id, order.matching_event_id) == (store, silk, day_id)
        assert order.order_value.satang == 2_500_000_000
        mou = (
            await matching.stub.SignDeal(
                ms.SignDealRequest(kind=mp.DEAL_KIND_MOU, buyer_id=kk_net, member_id=sausage)
            )
        ).deal
        with pytest.raises(grpc.aio.AioRpcError) as missed_deal:
            await matching.stub.SignDeal(
                ms.SignDealRequest(
                    kind=mp.DEAL_KIND_ORDER, meeting_id=m_kk.meeting_id, order_value=thb(1)
                )
            )
        assert missed_deal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "meeting_id" in field_violations(missed_deal.value)

        # Past outcomes now show in the pair's score: a deal with the textiles cluster.
        again = await matching.stub.SuggestMatches(
            ms.SuggestMatchesRequest(need_id=silk_need.need_id)
        )
        history = {
            s.member_id: next(p for p in s.score.parts if p.name == "history")
            for s in again.suggestions
        }
        assert history[silk].value > 0.5 and "1" in history[silk].reason_en

        # --- a fair: booths and sales ---
        fair = (
            await matching.stub.CreateMatchingEvent(
                ms.CreateMatchingEventRequest(
                    province_code="TH-41",
                    kind=mp.MATCHING_EVENT_KIND_TRADE_FAIR,
                    title="งานแสดงสินค้า OTOP อุดรธานี",
                    booth_codes=["B01", "B02"],
                )
            )
        ).matching_event
        await matching.stub.RegisterParticipant(
            ms.RegisterParticipantRequest(
                matching_event_id=fair.matching_event_id, side=MEMBER, party_id=sausage
            )
        )
        booth = await matching.stub.AssignBooth(
            ms.AssignBoothRequest(
                matching_event_id=fair.matching_event_id, member_id=sausage, booth_code="B02"
            )
        )
        assert booth.participant.booth_code == "B02"
        for baht in (12_500, 7_500):
            total = await matching.stub.RecordFairSales(
                ms.RecordFairSalesRequest(
                    matching_event_id=fair.matching_event_id, member_id=sausage, sales=thb(baht)
                )
            )
        assert total.total_sales.satang == 2_000_000

        # --- the topic ---
        keys = {
            store,
            kk_net,
            silk,
            yarn,
            kk_silk,
            sausage,
            silk_need.need_id,
            sausage_need.need_id,
            day_id,
            fair.matching_event_id,
        }
        expected: dict[type[Message], int] = {
            ev.BuyerRegistered: 2,
            ev.NeedPublished: 2,
            ev.OfferPublished: 8,  # 4 on approval, 4 filled in
            ev.MatchSuggested: 3,  # once per (need, offer) pair, however often suggested
            ev.MeetingRequested: 4,
            ev.MeetingScheduled: 3,
            ev.MeetingCancelled: 1,
            ev.MeetingHeld: 1,
            ev.MeetingMissed: 1,
            ev.DealSigned: 2,
            ev.FairSalesRecorded: 2,
        }
        records = await read_topic(
            broker.bootstrap_servers, MATCHING, keys=keys, expect=sum(expected.values())
        )
        by_type: dict[str, list[Record]] = {}
        for record in records:
            envelope = record.envelope
            assert envelope.source == "matching"
            assert record.headers["content-type"] == "application/protobuf"
            by_type.setdefault(envelope.event_type, []).append(record)
            for secret in CONTACT_DATA:
                assert secret.encode() not in record.value
        counts = {c.DESCRIPTOR.name: len(by_type.get(c.DESCRIPTOR.full_name, [])) for c in expected}
        assert counts == {c.DESCRIPTOR.name: n for c, n in expected.items()}

        def events(cls: type[Message]) -> list[tuple[Record, Any]]:
            return [(r, cls.FromString(r.value)) for r in by_type[cls.DESCRIPTOR.full_name]]

        [(record, deal)] = [
            (r, d) for r, d in events(ev.DealSigned) if d.kind == mp.DEAL_KIND_ORDER
        ]
        assert record.key == day_id and record.envelope.province == "TH-41"
        assert (deal.buyer_province_code, deal.province_code, deal.cluster_code) == (
            "TH-10",
            "TH-41",
            "textiles",
        )
        assert deal.order_value.satang == 2_500_000_000 and deal.repeats
        [(record, deal)] = [(r, d) for r, d in events(ev.DealSigned) if d.kind == mp.DEAL_KIND_MOU]
        assert record.key == kk_net and deal.deal_id == mou.deal_id
        [(record, missed)] = events(ev.MeetingMissed)
        assert missed.missed_by == MEMBER and missed.member_province_code == "TH-40"
        suggestions = events(ev.MatchSuggested)
        assert {(r.key, e.member_id) for r, e in suggestions} >= {
            (silk_need.need_id, silk),
            (silk_need.need_id, kk_silk),
        }
        assert all(len(e.score.parts) == 7 for _, e in suggestions)
        assert all(r.key == day_id for r, _ in events(ev.MeetingScheduled))
        [(record, cancelled)] = events(ev.MeetingCancelled)
        assert cancelled.meeting_id == m_sausage.meeting_id and cancelled.withdrawn_side == BUYER
        fair_sales = [e.total_sales.satang for _, e in events(ev.FairSalesRecorded)]
        assert fair_sales == [1_250_000, 2_000_000]


async def test_offers_follow_the_member_through_membership_and_bad_input_is_refused(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    membership = await start_membership()
    async with running_matching(tmp_path, broker) as matching:
        await membership.stub.CreateNetwork(udon_thani_network())
        member = await join(membership, products=["ผ้าไหมทอมือ"])
        applied = (await membership.stub.RegisterMember(registration(products=["ผ้าฝ้าย"]))).member
        # As many products as membership takes: more than one offer title holds.
        catalogue = [f"แหนมหมูสูตรโบราณ ห่อใบตอง ไม่ใส่สารกันบูด ขนาดที่ {i + 1}" for i in range(12)]
        maker = await join(membership, cluster_code="food", products=catalogue)
        offers = await matching.offers_arrive({member, maker})
        # Its offer names the products that fit, whole, in order.
        assert offers[maker].title == ", ".join(catalogue[:3])
        offer_id = offers[member].offer_id
        buyer = (
            await matching.stub.RegisterBuyer(
                ms.RegisterBuyerRequest(
                    province_code="TH-10", kind=mp.BUYER_KIND_EXPORTER, name_th="ผู้ส่งออก"
                )
            )
        ).buyer.buyer_id
        need = (
            await matching.stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=buyer, categories=[mp.PRODUCT_CATEGORY_TEXTILES], title="ผ้าไหม"
                )
            )
        ).need.need_id

        async def suggested() -> list[str]:
            reply = await matching.stub.SuggestMatches(ms.SuggestMatchesRequest(need_id=need))
            return [s.member_id for s in reply.suggestions]

        assert await suggested() == [member]
        # The same registration again under a new event id (a replay after a lost log):
        # applied, and still one offer; the same record twice is applied once.
        replay = membership_events.MemberRegistered(
            member_id=member, province_code="TH-41", cluster_code="textiles", products=["ผ้าไหมทอมือ"]
        )
        envelope = Envelope.new(replay.DESCRIPTOR.full_name, "membership", "TH-41", None)
        record = dict(
            topic="bizclub.membership.v1",
            partition=0,
            offset=10_000,
            key=member.encode(),
            value=replay.SerializeToString(),
            headers=envelope.to_headers(),
        )
        assert await matching.app.consumer.handle_record(**record) == "applied"  # type: ignore[arg-type]
        assert await matching.app.consumer.handle_record(**record) == "duplicate"  # type: ignore[arg-type]
        listed = await matching.stub.ListOffers(ms.ListOffersRequest(member_id=member))
        assert [(o.offer_id, o.active) for o in listed.offers] == [(offer_id, True)]
        # An applicant's offer exists but is not active, so it is never suggested.
        listed = await matching.stub.ListOffers(ms.ListOffersRequest(member_id=applied.member_id))
        assert [o.active for o in listed.offers] == [False]

        ms_ = membership_service_pb2
        await membership.stub.ChangeMemberCluster(
            ms_.ChangeMemberClusterRequest(member_id=member, cluster_code="food")
        )
        await eventually(
            lambda: _offer_is(matching, member, cluster_code="food"), what="the cluster change"
        )
        await membership.stub.SuspendMember(
            ms_.SuspendMemberRequest(member_id=member, reason="ค้างชำระ")
        )
        await eventually(lambda: _offer_is(matching, member, active=False), what="the suspension")
        assert await suggested() == []
        await membership.stub.ReinstateMember(ms_.ReinstateMemberRequest(member_id=member))
        await eventually(lambda: _offer_is(matching, member, active=True), what="the reinstatement")
        await membership.stub.LeaveNetwork(ms_.LeaveNetworkRequest(member_id=member))
        await eventually(lambda: _offer_is(matching, member, active=False), what="the departure")
        with pytest.raises(grpc.aio.AioRpcError) as left:
            await matching.stub.PublishOffer(
                ms.PublishOfferRequest(member_id=member, offer_id=offer_id)
            )
        assert left.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        # Bad input: INVALID_ARGUMENT naming every offending field; nothing is written.
        before = len((await matching.stub.ListNeeds(ms.ListNeedsRequest())).needs)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await matching.stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=buyer,
                    title=" ",
                    categories=[99],  # type: ignore[list-item]
                    volume=mp.Quantity(amount=-5, unit="kg"),
                    price=mp.PriceRange(min_per_unit=thb(500), max_per_unit=thb(100)),
                    min_otop_stars=7,
                    open_to_province_codes=["TH-99"],
                    deadline=common_pb2.Date(year=2020, month=1, day=1),
                )
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert set(field_violations(bad.value)) == {
            "title",
            "categories[0]",
            "volume.amount",
            "price.max_per_unit",
            "min_otop_stars",
            "open_to_province_codes[0]",
            "deadline",
        }
        assert len((await matching.stub.ListNeeds(ms.ListNeedsRequest())).needs) == before
        with pytest.raises(grpc.aio.AioRpcError) as no_table:
            await matching.stub.CreateMatchingEvent(
                ms.CreateMatchingEventRequest(
                    province_code="TH-41",
                    kind=mp.MATCHING_EVENT_KIND_BUSINESS_MATCHING,
                    title="วันจับคู่",
                )
            )
        assert set(field_violations(no_table.value)) == {"slots", "table_codes"}
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await matching.stub.SuggestMatches(ms.SuggestMatchesRequest(need_id="no-such-need"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def _offer_is(matching: RunningMatching, member_id: str, **expected: object) -> bool:
    reply = await matching.stub.ListOffers(ms.ListOffersRequest(member_id=member_id))
    return bool(reply.offers) and all(
        getattr(o, name) == value for o in reply.offers for name, value in expected.items()
    )
