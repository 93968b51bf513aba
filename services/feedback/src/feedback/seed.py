"""Demo data for Udon Thani (TH-41): six months of monthly reports, problems, meetings,
announcements and a survey.

Members are not made here: they come from membership's events (the demo members), so
the seed waits until they have arrived, then goes through the same API an operator
uses. Revenue starts near the 80,000 THB a month the programme measured its members
at and grows month by month. Skipped when any monthly report exists.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, date, datetime, timedelta

from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import feedback_pb2, feedback_service_pb2
from bizclub_shared.timestamps import to_timestamp

from feedback import domain
from feedback.api import FeedbackApi

log = logging.getLogger(__name__)
fs = feedback_service_pb2
fp = feedback_pb2
UDON_THANI = "TH-41"
MIN_MEMBERS = 20
STEADY_SECONDS = 2.0
MONTHS = 6
OFFICER = "officer-th41-01"
CENTRAL = "central-moc-01"
CHANNEL_STEPS = [
    common_pb2.SALES_CHANNEL_LOCAL_MARKET,
    common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    common_pb2.SALES_CHANNEL_TOURISM,
    common_pb2.SALES_CHANNEL_DEPARTMENT_STORE,
    common_pb2.SALES_CHANNEL_EXPORT,
]


async def wait_for_members(api: FeedbackApi, within: float) -> list[tuple[str, str]]:
    """(member_id, cluster_code) of TH-41's active members, once their number holds still."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last, steady_since = -1, loop.time()
    while loop.time() < deadline:
        members = await api.active_members(UDON_THANI)
        if len(members) != last:
            last, steady_since = len(members), loop.time()
        elif last >= MIN_MEMBERS and loop.time() - steady_since >= STEADY_SECONDS:
            return [(m.member_id, m.cluster_code) for m in members]
        await asyncio.sleep(0.25)
    raise TimeoutError(f"only {max(last, 0)} TH-41 members arrived within {within:g} s")


def months_back(today: date, count: int) -> list[tuple[int, int]]:
    """The `count` months before this one, oldest first."""
    year, month = today.year, today.month
    result = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        result.append((year, month))
    return list(reversed(result))


async def seed_reports(api: FeedbackApi, members: list[tuple[str, str]], today: date) -> None:
    rng = random.Random(41)
    months = months_back(today, MONTHS)
    requests = []
    for member_id, _ in members:
        revenue = rng.randrange(60_000, 100_000, 500) * 100  # satang, around 80,000 THB
        growth = rng.uniform(0.03, 0.22)
        employees = rng.randint(2, 12)
        channels = 1
        for i, (year, month) in enumerate(months):
            if i and rng.random() < 0.25:
                channels = min(channels + 1, len(CHANNEL_STEPS))
            requests.append(
                fs.SubmitMonthlyReportRequest(
                    member_id=member_id,
                    month=fp.ReportMonth(year=year + 543, month=month),  # as officers type it
                    figures=fp.MonthlyFigures(
                        revenue=common_pb2.Money(satang=revenue, currency_code="THB"),
                        sales_channels=CHANNEL_STEPS[:channels],
                        employees=employees + i // 2,
                    ),
                )
            )
            revenue = int(revenue * (1 + growth) / 100) * 100
    for start in range(0, len(requests), 200):  # in batches: group commit, bounded memory
        await asyncio.gather(
            *(api.SubmitMonthlyReport(r, None) for r in requests[start : start + 200])
        )
    # One correction, as happens: a member typed last month's revenue a digit short.
    member_id = members[0][0]
    year, month = months[-1]
    report = (
        await api.GetMonthlyReport(
            fs.GetMonthlyReportRequest(
                member_id=member_id, month=fp.ReportMonth(year=year, month=month)
            ),
            None,
        )
    ).report
    figures = fp.MonthlyFigures()
    figures.CopyFrom(report.figures)
    figures.revenue.satang = report.figures.revenue.satang + 1_500_000
    await api.ReviseMonthlyReport(
        fs.ReviseMonthlyReportRequest(
            member_id=member_id,
            month=report.month,
            figures=figures,
            reason_th="แก้ไขยอดขายออนไลน์ที่บันทึกตกหล่น",
        ),
        None,
    )


PROBLEMS = [
    (
        fp.ISSUE_CATEGORY_FINANCE,
        fp.ISSUE_SEVERITY_HIGH,
        "ขาดเงินทุนหมุนเวียนสำหรับซื้อวัตถุดิบช่วงเทศกาล ธนาคารขอหลักประกันเพิ่ม",
    ),
    (
        fp.ISSUE_CATEGORY_STANDARDS_CERTIFICATION,
        fp.ISSUE_SEVERITY_MEDIUM,
        "ยื่นขอ อย. สำหรับน้ำพริกบรรจุขวดแล้วยังไม่ได้รับผลการพิจารณา",
    ),
    (
        fp.ISSUE_CATEGORY_LOGISTICS,
        fp.ISSUE_SEVERITY_MEDIUM,
        "ค่าขนส่งสินค้าไปกรุงเทพฯ สูงขึ้นมาก อยากรวมส่งกับสมาชิกคลัสเตอร์เดียวกัน",
    ),
    (
        fp.ISSUE_CATEGORY_MARKET_ACCESS,
        fp.ISSUE_SEVERITY_LOW,
        "อยากนำผ้าไหมไปวางจำหน่ายในห้างสรรพสินค้า แต่ไม่ทราบขั้นตอนการติดต่อ",
    ),
    (
        fp.ISSUE_CATEGORY_REGULATION,
        fp.ISSUE_SEVERITY_CRITICAL,
        "ระเบียบการส่งออกผลิตภัณฑ์แปรรูปจากข้าวไปต่างประเทศต้องใช้ใบรับรองที่จังหวัดออกให้ไม่ได้",
    ),
]


