"""Demo data: buyers and their needs, members' offers filled in, a matching day, a fair.

Buyers: a Bangkok department store, an exporter, a modern-trade chain, the Khon
Kaen Biz Club network and two Udon Thani hotels. Offers are not made here: they
come from membership's events (the Udon Thani demo members), so the seed waits
until they have arrived, then fills in what members would add (capacity, price,
certifications). Seeded through the same API an operator uses; skipped when a
matching event exists, and resumes from the buyers when only they exist.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import date, datetime, timedelta

from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import matching_pb2, matching_service_pb2
from bizclub_shared.db import Database, utcnow
from bizclub_shared.timestamps import to_timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from matching import domain, store
from matching.api import MatchingApi

log = logging.getLogger(__name__)
ms = matching_service_pb2
mp = matching_pb2
UDON_THANI = "TH-41"
# Enough members to make a matching day of; the seed waits for at least these.
MIN_OFFERS = 20
STEADY_SECONDS = 2.0


def thb(baht: int) -> common_pb2.Money:
    return common_pb2.Money(satang=baht * 100, currency_code="THB")


def price(low: int, high: int) -> mp.PriceRange:
    return mp.PriceRange(min_per_unit=thb(low), max_per_unit=thb(high))


def quantity(amount: float, unit: str) -> mp.Quantity:
    return mp.Quantity(amount=amount, unit=unit)


BUYERS = [
    (
        "TH-10",
        mp.BUYER_KIND_DEPARTMENT_STORE,
        "ห้างสรรพสินค้าไทยรุ่งเรือง สาขาราชประสงค์",
        "Thai Rungrueang Department Store",
    ),
    ("TH-11", mp.BUYER_KIND_EXPORTER, "บริษัท สยามเกรน เอ็กซ์ปอร์ต จำกัด", "Siam Grain Export Co., Ltd."),
    ("TH-10", mp.BUYER_KIND_MODERN_TRADE, "ซูเปอร์มาร์เก็ตเครือข่ายไทยมาร์ท", "Thai Mart Supermarkets"),
    (
        "TH-40",
        mp.BUYER_KIND_PROVINCIAL_NETWORK,
        "เครือข่าย MOC Biz Club ขอนแก่น",
        "MOC Biz Club Khon Kaen",
    ),
    ("TH-41", mp.BUYER_KIND_HOTEL, "โรงแรมหนองประจักษ์ริเวอร์ไซด์", "Nong Prajak Riverside Hotel"),
    ("TH-41", mp.BUYER_KIND_HOTEL, "โรงแรมบ้านเชียงเฮอริเทจ", "Ban Chiang Heritage Hotel"),
]


def demo_needs(buyer_ids: list[str], deadline: common_pb2.Date) -> list[ms.PublishNeedRequest]:
    store_, exporter, mart, khon_kaen, riverside, heritage = buyer_ids
    return [
        ms.PublishNeedRequest(
            buyer_id=store_,
            categories=[mp.PRODUCT_CATEGORY_TEXTILES],
            title="ผ้าไหมทอมือ ลายมัดหมี่",
            description="ห้างสรรพสินค้าในกรุงเทพฯ ต้องการผ้าไหมทอมือและผ้าไหมมัดหมี่คุณภาพดี "
            "สำหรับมุมสินค้า OTOP ของห้าง",
            volume=quantity(300, "ผืน"),
            price=price(1_000, 3_000),
            required_certifications=[mp.CERTIFICATION_OTOP],
            min_otop_stars=3,
            delivery_regions=[mp.REGION_CENTRAL],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=exporter,
            categories=[mp.PRODUCT_CATEGORY_AGRICULTURE, mp.PRODUCT_CATEGORY_AGRI_PROCESSED],
            title="ข้าวหอมมะลิอินทรีย์ ส่งออกยุโรป",
            description="Organic Thai jasmine rice (ข้าวหอมมะลิอินทรีย์) for export to Europe; "
            "GAP certified farms only",
            volume=quantity(50, "ตัน"),
            price=price(35_000, 55_000),
            required_certifications=[mp.CERTIFICATION_GAP],
            delivery_regions=[mp.REGION_CENTRAL],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=mart,
            categories=[mp.PRODUCT_CATEGORY_FOOD, mp.PRODUCT_CATEGORY_BEVERAGE],
            title="น้ำผึ้งป่าและกาแฟคั่วบดจากชุมชน",
            description="สินค้าชุมชนวางชั้นวางสาขาทั่วประเทศ ต้องมีเลข อย.",
            volume=quantity(1_000, "กก."),
            price=price(150, 450),
            required_certifications=[mp.CERTIFICATION_THAI_FDA],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=khon_kaen,
            categories=[mp.PRODUCT_CATEGORY_TEXTILES],
            title="ผ้าฝ้ายย้อมครามและผ้าขาวม้า",
            description="เครือข่ายขอนแก่นรับผ้าฝ้ายย้อมคราม ผ้าขาวม้า และผ้ามัดหมี่ ไปจำหน่ายในงานแสดงสินค้าขอนแก่น",
            volume=quantity(500, "ผืน"),
            price=price(150, 600),
            delivery_regions=[mp.REGION_NORTHEAST],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=khon_kaen,
            categories=[mp.PRODUCT_CATEGORY_FOOD],
            title="แหนมหมูและไส้กรอกอีสาน",
            description="แหนมหมู ไส้กรอกอีสาน สำหรับร้านของฝากเครือข่ายขอนแก่น",
            volume=quantity(800, "กก."),
            price=price(120, 220),
            required_certifications=[mp.CERTIFICATION_THAI_FDA],
            delivery_regions=[mp.REGION_NORTHEAST],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=riverside,
            categories=[mp.PRODUCT_CATEGORY_FOOD, mp.PRODUCT_CATEGORY_BEVERAGE],
            title="อาหารพื้นเมืองและขนมไทยสำหรับห้องอาหารโรงแรม",
            description="ข้าวเกรียบ ขนมไทย น้ำพริกปลาร้า และอาหารพื้นเมืองอุดรธานี "
            "สำหรับห้องอาหารและของว่างในห้องพัก",
            volume=quantity(300, "กก."),
            price=price(80, 300),
            required_certifications=[mp.CERTIFICATION_THAI_FDA],
            deadline=deadline,
        ),
        ms.PublishNeedRequest(
            buyer_id=heritage,
            categories=[mp.PRODUCT_CATEGORY_TOURISM],
            title="ทัวร์ทะเลบัวแดงและทัวร์ชุมชนบ้านเชียง",
            description="โปรแกรมท่องเที่ยวชุมชน ทัวร์ทะเลบัวแดง โฮมสเตย์ "
            "และเวิร์กช็อปเครื่องปั้นดินเผาบ้านเชียง สำหรับแขกของโรงแรม",
            volume=quantity(200, "คน"),
            price=price(500, 1_500),
            deadline=deadline,
        ),
    ]


def offer_details(offer: mp.Offer, rng: random.Random) -> ms.PublishOfferRequest:
    """What a member of each cluster would add to their offer."""
    products = " และ".join(offer.products) or offer.business_name_th
    request = ms.PublishOfferRequest(member_id=offer.member_id, offer_id=offer.offer_id)
    certs: list[int] = []
    if offer.cluster_code == "textiles":
        request.description = f"{products} งานทอมือของกลุ่มสมาชิกในจังหวัดอุดรธานี ลายดั้งเดิม"
        request.capacity.CopyFrom(quantity(rng.randrange(40, 320, 20), "ผืน"))
        request.price.CopyFrom(
            price(rng.randrange(300, 1_500, 50), rng.randrange(1_500, 3_500, 100))
        )
        if rng.random() < 0.7:
            request.otop_stars = rng.randint(2, 5)
        if rng.random() < 0.3:
            certs.append(mp.CERTIFICATION_COMMUNITY_PRODUCT_STANDARD)
    elif offer.cluster_code == "food":
        request.description = f"{products} ผลิตสดใหม่ทุกสัปดาห์ บรรจุภัณฑ์พร้อมวางจำหน่าย"
        request.capacity.CopyFrom(quantity(rng.randrange(200, 1_600, 100), "กก."))
        request.price.CopyFrom(price(rng.randrange(80, 200, 10), rng.randrange(200, 400, 10)))
        if rng.random() < 0.7:
            certs.append(mp.CERTIFICATION_THAI_FDA)
        if rng.random() < 0.25:
            certs.append(mp.CERTIFICATION_GMP)
    elif offer.cluster_code == "agriculture":
        request.description = f"{products} จากแปลงของสมาชิก คัดคุณภาพ ส่งได้ทั้งปี"
        request.capacity.CopyFrom(quantity(rng.randrange(2, 30), "ตัน"))
        request.price.CopyFrom(price(rng.randrange(30, 45) * 1_000, rng.randrange(45, 65) * 1_000))
        if rng.random() < 0.7:
            certs.append(mp.CERTIFICATION_GAP)
        if any("อินทรีย์" in p for p in offer.products):
            certs.append(mp.CERTIFICATION_ORGANIC_THAILAND)
    else:
        request.description = f"{products} ท่องเที่ยวชุมชนอุดรธานี รับกลุ่มนักท่องเที่ยวทั้งปี"
        request.capacity.CopyFrom(quantity(rng.randrange(100, 700, 50), "คน"))
        request.price.CopyFrom(price(rng.randrange(300, 900, 50), rng.randrange(900, 2_500, 100)))
    request.certifications.extend(certs)  # type: ignore[arg-type]
    return request


async def wait_for_offers(db: Database, within: float) -> int:
    """Active offers once their number has held still for a moment (membership's seed
    arrives as a stream of events), or what there is when time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last, steady_since = -1, loop.time()
    while loop.time() < deadline:
        count = await db.read(store.count_active_offers)
        if count != last:
            last, steady_since = count, loop.time()
        elif count >= MIN_OFFERS and loop.time() - steady_since >= STEADY_SECONDS:
            return count
        await asyncio.sleep(0.25)
    return max(last, 0)


