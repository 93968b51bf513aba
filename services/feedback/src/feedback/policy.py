"""Who may call what on feedback: the service's one policy table.

Province officers run their province's surveys, meetings and problem reports; a member
answers their own surveys, reports their own problems and figures, and reads their
own announcements; the central ministry publishes national announcements and works
the escalated problem reports of every province; cluster leads and services read.

Problem reports are seen through a `ViewerScope` the request names: a province's view
is allowed to that province's officers (and to nationwide roles), the central view
only to nationwide roles. `domain.Scope` then decides, in the handler, which reports
that view holds (the central queue: escalated ones only).
"""

from __future__ import annotations

from typing import Any

from bizclub.feedback.v1 import feedback_service_pb2
from bizclub_shared.auth import (
    CENTRAL,
    EVERYONE,
    LEAD,
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
from sqlmodel import col

from feedback import store

SERVICE_NAME = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name


def access_policy(db: Database) -> AccessPolicy:
    m, s, mt, a = store.MemberRow, store.SurveyRow, store.MeetingRow, store.ActionItemRow
    member_target = TargetLookup(
        db,
        col(m.member_id),
        province=col(m.province_code),
        cluster=col(m.cluster_code),
        member=col(m.member_id),
    )
    survey_target = TargetLookup(db, col(s.survey_id), province=col(s.province_code))
    meeting_target = TargetLookup(db, col(mt.meeting_id), province=col(mt.province_code))
    action_item_target = TargetLookup(db, col(a.action_item_id), province=col(a.province_code))

    async def member(request: Any) -> Target | None:
        # A member feedback has not heard of touches nothing here: the handler says so
        # ("not a member of any Biz Club network"), whoever asks.
        return await member_target(request.member_id)

    async def province_or_member(request: Any) -> Target | None:
        if request.member_id.strip():
            return await member(request)
        return Target(request.province_code.strip())

    async def reporter(request: Any) -> Target:
        # An officer reports for their province; a member for themself.
        return Target(request.province_code.strip(), member_id=request.member_id.strip())

    async def viewer(request: Any) -> Target | None:
        # The central view is nationwide roles' only: Target("") is outside every province.
        # A viewer that is neither (or both) is the handler's to refuse, naming the field.
        central, province = request.viewer.central, request.viewer.province_code.strip()
        if central == bool(province):
            return None
        return Target("" if central else province)

    async def announcer(request: Any) -> Target:
        return Target(request.from_province_code.strip())

    async def survey(request: Any) -> Target | None:
        return await survey_target(request.survey_id)

    async def meeting(request: Any) -> Target | None:
        return await meeting_target(request.meeting_id)

    async def action_item(request: Any) -> Target | None:
        return await action_item_target(request.action_item_id)

    table = {
        "CreateSurvey": rule(OFFICER, target=province_of_request),
        "GetSurvey": rule(*EVERYONE),  # the questions: no personal data
        "ListSurveys": rule(*EVERYONE, target=province_or_member),
        "AnswerSurvey": rule(MEMBER, OFFICER, target=member),
        "GetSurveyResults": rule(*READERS, target=survey),
        "ReportIssue": rule(MEMBER, OFFICER, LEAD, target=reporter),
        "AcknowledgeIssue": rule(CENTRAL, OFFICER, target=viewer),
        "StartIssueWork": rule(CENTRAL, OFFICER, target=viewer),
        "EscalateIssue": rule(CENTRAL, OFFICER, target=viewer),
        "ResolveIssue": rule(CENTRAL, OFFICER, target=viewer),
        "GetIssue": rule(*READERS, target=viewer),
        "ListIssues": rule(*READERS, target=viewer),
        "PublishAnnouncement": rule(CENTRAL, OFFICER, target=announcer),
        "MarkAnnouncementRead": rule(MEMBER, target=member),
        "GetAnnouncement": rule(*EVERYONE),  # policy and news, addressed widely
        "ListAnnouncements": rule(*EVERYONE, target=province_or_member),
        "ScheduleMeeting": rule(OFFICER, target=province_of_request),
        "RecordMeetingHeld": rule(OFFICER, target=meeting),
        "UpdateActionItem": rule(OFFICER, target=action_item),
        "GetMeeting": rule(*READERS, target=meeting),
        "ListMeetings": rule(*READERS, target=province_of_request),
        "SubmitMonthlyReport": rule(MEMBER, OFFICER, target=member),
        "ReviseMonthlyReport": rule(MEMBER, OFFICER, target=member),
        "GetMonthlyReport": rule(*EVERYONE, target=member),
        "ListMonthlyReports": rule(*READERS, MEMBER, target=province_or_member),
    }
    return {f"/{SERVICE_NAME}/{method}": access for method, access in table.items()}
