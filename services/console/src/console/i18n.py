"""The console's words in Thai (the default) and English, and how numbers, money and
months are written in each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2

LANGUAGES = ("th", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("คอนโซลเจ้าหน้าที่ MOC Biz Club", "MOC Biz Club operator console"),
    "sign_in": ("เข้าสู่ระบบ", "Sign in"),
    "sign_out": ("ออกจากระบบ", "Sign out"),
    "token": ("โทเคนของท่าน (JWT)", "Your token (JWT)"),
    "token_hint": (
        "วางโทเคนที่ได้รับจากผู้ดูแลระบบ เช่น ผลของ `bizclub token`",
        "Paste the token you were issued, e.g. the output of `bizclub token`",
    ),
    "bad_token": ("โทเคนไม่ถูกต้องหรือหมดอายุ", "The token is malformed or has expired"),
    "demo": ("ทดลองใช้ในเครื่อง: เลือกบทบาท", "Local demo: pick a role"),
    "signed_in_as": ("ผู้ใช้", "Signed in as"),
    "national": ("ภาพรวมประเทศ", "National view"),
    "dashboard": ("แดชบอร์ดจังหวัด", "Province dashboard"),
    "members": ("สมาชิก", "Members"),
    "members_per_cluster": ("สมาชิกตามคลัสเตอร์", "Members per cluster"),
    "active": ("ดำเนินกิจการ", "active"),
    "revenue_trend": ("รายได้เฉลี่ยต่อเดือนเทียบฐานเดิม", "Average monthly revenue against baseline"),
    "revenue": ("รายได้เฉลี่ย", "Average revenue"),
    "baseline": ("ฐานรายได้เดิม", "Baseline"),
    "funnel": ("การจับคู่ธุรกิจ", "Business matching funnel"),
    "suggested": ("แนะนำคู่ค้า", "Suggested"),
    "requested": ("ขอนัดหมาย", "Requested"),
    "held": ("เจรจาแล้ว", "Met"),
    "deals": ("ตกลงซื้อขาย", "Deals"),
    "deal_value": ("มูลค่าการซื้อขาย", "Deal value"),
    "fair_sales": ("ยอดขายในงานแสดงสินค้า", "Trade fair sales"),
    "training": ("การอบรม", "Training reach"),
    "sessions": ("หลักสูตร/รอบ", "Sessions"),
    "seats": ("ที่นั่ง", "Seats"),
    "enrolled": ("ลงทะเบียน", "Enrolled"),
    "attended": ("เข้าร่วม", "Attended"),
    "completed": ("ผ่านการอบรม", "Completed"),
    "completion": ("อัตราผ่านการอบรม", "Completion"),
    "problems": ("ปัญหาที่สมาชิกแจ้ง", "Problems reported"),
    "reported": ("แจ้ง", "Reported"),
    "open": ("ยังไม่แก้ไข", "Open"),
    "escalated": ("ส่งต่อ", "Escalated"),
    "resolved": ("แก้ไขแล้ว", "Resolved"),
    "median_days": ("วันที่ใช้แก้ไข (มัธยฐาน)", "Median days to resolve"),
    "province": ("จังหวัด", "Province"),
    "total": ("ทั้งหมด", "Total"),
    "members_reporting": ("สมาชิกที่รายงาน", "Members reporting"),
    "grew": ("รายได้เพิ่มขึ้น", "Grew"),
    "nationwide": ("รวมทั้งประเทศ", "Nationwide"),
    "member_list": ("รายชื่อสมาชิก", "Member list"),
    "search": ("ค้นหาชื่อ", "Search name"),
    "all_clusters": ("ทุกคลัสเตอร์", "All clusters"),
    "cluster": ("คลัสเตอร์", "Cluster"),
    "business": ("กิจการ", "Business"),
    "type": ("ประเภท", "Type"),
    "status": ("สถานะ", "Status"),
    "baseline_short": ("รายได้ฐาน/เดือน", "Baseline/month"),
    "next_page": ("หน้าถัดไป", "Next page"),
    "no_members": ("ไม่พบสมาชิก", "No members found"),
    "history": ("ประวัติสมาชิก", "Member history"),
    "contact": ("ผู้ติดต่อ", "Contact"),
    "products": ("สินค้า", "Products"),
    "months": ("รายได้รายเดือน", "Monthly revenue"),
    "events": ("เหตุการณ์", "Events"),
    "when": ("เมื่อ", "When"),
    "what": ("เหตุการณ์", "What"),
    "value": ("มูลค่า", "Value"),
    "forbidden": (
        "ท่านไม่มีสิทธิ์ดูข้อมูลนี้ (อยู่นอกจังหวัดที่ได้รับมอบหมาย)",
        "You may not see this (outside the provinces granted to you)",
    ),
    "not_found": ("ไม่พบข้อมูล", "Not found"),
    "unavailable": ("บริการไม่ตอบสนอง ลองใหม่อีกครั้ง", "The service did not answer; try again"),
    "live": ("อัปเดตอัตโนมัติ", "Live"),
    "updated": ("ปรับปรุงล่าสุด", "Updated"),
    "period": ("ช่วงเดือน (พ.ศ.)", "Months (Buddhist era)"),
    "show": ("แสดง", "Show"),
    "thb": ("บาท", "THB"),
    "trainings_completed": ("อบรมสำเร็จ", "Trainings completed"),
    "meetings_held": ("เจรจาธุรกิจ", "Meetings held"),
    "registered": ("สมัครเมื่อ", "Registered"),
}

MONTHS_TH = (
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
)
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

STATUS: dict[int, tuple[str, str]] = {
    membership_pb2.MEMBER_STATUS_APPLIED: ("สมัครแล้ว", "Applied"),
    membership_pb2.MEMBER_STATUS_ACTIVE: ("ดำเนินกิจการ", "Active"),
    membership_pb2.MEMBER_STATUS_SUSPENDED: ("ระงับ", "Suspended"),
    membership_pb2.MEMBER_STATUS_LEFT: ("ลาออก", "Left"),
}
ENTERPRISE: dict[int, tuple[str, str]] = {
    membership_pb2.ENTERPRISE_TYPE_SME: ("SME", "SME"),
    membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE: ("วิสาหกิจชุมชน", "Community enterprise"),
    membership_pb2.ENTERPRISE_TYPE_OTOP: ("OTOP", "OTOP"),
    membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER: ("Young Smart Trader", "Young Smart Trader"),
}
CHANNEL: dict[int, tuple[str, str]] = {
    common_pb2.SALES_CHANNEL_LOCAL_MARKET: ("ตลาดท้องถิ่น", "Local market"),
    common_pb2.SALES_CHANNEL_DEPARTMENT_STORE: ("ห้างสรรพสินค้า", "Department store"),
    common_pb2.SALES_CHANNEL_MODERN_TRADE: ("โมเดิร์นเทรด", "Modern trade"),
    common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE: ("ออนไลน์", "Online"),
    common_pb2.SALES_CHANNEL_EXPORT: ("ส่งออก", "Export"),
    common_pb2.SALES_CHANNEL_TOURISM: ("ท่องเที่ยว", "Tourism"),
    common_pb2.SALES_CHANNEL_WHOLESALE: ("ค้าส่ง", "Wholesale"),
}


# A member's history, event by event, in words an officer uses.
EVENTS: dict[str, tuple[str, str]] = {
    "MemberRegistered": ("สมัครเป็นสมาชิก", "Applied to join"),
    "MemberApproved": ("คณะกรรมการอนุมัติ", "Approved by the committee"),
    "MemberClusterChanged": ("ย้ายคลัสเตอร์", "Changed cluster"),
    "MemberSuspended": ("ระงับสมาชิกภาพ", "Suspended"),
    "MemberReinstated": ("คืนสมาชิกภาพ", "Reinstated"),
    "MemberLeft": ("ลาออก", "Left the network"),
    "MemberPersonalDataErased": ("ลบข้อมูลส่วนบุคคล", "Personal data erased"),
    "MentorshipStarted": ("เริ่มพี่สอนน้อง", "Mentorship started"),
    "MentorshipEnded": ("จบพี่สอนน้อง", "Mentorship ended"),
    "CommitteeMemberAppointed": ("แต่งตั้งเป็นกรรมการ", "Appointed to the committee"),
    "EnrollmentConfirmed": ("ลงทะเบียนอบรม", "Enrolled in training"),
    "EnrollmentWaitlisted": ("รอคิวอบรม", "Waitlisted for training"),
    "EnrollmentCancelled": ("ยกเลิกการอบรม", "Training cancelled"),
    "WaitlistPromoted": ("ได้ที่นั่งอบรม", "Got a training seat"),
    "AttendanceRecorded": ("เข้าร่วมอบรม", "Attended training"),
    "TrainingCompleted": ("ผ่านการอบรม", "Completed training"),
    "ProductProjectStarted": ("เริ่มพัฒนาผลิตภัณฑ์", "Product project started"),
    "ProductProjectCompleted": ("พัฒนาผลิตภัณฑ์สำเร็จ", "Product project completed"),
    "OfferPublished": ("เสนอขายสินค้า", "Published an offer"),
    "MatchSuggested": ("ได้รับการแนะนำคู่ค้า", "Suggested to a buyer"),
    "MeetingRequested": ("ขอนัดเจรจา", "Meeting requested"),
    "MeetingScheduled": ("นัดเจรจาแล้ว", "Meeting scheduled"),
    "MeetingHeld": ("เจรจาธุรกิจ", "Meeting held"),
    "MeetingMissed": ("ไม่ได้เข้าเจรจา", "Meeting missed"),
    "MeetingCancelled": ("ยกเลิกนัดเจรจา", "Meeting cancelled"),
    "DealSigned": ("ตกลงซื้อขาย", "Deal signed"),
    "FairSalesRecorded": ("ยอดขายในงานแสดงสินค้า", "Trade fair sales"),
    "IssueReported": ("แจ้งปัญหา", "Reported a problem"),
    "IssueAcknowledged": ("รับเรื่องแล้ว", "Problem acknowledged"),
    "IssueEscalated": ("ส่งต่อปัญหา", "Problem escalated"),
    "IssueResolved": ("แก้ไขปัญหาแล้ว", "Problem resolved"),
    "SurveyAnswered": ("ตอบแบบสำรวจ", "Answered a survey"),
    "MonthlyReportSubmitted": ("รายงานรายได้ประจำเดือน", "Monthly report"),
    "MonthlyReportRevised": ("แก้ไขรายงานประจำเดือน", "Monthly report revised"),
}

BANGKOK = timezone(timedelta(hours=7))  # Thailand keeps no daylight saving


class Words:
    """What a template calls: `t("revenue_trend")`, `t.money(satang)`, `t.month(y, m)`."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "th"
        self._i = LANGUAGES.index(self.lang)

    def __call__(self, key: str) -> str:
        return TEXT[key][self._i]

    def pick(self, pair: tuple[str, str] | None, fallback: str = "") -> str:
        return pair[self._i] if pair else fallback

    def pair(self, th: str, en: str) -> str:
        """A name the data holds in both languages (en may be empty)."""
        return en if self.lang == "en" and en else th

    def number(self, value: float) -> str:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

    def money(self, satang: int) -> str:
        return (
            f"{satang / 100:,.0f} {self('thb')}"
            if self.lang == "en"
            else f"{satang / 100:,.0f} บาท"
        )

    def month(self, year: int, month: int) -> str:
        """Thai: the Buddhist-era year (ม.ค. 2569); English: the Common Era (Jan 2026)."""
        if not 1 <= month <= 12:
            return f"{year}"
        if self.lang == "th":
            return f"{MONTHS_TH[month - 1]} {year + 543 if year < 2400 else year}"
        return f"{MONTHS_EN[month - 1]} {year - 543 if year >= 2400 else year}"

    def moment(self, seconds: int) -> str:
        """A time in Bangkok: `25 พ.ย. 2569 14:05` or `25 Nov 2026 14:05`."""
        at = datetime.fromtimestamp(seconds, BANGKOK)
        return f"{at.day} {self.month(at.year, at.month)} {at:%H:%M}"

    def event(self, event_type: str) -> str:
        name = event_type.rsplit(".", 1)[-1]
        return self.pick(EVENTS.get(name), name)

    def status(self, value: int) -> str:
        return self.pick(STATUS.get(value), str(value))

    def enterprise(self, value: int) -> str:
        return self.pick(ENTERPRISE.get(value), str(value))

    def channel(self, value: int) -> str:
        return self.pick(CHANNEL.get(value), str(value))