def _has_matching_event(session: Session) -> bool:
    return (
        session.execute(select(col(store.MatchingEventRow.matching_event_id)).limit(1)).first()
        is not None
    )


async def seed_demo(api: MatchingApi, db: Database, *, wait: float = 90.0) -> bool:
    """Seed the demo; returns False when it was already there."""
    if await db.read(_has_matching_event):
        return False
    today = domain.thai_today(utcnow())
    buyers = list((await api.ListBuyers(ms.ListBuyersRequest(), None)).buyers)
    if not buyers:
        for province, kind, name_th, name_en in BUYERS:
            reply = await api.RegisterBuyer(
                ms.RegisterBuyerRequest(
                    province_code=province, kind=kind, name_th=name_th, name_en=name_en
                ),
                None,
            )
            buyers.append(reply.buyer)
        deadline = today + timedelta(days=120)
        for need in demo_needs([b.buyer_id for b in buyers], domain.date_proto(deadline)):
            await api.PublishNeed(need, None)
    count = await wait_for_offers(db, wait)
    if count < MIN_OFFERS:
        log.warning(
            "only %d members' offers arrived from membership within %.0f s; the matching day "
            "is left out (it is made on the next start)",
            count,
            wait,
        )
        return True
    await fill_in_offers(api)
    await seed_matching_day(api, buyers, today)
    await seed_fair(api, today)
    log.info("seeded matching: %d buyers, a matching day and a fair", len(buyers))
    return True


