"""Realistic requests and events: unique valid tax IDs, Thai names, ~200 B events."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2 as feedback_events
from bizclub.feedback.v1 import feedback_pb2, feedback_service_pb2
from bizclub.membership.v1 import events_pb2, membership_pb2, membership_service_pb2
from bizclub_shared.envelope import Envelope
from google.protobuf.timestamp_pb2 import Timestamp

PROVINCE = "TH-41"
CLUSTER = "textiles"
SOURCE = "membership"
EVENT_TYPE = events_pb2.MemberRegistered.DESCRIPTOR.full_name

# Registrations differ the way real ones do: every business and contact name is new
# (text caches in the service must not flatter the figures); products repeat.
KINDS = [
    ("กลุ่มทอผ้า", "Weavers Group", ["ผ้าไหมทอมือ", "ผ้าฝ้ายย้อมคราม"]),
    ("วิสาหกิจชุมชนผ้าทอ", "Weaving Community Enterprise", ["ผ้ามัดหมี่"]),
    ("ร้านผ้า", "Fabrics", ["ผ้าขาวม้า", "กระเป๋าผ้าทอ"]),
    ("ห้างหุ้นส่วนจำกัด ผ้าไทย", "Pha Thai Ltd. Part.", ["เสื้อผ้าฝ้ายสำเร็จรูป"]),
]
FIRST_NAMES = ["บุญมี", "สมหญิง", "คำแพง", "ทองใบ", "มาลี", "ประเสริฐ", "วิไลวรรณ", "อำนาจ"]
# Serial -> a unique name from syllables, as Thai surnames and shop names are built.
SYLLABLES_TH = [
    "ศรี", "สุข", "ทอง", "แก้ว", "บุญ", "มี", "ชัย", "วงศ์", "สม", "ใจ",
    "พันธ์", "ดี", "เจริญ", "รัตน์", "สวัสดิ์", "กุล", "ประเสริฐ", "นาค", "คำ", "อินทร์",
]  # fmt: skip
SYLLABLES_EN = [
    "sri", "suk", "thong", "kaew", "bun", "mee", "chai", "wong", "som", "jai",
    "phan", "dee", "charoen", "rat", "sawat", "kul", "prasert", "nak", "kham", "in",
]  # fmt: skip


def unique_word(serial: int, syllables: list[str], count: int = 4) -> str:
    """Distinct serials below len(syllables)**count give distinct words."""
    space = len(syllables) ** count
    serial = serial * 7_919 % space  # a bijection (7919 is prime) that varies every syllable
    parts = []
    for _ in range(count):
        serial, digit = divmod(serial, len(syllables))
        parts.append(syllables[digit])
    return "".join(parts)


def thai_id(serial: int, prefix: str = "0") -> str:
    """A 13-digit ID with a valid check digit: prefix, zero-padded serial, check digit."""
    body = (prefix + str(serial).zfill(12 - len(prefix)))[-12:]
    total = sum(int(d) * w for d, w in zip(body, range(13, 1, -1), strict=True))
    return body + str((11 - total % 11) % 10)


def network_request() -> membership_service_pb2.CreateNetworkRequest:
    return membership_service_pb2.CreateNetworkRequest(
        province_code=PROVINCE,
        name_th="เครือข่าย MOC Biz Club อุดรธานี",
        name_en="MOC Biz Club Udon Thani",
        clusters=[
            membership_pb2.Cluster(cluster_code=CLUSTER, name_th="ผ้าและเครื่องแต่งกาย"),
            membership_pb2.Cluster(cluster_code="food", name_th="อาหารและเครื่องดื่ม"),
        ],
    )


def registration(serial: int) -> membership_service_pb2.RegisterMemberRequest:
    """Registration number `serial`: its tax ID and its names are unique to the serial."""
    kind_th, kind_en, products = KINDS[serial % len(KINDS)]
    brand_th = unique_word(serial, SYLLABLES_TH)
    return membership_service_pb2.RegisterMemberRequest(
        province_code=PROVINCE,
        cluster_code=CLUSTER,
        business_name_th=f"{kind_th}{brand_th}",
        business_name_en=f"{unique_word(serial, SYLLABLES_EN).capitalize()} {kind_en}",
        tax_id=thai_id(serial),
        enterprise_type=membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
        products=products,
        sales_channels=[common_pb2.SALES_CHANNEL_LOCAL_MARKET],
        baseline_monthly_revenue=common_pb2.Money(satang=8_000_000, currency_code="THB"),
        contact=membership_pb2.Contact(
            full_name=f"{FIRST_NAMES[serial % len(FIRST_NAMES)]} {brand_th}",
            phone="0812345678",
            email="owner@example.co.th",
            national_id=thai_id(serial, prefix="3"),
        ),
    )


def registrations_file(first_serial: int, count: int) -> bytes:
    """`count` registrations as length-delimited messages (bench/loadgen's -data)."""
    out = bytearray()
    for serial in range(first_serial, first_serial + count):
        data = registration(serial).SerializeToString()
        out += _varint(len(data)) + data
    return bytes(out)


def monthly_reports_file(member_ids: list[str], first: int, count: int, today: datetime) -> bytes:
    """Monthly reports `first` to `first + count` of a sequence in which every (member,
    month) pair comes once: all members for this month, then all for the month before...
    Figures vary around the 80,000 THB baseline."""
    out = bytearray()
    for n in range(first, first + count):
        back, member = divmod(n, len(member_ids))
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        data = feedback_service_pb2.SubmitMonthlyReportRequest(
            member_id=member_ids[member],
            month=feedback_pb2.ReportMonth(year=year, month=month + 1),
            figures=feedback_pb2.MonthlyFigures(
                revenue=common_pb2.Money(satang=8_000_000 + n % 977 * 10_000, currency_code="THB"),
                sales_channels=[
                    common_pb2.SALES_CHANNEL_LOCAL_MARKET,
                    common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
                ],
                employees=3 + n % 7,
            ),
        ).SerializeToString()
        out += _varint(len(data)) + data
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def member_registered(member_id: str, now: datetime, serial: int = 0) -> bytes:
    """A serialized MemberRegistered, as RegisterMember emits it (about 250 B)."""
    request = registration(serial)
    occurred_at = Timestamp()
    occurred_at.FromDatetime(now)
    return events_pb2.MemberRegistered(
        member_id=member_id,
        province_code=request.province_code,
        cluster_code=request.cluster_code,
        enterprise_type=request.enterprise_type,
        business_name_th=request.business_name_th,
        business_name_en=request.business_name_en,
        products=request.products,
        sales_channels=request.sales_channels,
        baseline_monthly_revenue=request.baseline_monthly_revenue,
        occurred_at=occurred_at,
    ).SerializeToString()


def monthly_report_submitted(member_id: str, now: datetime, serial: int = 0) -> bytes:
    """A serialized MonthlyReportSubmitted for this month, as SubmitMonthlyReport emits it."""
    occurred_at = Timestamp()
    occurred_at.FromDatetime(now)
    return feedback_events.MonthlyReportSubmitted(
        report_id=str(uuid.uuid4()),
        member_id=member_id,
        province_code=PROVINCE,
        cluster_code=CLUSTER,
        month=feedback_pb2.ReportMonth(year=now.year, month=now.month),
        figures=feedback_pb2.MonthlyFigures(
            revenue=common_pb2.Money(satang=8_000_000 + serial % 977 * 10_000, currency_code="THB"),
            sales_channels=[common_pb2.SALES_CHANNEL_LOCAL_MARKET],
            employees=3 + serial % 7,
        ),
        occurred_at=occurred_at,
    ).SerializeToString()


def traceparent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


class Event:
    """One event as the outbox holds it: key, payload, envelope."""

    __slots__ = ("envelope", "key", "payload")

    def __init__(self, serial: int) -> None:
        now = datetime.now(UTC)
        member_id = str(uuid.uuid4())
        self.key = member_id
        self.payload = member_registered(member_id, now, serial)
        self.envelope = Envelope(
            event_id=str(uuid.uuid4()),
            event_type=EVENT_TYPE,
            source=SOURCE,
            time=now,
            province=PROVINCE,
            traceparent=traceparent(),
        )


def events(count: int) -> Iterator[Event]:
    for serial in range(count):
        yield Event(serial)