async def seed_problems(api: FeedbackApi, members: list[tuple[str, str]]) -> None:
    office = fp.ViewerScope(province_code=UDON_THANI)
    ids = []
    for i, (category, severity, text) in enumerate(PROBLEMS):
        issue = (
            await api.ReportIssue(
                fs.ReportIssueRequest(
                    province_code=UDON_THANI,
                    member_id=members[i * 7 % len(members)][0],
                    category=category,
                    severity=severity,
                    description_th=text,
                ),
                None,
            )
        ).issue
        ids.append(issue.issue_id)
    ctx = None
    for issue_id in ids[1:4]:
        await api.AcknowledgeIssue(
            fs.AcknowledgeIssueRequest(issue_id=issue_id, viewer=office, actor_id=OFFICER),
            ctx,
        )
    await api.StartIssueWork(
        fs.StartIssueWorkRequest(
            issue_id=ids[2], viewer=office, actor_id=OFFICER, note_th="ประสานบริษัทขนส่งเพื่อรวมรอบส่ง"
        ),
        ctx,
    )
    await api.ResolveIssue(
        fs.ResolveIssueRequest(
            issue_id=ids[3],
            viewer=office,
            actor_id=OFFICER,
            resolution_th="จับคู่กับฝ่ายจัดซื้อห้างในงานจับคู่ธุรกิจของจังหวัดแล้ว",
        ),
        ctx,
    )
    await api.EscalateIssue(
        fs.EscalateIssueRequest(
            issue_id=ids[4],
            viewer=office,
            actor_id=OFFICER,
            note_th="เป็นระเบียบระดับกรม จังหวัดแก้ไขเองไม่ได้ ขอส่วนกลางพิจารณา",
        ),
        ctx,
    )
    # ids[0] stays open: the first thing an officer sees.


async def seed_meetings(api: FeedbackApi, members: list[tuple[str, str]], today: date) -> None:
    food = [m for m, c in members if c == "food"][:6] or [members[0][0]]
    agri = [m for m, c in members if c == "agriculture"][:6] or [members[1][0]]
    held_day = today - timedelta(days=20)
    start = to_timestamp(datetime(held_day.year, held_day.month, held_day.day, 2, tzinfo=UTC))
    meeting = (
        await api.ScheduleMeeting(
            fs.ScheduleMeetingRequest(
                province_code=UDON_THANI,
                kind=fp.MEETING_KIND_INTER_CLUSTER,
                title_th="ประชุมเชื่อมโยงคลัสเตอร์อาหารกับคลัสเตอร์เกษตรแปรรูป",
                cluster_codes=["food", "agriculture"],
                venue_th="ห้องประชุมสำนักงานพาณิชย์จังหวัดอุดรธานี",
                start_time=start,
                agenda_th=[
                    "ทบทวนยอดขายไตรมาสที่ผ่านมา",
                    "การรวมซื้อวัตถุดิบข้าวอินทรีย์",
                    "เตรียมสินค้าสำหรับงานแสดงสินค้า OTOP",
                ],
                invited_member_ids=food + agri,
            ),
            None,
        )
    ).meeting
    due = today + timedelta(days=10)
    held = (
        await api.RecordMeetingHeld(
            fs.RecordMeetingHeldRequest(
                meeting_id=meeting.meeting_id,
                attendee_member_ids=(food + agri)[:9],
                minutes_th="ที่ประชุมหารือการรวมซื้อข้าวอินทรีย์จากคลัสเตอร์เกษตร เพื่อใช้ผลิตข้าวเกรียบและขนม",
                decisions_th=[
                    "คลัสเตอร์อาหารรวมซื้อข้าวอินทรีย์จากคลัสเตอร์เกษตรเดือนละ 2 ตัน",
                    "ใช้บรรจุภัณฑ์ร่วมภายใต้ตราสินค้าอุดรธานี",
                ],
                action_items=[
                    fs.NewActionItem(
                        description_th="ร่างสัญญาซื้อขายข้าวอินทรีย์ระหว่างคลัสเตอร์",
                        owner_member_id=agri[0],
                        due_on=domain.date_proto(due),
                    ),
                    fs.NewActionItem(
                        description_th="สำรวจราคาออกแบบบรรจุภัณฑ์ร่วม",
                        owner_th="ประธานคลัสเตอร์อาหาร",
                        due_on=domain.date_proto(due + timedelta(days=14)),
                    ),
                    fs.NewActionItem(
                        description_th="ส่งรายชื่อสินค้าเข้าร่วมงาน OTOP",
                        owner_member_id=food[0],
                        due_on=domain.date_proto(held_day + timedelta(days=7)),
                    ),
                ],
            ),
            None,
        )
    ).meeting
    await api.UpdateActionItem(
        fs.UpdateActionItemRequest(
            action_item_id=held.action_items[2].action_item_id, status=fp.ACTION_ITEM_STATUS_DONE
        ),
        None,
    )
    ahead = today + timedelta(days=7)
    await api.ScheduleMeeting(
        fs.ScheduleMeetingRequest(
            province_code=UDON_THANI,
            kind=fp.MEETING_KIND_NETWORK,
            title_th="ประชุมใหญ่เครือข่าย MOC Biz Club อุดรธานี ประจำเดือน",
            venue_th="โรงแรมในตัวเมืองอุดรธานี",
            start_time=to_timestamp(datetime(ahead.year, ahead.month, ahead.day, 2, tzinfo=UTC)),
            agenda_th=["รายงานผลการดำเนินงานของแต่ละคลัสเตอร์", "ปัญหาอุปสรรคที่ค้างอยู่"],
        ),
        None,
    )