async def udon_thani_offers(api: MatchingApi) -> list[mp.Offer]:
    offers: list[mp.Offer] = []
    request = ms.ListOffersRequest(
        province_code=UDON_THANI, active_only=True, page=common_pb2.PageRequest(page_size=500)
    )
    while True:
        reply = await api.ListOffers(request, None)
        offers += reply.offers
        if not reply.page.next_page_token:
            return offers
        request.page.page_token = reply.page.next_page_token


async def fill_in_offers(api: MatchingApi) -> None:
    offers = await udon_thani_offers(api)
    rng = random.Random(41)
    # In business-name order, so the same members get the same details every time.
    ordered = sorted(offers, key=lambda o: (o.business_name_th, o.member_id))
    # Concurrent: the writer commits them in a few batches.
    await asyncio.gather(
        *(api.PublishOffer(offer_details(o, rng), None) for o in ordered if not o.description)
    )


def _slots(day: datetime, count: int, minutes: int) -> list[mp.TimeSlot]:
    return [
        mp.TimeSlot(
            start_time=to_timestamp(day + timedelta(minutes=i * minutes)),
            end_time=to_timestamp(day + timedelta(minutes=(i + 1) * minutes)),
        )
        for i in range(count)
    ]


async def seed_matching_day(api: MatchingApi, buyers: list[mp.Buyer], today: date) -> None:
    day = datetime.combine(today + timedelta(days=30), datetime.min.time(), domain.THAI_TIME)
    event = (
        await api.CreateMatchingEvent(
            ms.CreateMatchingEventRequest(
                province_code=UDON_THANI,
                kind=mp.MATCHING_EVENT_KIND_BUSINESS_MATCHING,
                title="วันจับคู่ธุรกิจ MOC Biz Club อุดรธานี",
                venue="ศูนย์ประชุมและแสดงสินค้า จังหวัดอุดรธานี",
                slots=_slots(day + timedelta(hours=9), 9, 20),
                table_codes=[f"T{i:02d}" for i in range(1, 7)],
            ),
            None,
        )
    ).matching_event
    event_id = event.matching_event_id
    for buyer in buyers:
        # The exporter flies in late morning; everyone else stays all day.
        slots = list(range(3, 9)) if buyer.kind == mp.BUYER_KIND_EXPORTER else []
        await api.RegisterParticipant(
            ms.RegisterParticipantRequest(
                matching_event_id=event_id,
                side=mp.SIDE_BUYER,
                party_id=buyer.buyer_id,
                available_slots=slots,
            ),
            None,
        )
    # The members invited: the best few for each need.
    members: list[str] = []
    for need in (await api.ListNeeds(ms.ListNeedsRequest(), None)).needs:
        reply = await api.SuggestMatches(
            ms.SuggestMatchesRequest(need_id=need.need_id, top_k=3), None
        )
        members.extend(s.member_id for s in reply.suggestions if s.member_id not in members)
    for member_id in members:
        await api.RegisterParticipant(
            ms.RegisterParticipantRequest(
                matching_event_id=event_id, side=mp.SIDE_MEMBER, party_id=member_id
            ),
            None,
        )
    suggestions = (
        await api.SuggestMatches(
            ms.SuggestMatchesRequest(matching_event_id=event_id, top_k=3), None
        )
    ).suggestions
    rank: dict[str, int] = {}
    for s in suggestions:
        rank[s.buyer_id] = rank.get(s.buyer_id, 0) + 1
        await api.RequestMeeting(
            ms.RequestMeetingRequest(
                matching_event_id=event_id,
                buyer_id=s.buyer_id,
                member_id=s.member_id,
                requested_by=mp.SIDE_BUYER,
                priority=rank[s.buyer_id],
                need_id=s.need_id,
                offer_id=s.offer_id,
            ),
            None,
        )
        if rank[s.buyer_id] == 1:  # the best match: the member asks too
            await api.RequestMeeting(
                ms.RequestMeetingRequest(
                    matching_event_id=event_id,
                    buyer_id=s.buyer_id,
                    member_id=s.member_id,
                    requested_by=mp.SIDE_MEMBER,
                    priority=1,
                ),
                None,
            )
    await api.ScheduleMeetings(ms.ScheduleMeetingsRequest(matching_event_id=event_id), None)


