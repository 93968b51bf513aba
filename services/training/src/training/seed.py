"""The Udon Thani demo calendar: a marketing seminar, a packaging-design workshop with
a designer (full, with a waitlist), peer-mentoring sessions led by the committee's
cluster leads, an export consultation, a tourism brainstorm, and a product project.

Seeded through the same API an operator uses, with the members membership seeded
(read over gRPC once membership reports SERVING, which it does after its own seed).
Dates are set from today, so the calendar is always ahead. Skipped when TH-41
already has sessions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import (
    membership_pb2,
    membership_service_pb2,
    membership_service_pb2_grpc,
)
from bizclub.training.v1 import training_pb2, training_service_pb2
from bizclub_shared.grpc_server import channel
from grpc_health.v1 import health_pb2, health_pb2_grpc

from training import domain
from training.api import TrainingApi

log = logging.getLogger(__name__)
ts = training_service_pb2
tp = training_pb2
UDON_THANI = "TH-41"
MEMBERSHIP_SERVICE = "bizclub.membership.v1.MembershipService"
OFFICE_VENUE = "ห้องประชุมสำนักงานพาณิชย์จังหวัดอุดรธานี ศูนย์ราชการจังหวัดอุดรธานี"
DESIGNER = tp.Trainer(
    name_th="ณัฐพล ศรีประเสริฐ",
    organisation_th="นักออกแบบบรรจุภัณฑ์ ศูนย์สร้างสรรค์งานออกแบบ ขอนแก่น",
    role=tp.TRAINER_ROLE_DESIGNER,
)


async def udon_thani_members(
    address: str, token: Callable[[], str], wait: float
) -> tuple[list[membership_pb2.Member], list[membership_pb2.CommitteeAppointment]]:
    """Active TH-41 members and the sitting committee, once membership answers."""
    deadline = time.monotonic() + wait
    async with channel(address, token=token) as chan:
        health = health_pb2_grpc.HealthStub(chan)
        while True:
            try:
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service=MEMBERSHIP_SERVICE), timeout=2.0
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass  # not up yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"membership at {address} did not answer within {wait:.0f} s")
            await asyncio.sleep(1.0)
        stub = membership_service_pb2_grpc.MembershipServiceStub(chan)
        members: list[membership_pb2.Member] = []
        page_token = ""
        while True:
            page = await stub.ListMembers(
                membership_service_pb2.ListMembersRequest(
                    province_code=UDON_THANI,
                    status=membership_pb2.MEMBER_STATUS_ACTIVE,
                    page=common_pb2.PageRequest(page_size=500, page_token=page_token),
                ),
                timeout=10.0,
            )
            members.extend(page.members)
            page_token = page.page.next_page_token
            if not page_token:
                break
        if not members:
            return [], []
        network = await stub.GetNetwork(
            membership_service_pb2.GetNetworkRequest(province_code=UDON_THANI), timeout=10.0
        )
        return members, list(network.committee)


def local(day: datetime, hour: int, minute: int = 0) -> str:
    """A Bangkok time as an officer types it, with a Buddhist-era year."""
    moment = day.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return domain.format_local(moment.astimezone(UTC))


async def seed_udon_thani(
    api: TrainingApi, membership_address: str, *, token: Callable[[], str], wait: float
) -> bool:
    """Seed the demo calendar; returns False when it was already there or had no members."""
    if await api.has_sessions(UDON_THANI):
        return False
    members, committee = await udon_thani_members(membership_address, token, wait)
    if not members:
        log.info("membership has no active TH-41 members; the training demo is not seeded")
        return False
    by_cluster: dict[str, list[membership_pb2.Member]] = defaultdict(list)
    leads = {
        a.cluster_code: a.member_id
        for a in committee
        if a.role == membership_pb2.COMMITTEE_ROLE_CLUSTER_LEAD
    }
    seated_on_committee = {a.member_id for a in committee}
    for member in members:
        if member.member_id not in seated_on_committee:
            by_cluster[member.cluster_code].append(member)
    today = datetime.now(domain.BANGKOK).replace(hour=0, minute=0, second=0, microsecond=0)

    async def schedule(**fields: Any) -> tp.Session:
        return (await api.ScheduleSession(ts.ScheduleSessionRequest(**fields), None)).session

    async def enrol(session: tp.Session, people: list[membership_pb2.Member]) -> None:
        for member in people:
            await api.EnrollMember(
                ts.EnrollMemberRequest(session_id=session.session_id, member_id=member.member_id),
                None,
            )

    seminar_day = today + timedelta(days=14)
    seminar = await schedule(
        province_code=UDON_THANI,
        kind=tp.SESSION_KIND_SEMINAR,
        title_th="สัมมนาการตลาดออนไลน์สำหรับสินค้าชุมชน: ขายผ่านมาร์เก็ตเพลสและโซเชียลคอมเมิร์ซ",
        title_en="Online marketing for community products",
        description_th="การสร้างร้านค้าออนไลน์ การถ่ายภาพสินค้า การยิงโฆษณา และการไลฟ์ขายของ",
        venue_th=OFFICE_VENUE,
        online_url="https://meet.example.go.th/udon-bizclub-marketing",
        local_start=local(seminar_day, 9),
        local_end=local(seminar_day, 16),
        trainers=[
            tp.Trainer(
                name_th="ผศ.ดร.วรวุฒิ แสงทอง",
                organisation_th="คณะบริหารธุรกิจและการจัดการ มหาวิทยาลัยราชภัฏอุดรธานี",
                role=tp.TRAINER_ROLE_SPEAKER,
            )
        ],
        capacity=80,
        hours=6,
    )
    await enrol(seminar, [m for cluster in by_cluster.values() for m in cluster[:10]])

    workshop_day = today + timedelta(days=21)
    workshop = await schedule(
        province_code=UDON_THANI,
        kind=tp.SESSION_KIND_PRODUCT_DEVELOPMENT,
        title_th="เวิร์กช็อปออกแบบบรรจุภัณฑ์และตราสินค้าแปรรูปอาหารและเกษตร",
        title_en="Packaging and brand design clinic",
        description_th="นักออกแบบทำงานกับผู้ประกอบการรายตัว: โจทย์ ต้นแบบ และบรรจุภัณฑ์จริง",
        target_cluster_codes=["food", "agriculture"],
        venue_th="ศูนย์ส่งเสริมอุตสาหกรรมภาคที่ 5 อุดรธานี",
        local_start=local(workshop_day, 9),
        local_end=local(workshop_day + timedelta(days=1), 16),
        trainers=[DESIGNER],
        capacity=20,
        hours=12,
        completion_hours=9,
    )
    # More than the 20 seats: the last four wait, in the order they applied.
    await enrol(workshop, by_cluster["food"][10:22] + by_cluster["agriculture"][10:22])

    for week, cluster in enumerate(["textiles", "food", "tourism"], start=1):
        mentor = leads.get(cluster)
        if mentor is None:
            continue
        day = today + timedelta(days=7 * week + 3)
        mentoring = await schedule(
            province_code=UDON_THANI,
            kind=tp.SESSION_KIND_PEER_MENTORING,
            title_th=f"พี่สอนน้อง: ต้นทุน ราคา และช่องทางขาย (คลัสเตอร์{CLUSTER_TH[cluster]})",
            target_cluster_codes=[cluster],
            venue_th="ร้านของพี่เลี้ยง (นัดหมายผ่านเลขานุการเครือข่าย)",
            local_start=local(day, 13, 30),
            local_end=local(day, 16, 30),
            trainers=[
                tp.Trainer(
                    name_th="พี่เลี้ยงจากคณะกรรมการเครือข่าย",
                    role=tp.TRAINER_ROLE_MENTOR,
                    member_id=mentor,
                )
            ],
            capacity=4,
            hours=3,
        )
        await enrol(mentoring, by_cluster[cluster][-3:])

    consult_day = today + timedelta(days=28)
    consultation = await schedule(
        province_code=UDON_THANI,
        kind=tp.SESSION_KIND_CONSULTATION,
        title_th="คลินิกที่ปรึกษาการส่งออกสินค้าไป สปป.ลาว และเวียดนาม",
        online_url="https://meet.example.go.th/udon-export-clinic",
        local_start=local(consult_day, 10),
        local_end=local(consult_day, 12),
        trainers=[
            tp.Trainer(
                name_th="ที่ปรึกษาด้านการค้าชายแดน",
                organisation_th="สำนักงานพาณิชย์จังหวัดอุดรธานี",
                role=tp.TRAINER_ROLE_EXPERT,
            )
        ],
        capacity=5,
        hours=2,
    )
    await enrol(consultation, by_cluster["agriculture"][:3])

    brainstorm_day = today + timedelta(days=35)
    brainstorm = await schedule(
        province_code=UDON_THANI,
        kind=tp.SESSION_KIND_BRAINSTORMING,
        title_th="ประชุมระดมสมองเส้นทางท่องเที่ยวชุมชน ทะเลบัวแดง–บ้านเชียง",
        target_cluster_codes=["tourism"],
        venue_th="ศาลาประชาคมอำเภอกุมภวาปี",
        local_start=local(brainstorm_day, 9),
        local_end=local(brainstorm_day, 12),
        trainers=[
            tp.Trainer(
                name_th="ผู้ประสานงานเครือข่ายท่องเที่ยวชุมชน",
                organisation_th="สำนักงานการท่องเที่ยวและกีฬาจังหวัดอุดรธานี",
                role=tp.TRAINER_ROLE_SPEAKER,
            )
        ],
        capacity=30,
        hours=3,
    )
    await enrol(brainstorm, by_cluster["tourism"][:12])

    # A producer selected at the packaging workshop, paired with its designer.
    selected = by_cluster["food"][10]
    project = (
        await api.StartProductProject(
            ts.StartProductProjectRequest(
                member_id=selected.member_id,
                session_id=workshop.session_id,
                designer=DESIGNER,
                brief_th="บรรจุภัณฑ์ที่ยืดอายุสินค้าและวางขายในห้างสรรพสินค้าได้ พร้อมตราสินค้าที่เล่าเรื่องของชุมชน",
                before=tp.ProductFacts(
                    product_name_th=selected.products[0] if selected.products else "แหนมหมู",
                    unit_price=common_pb2.Money(satang=3_500, currency_code="THB"),
                    packaging_th="ถุงพลาสติกใส มัดยาง ไม่มีฉลาก",
                    photo_refs=["demo/products/before-1.jpg"],
                ),
            ),
            None,
        )
    ).project
    await api.AdvanceProductProject(
        ts.AdvanceProductProjectRequest(
            project_id=project.project_id,
            stage=tp.PROJECT_STAGE_PROTOTYPE,
            note_th="ต้นแบบถุงสุญญากาศพร้อมฉลากสองภาษา ทดลองวางขายที่ร้านของฝากในตัวเมือง",
        ),
        None,
    )
    log.info("seeded the Udon Thani training calendar")
    return True


CLUSTER_TH = {
    "textiles": "ผ้าและเครื่องแต่งกาย",
    "food": "อาหารและเครื่องดื่ม",
    "agriculture": "เกษตรและเกษตรแปรรูป",
    "tourism": "ท่องเที่ยวชุมชน",
}