async def seed_news(api: FeedbackApi, members: list[tuple[str, str]], today: date) -> None:
    national = (
        await api.PublishAnnouncement(
            fs.PublishAnnouncementRequest(
                title_th="กระทรวงพาณิชย์เปิดรับสมัครโครงการยกระดับสินค้าชุมชนสู่ตลาดออนไลน์",
                body_th="สมาชิก MOC Biz Club ทุกจังหวัดสมัครได้ที่สำนักงานพาณิชย์จังหวัดภายในสิ้นเดือนนี้",
            ),
            None,
        )
    ).announcement
    await api.PublishAnnouncement(
        fs.PublishAnnouncementRequest(
            from_province_code=UDON_THANI,
            province_codes=[UDON_THANI],
            cluster_codes=["food"],
            title_th="อบรมการขอเครื่องหมาย อย. สำหรับคลัสเตอร์อาหาร",
            body_th="สำนักงานพาณิชย์จังหวัดอุดรธานีร่วมกับสาธารณสุขจังหวัดจัดอบรมการขอ อย.",
        ),
        None,
    )
    for member_id, _ in members[:40]:
        await api.MarkAnnouncementRead(
            fs.MarkAnnouncementReadRequest(
                announcement_id=national.announcement_id, member_id=member_id
            ),
            None,
        )
    survey = (
        await api.CreateSurvey(
            fs.CreateSurveyRequest(
                province_code=UDON_THANI,
                audience=fp.SURVEY_AUDIENCE_PROVINCE,
                title_th="สำรวจความต้องการพัฒนาธุรกิจของสมาชิก ปี 2569",
                questions=[
                    fp.SurveyQuestion(
                        type=fp.QUESTION_TYPE_RATING,
                        text_th="ความพึงพอใจต่อกิจกรรมของเครือข่ายโดยรวม",
                        required=True,
                    ),
                    fp.SurveyQuestion(
                        type=fp.QUESTION_TYPE_CHOICE,
                        text_th="ช่องทางการขายที่ต้องการพัฒนามากที่สุด",
                        required=True,
                        options_th=["ตลาดออนไลน์", "ห้างสรรพสินค้า", "ส่งออก", "การท่องเที่ยว"],
                    ),
                    fp.SurveyQuestion(
                        type=fp.QUESTION_TYPE_NUMBER, text_th="จำนวนคำสั่งซื้อเฉลี่ยต่อเดือน"
                    ),
                    fp.SurveyQuestion(type=fp.QUESTION_TYPE_TEXT, text_th="ปัญหาที่อยากให้ช่วยแก้ไข"),
                ],
                closes_on=domain.date_proto(today + timedelta(days=30)),
            ),
            None,
        )
    ).survey
    rng = random.Random(2569)
    for member_id, _ in members[:25]:
        await api.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id,
                member_id=member_id,
                answers=[
                    fp.SurveyAnswerItem(question_id="q1", rating=rng.choice([3, 4, 4, 5, 5])),
                    fp.SurveyAnswerItem(question_id="q2", choice_index=rng.randrange(4)),
                    fp.SurveyAnswerItem(question_id="q3", number=float(rng.randint(5, 80))),
                ],
            ),
            None,
        )


async def seed_demo(api: FeedbackApi, *, wait: float) -> None:
    if await api.has_reports():
        log.info("feedback demo already seeded")
        return
    members = await wait_for_members(api, wait)
    today = api.today()
    await seed_reports(api, members, today)
    await seed_problems(api, members)
    await seed_meetings(api, members, today)
    await seed_news(api, members, today)
    log.info("feedback demo seeded: %d members' reports for %d months", len(members), MONTHS)