async def seed_fair(api: MatchingApi, today: date) -> None:
    day = datetime.combine(today + timedelta(days=45), datetime.min.time(), domain.THAI_TIME)
    fair = (
        await api.CreateMatchingEvent(
            ms.CreateMatchingEventRequest(
                province_code=UDON_THANI,
                kind=mp.MATCHING_EVENT_KIND_TRADE_FAIR,
                title="งานแสดงและจำหน่ายสินค้า OTOP อุดรธานี",
                venue="ลานหน้าศาลากลางจังหวัดอุดรธานี",
                slots=_slots(day + timedelta(hours=10), 4, 60),
                table_codes=["M1", "M2"],
                booth_codes=[f"B{i:02d}" for i in range(1, 13)],
            ),
            None,
        )
    ).matching_event
    offers = await udon_thani_offers(api)
    chosen = sorted({o.member_id for o in offers})[:12]
    for booth, member_id in enumerate(chosen, start=1):
        await api.RegisterParticipant(
            ms.RegisterParticipantRequest(
                matching_event_id=fair.matching_event_id, side=mp.SIDE_MEMBER, party_id=member_id
            ),
            None,
        )
        await api.AssignBooth(
            ms.AssignBoothRequest(
                matching_event_id=fair.matching_event_id,
                member_id=member_id,
                booth_code=f"B{booth:02d}",
            ),
            None,
        )
