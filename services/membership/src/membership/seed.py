"""The Udon Thani demo network: four clusters, a committee, about 200 members, mentoring.

Seeded through the same API an operator uses, so every record is validated and
every change is on the topic. Deterministic, and skipped when the network exists.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub_shared.errors import AlreadyExists

from membership.api import MembershipApi

log = logging.getLogger(__name__)
ms = membership_service_pb2
UDON_THANI = "TH-41"

CLUSTERS = [
    ("textiles", "ผ้าและเครื่องแต่งกาย", "Textiles and apparel"),
    ("food", "อาหารและเครื่องดื่ม", "Food and beverage"),
    ("agriculture", "เกษตรและเกษตรแปรรูป", "Agriculture and agri-processing"),
    ("tourism", "ท่องเที่ยวชุมชน", "Community tourism"),
]
DISTRICTS = [
    "บ้านเชียง",
    "กุมภวาปี",
    "หนองหาน",
    "เพ็ญ",
    "บ้านดุง",
    "น้ำโสม",
    "หนองวัวซอ",
    "ประจักษ์ศิลปาคม",
    "โนนสะอาด",
    "ศรีธาตุ",
    "บ้านผือ",
    "นายูง",
    "วังสามหมอ",
    "ทุ่งฝน",
]
PRODUCTS = {
    "textiles": (
        ["ผ้าไหมทอมือ", "ผ้าฝ้ายย้อมคราม", "ผ้าขาวม้า", "ผ้ามัดหมี่", "เสื้อผ้าฝ้ายสำเร็จรูป", "กระเป๋าผ้าทอ"],
        ["กลุ่มทอผ้า", "ร้านผ้า", "วิสาหกิจชุมชนผ้าทอ", "ห้างหุ้นส่วนจำกัด ผ้าไทย"],
    ),
    "food": (
        ["แหนมหมู", "ไส้กรอกอีสาน", "น้ำพริกปลาร้า", "ข้าวเกรียบ", "กาแฟคั่วบด", "น้ำผึ้งป่า", "ขนมไทย"],
        ["ร้านอาหาร", "วิสาหกิจชุมชนแปรรูปอาหาร", "บริษัท อาหารอีสาน จำกัด", "ครัว"],
    ),
    "agriculture": (
        ["ข้าวหอมมะลิอินทรีย์", "ผักปลอดสารพิษ", "ปุ๋ยอินทรีย์", "เห็ดนางฟ้า", "ข้าวกล้องงอก", "ยางพาราแปรรูป"],
        ["สวน", "วิสาหกิจชุมชนเกษตรอินทรีย์", "ฟาร์ม", "กลุ่มเกษตรกร"],
    ),
    "tourism": (
        ["โฮมสเตย์", "ทัวร์ทะเลบัวแดง", "ร้านของที่ระลึก", "เครื่องปั้นดินเผาบ้านเชียง", "คาเฟ่ชุมชน"],
        ["บ้านพัก", "วิสาหกิจชุมชนท่องเที่ยว", "ชุมชนท่องเที่ยว", "กลุ่มหัตถกรรม"],
    ),
}
FIRST_NAMES = [
    "สมชาย",
    "สมหญิง",
    "บุญมี",
    "คำแพง",
    "ทองใบ",
    "มาลี",
    "สุดารัตน์",
    "ประเสริฐ",
    "วิไลวรรณ",
    "อำนาจ",
    "จันทร์เพ็ญ",
    "สุนทร",
    "ศรีสุดา",
    "ธนพล",
    "พิมพ์ชนก",
    "กิตติศักดิ์",
    "อรอุมา",
    "บัวผัน",
]
LAST_NAMES = [
    "ศรีสุข",
    "บุญมา",
    "พิมพ์ดี",
    "แก้วมณี",
    "ทองดี",
    "สายบุญ",
    "ชัยมงคล",
    "ภูมิพันธ์",
    "คำภา",
    "จันทร์หอม",
    "ศรีวงษ์",
    "พรหมมา",
    "อินทร์แก้ว",
    "วงศ์ใหญ่",
]
TYPES = [
    membership_pb2.ENTERPRISE_TYPE_SME,
    membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
    membership_pb2.ENTERPRISE_TYPE_OTOP,
    membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER,
]
CHANNELS = [
    common_pb2.SALES_CHANNEL_LOCAL_MARKET,
    common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    common_pb2.SALES_CHANNEL_DEPARTMENT_STORE,
    common_pb2.SALES_CHANNEL_TOURISM,
    common_pb2.SALES_CHANNEL_EXPORT,
    common_pb2.SALES_CHANNEL_WHOLESALE,
]


def thai_id(rng: random.Random, first: str) -> str:
    """A 13-digit ID with a valid checksum (first digit 0 for juristic persons)."""
    body = first + "".join(str(rng.randint(0, 9)) for _ in range(11))
    total = sum(int(d) * w for d, w in zip(body, range(13, 1, -1), strict=True))
    return body + str((11 - total % 11) % 10)


def demo_registrations(count: int = 200) -> list[ms.RegisterMemberRequest]:
    rng = random.Random(41)
    requests = []
    for i in range(count):
        cluster = CLUSTERS[i % len(CLUSTERS)][0]
        products, prefixes = PRODUCTS[cluster]
        product = rng.choice(products)
        district = rng.choice(DISTRICTS)
        name = f"{rng.choice(prefixes)}{product}{district}"
        if i % 7 == 0:
            name = f"{name} {i // 7 + 1}"  # several shops of one kind in a district
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # Monthly revenue around the 80,000 THB baseline Udon Thani started from.
        revenue_thb = rng.randrange(40_000, 130_000, 500)
        requests.append(
            ms.RegisterMemberRequest(
                province_code=UDON_THANI,
                cluster_code=cluster,
                business_name_th=name,
                tax_id=thai_id(rng, "0"),
                enterprise_type=TYPES[rng.randrange(len(TYPES))],
                products=rng.sample(products, k=2),
                sales_channels=rng.sample(CHANNELS, k=rng.randint(1, 3)),
                baseline_monthly_revenue=common_pb2.Money(
                    satang=revenue_thb * 100, currency_code="THB"
                ),
                contact=membership_pb2.Contact(
                    full_name=f"{first} {last}",
                    phone=f"08{rng.randint(10_000_000, 99_999_999)}",
                    email=f"member{i + 1:03d}@example.co.th",
                    national_id=thai_id(rng, str(rng.randint(1, 8))),
                ),
            )
        )
    return requests


async def seed_udon_thani(api: MembershipApi, count: int = 200) -> bool:
    """Seed the demo network; returns False when it was already there."""
    try:
        await api.CreateNetwork(
            ms.CreateNetworkRequest(
                province_code=UDON_THANI,
                name_th="เครือข่ายพาณิชย์จังหวัดอุดรธานี (MOC Biz Club อุดรธานี)",
                name_en="MOC Biz Club Udon Thani",
                clusters=[
                    membership_pb2.Cluster(cluster_code=c, name_th=th, name_en=en)
                    for c, th, en in CLUSTERS
                ],
            ),
            None,
        )
    except AlreadyExists:
        return False
    members = []
    for request in demo_registrations(count):
        member = (await api.RegisterMember(request, None)).member
        members.append(member)
    # Most are approved by the committee; a few applications are still pending.
    for i, member in enumerate(members):
        if i % 10 != 9:
            await api.ApproveMember(
                ms.ApproveMemberRequest(
                    member_id=member.member_id, resolution="มติคณะกรรมการ 1/2568"
                ),
                None,
            )
    active = [m for i, m in enumerate(members) if i % 10 != 9]
    # The committee sitting now: a two-year term from this January (years in พ.ศ.).
    year_be = datetime.now(UTC).year + 543
    term = (
        common_pb2.Date(year=year_be, month=1, day=1),
        common_pb2.Date(year=year_be + 1, month=12, day=31),
    )
    roles = [
        (membership_pb2.COMMITTEE_ROLE_CHAIR, ""),
        (membership_pb2.COMMITTEE_ROLE_VICE_CHAIR, ""),
        (membership_pb2.COMMITTEE_ROLE_SECRETARY, ""),
        (membership_pb2.COMMITTEE_ROLE_TREASURER, ""),
    ] + [(membership_pb2.COMMITTEE_ROLE_CLUSTER_LEAD, c) for c, _, _ in CLUSTERS]
    for (role, cluster), member in zip(roles, active[: len(roles)], strict=True):
        await api.AppointCommitteeMember(
            ms.AppointCommitteeMemberRequest(
                member_id=member.member_id,
                role=role,
                cluster_code=cluster or "",
                term_start=term[0],
                term_end=term[1],
            ),
            None,
        )
    # พี่สอนน้อง: early members coach newer ones of the same cluster.
    for mentor, mentee in zip(active[:12], active[-12:], strict=True):
        await api.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=mentor.member_id,
                mentee_member_id=mentee.member_id,
                focus="การตลาดออนไลน์และบรรจุภัณฑ์",
            ),
            None,
        )
    # A suspension and a departure, so every status shows in the demo.
    await api.SuspendMember(
        ms.SuspendMemberRequest(member_id=active[50].member_id, reason="ค้างชำระค่าบำรุง"), None
    )
    await api.LeaveNetwork(
        ms.LeaveNetworkRequest(member_id=active[60].member_id, reason="ย้ายกิจการไปจังหวัดอื่น"), None
    )
    log.info("seeded the Udon Thani network: %d members", len(members))
    return True
