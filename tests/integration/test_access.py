"""Who may call what: every role against every RPC of every service, in and out of scope.

The three services run for real (gRPC, SQLite files, the broker) on the seeded Udon
Thani (TH-41) demo. Each row of the table below names an RPC, a request that touches
TH-41 data, and the kind of call it is; the expected outcome for each role is stated
here from the access rules (not read from the services' policy tables):

- a province officer reads and writes only their provinces (TH-41 yes, TH-40 no);
- a cluster lead reads their cluster (the member's cluster's lead: yes; another's: no);
- a member reads and edits only their own record and answers;
- central reads everything and writes policy (the networks' shape, the audit trail);
- services read; nobody without a valid token gets anything.

"Allowed" means the call passed access control: OK or a domain answer such as
NOT_FOUND or FAILED_PRECONDITION (the test writes in scope too, so some writes meet
states they cannot apply to). "Denied" means PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.audit.v1 import audit_service_pb2
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import feedback_pb2 as fp
from bizclub.feedback.v1 import feedback_service_pb2 as fs
from bizclub.matching.v1 import matching_pb2 as mp
from bizclub.matching.v1 import matching_service_pb2 as mts
from bizclub.membership.v1 import membership_pb2
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub.training.v1 import training_pb2 as tp
from bizclub.training.v1 import training_service_pb2 as ts
from bizclub_shared.auth import Caller, Role, SigningKeys
from feedback import store as feedback_store
from google.protobuf.message import Message
from matching import store as matching_store
from membership import store as membership_store
from sqlalchemy import select
from sqlmodel import col
from training import store as training_store

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import running_feedback
from tests.integration.matching_support import running_matching
from tests.integration.training_support import training_factory
from tests.support import CENTRAL, TEST_KEYS, officer_of, registration, token_for

pytestmark = pytest.mark.slow  # seeds three services: about a minute

UDON, KHON_KAEN = "TH-41", "TH-40"
ALLOWED, DENIED = "allowed", "denied"


@dataclass(frozen=True)
class Ids:
    member: str  # an active TH-41 member with a product project
    cluster: str  # theirs
    other_cluster: str  # another TH-41 cluster
    other_member: str  # a TH-40 member
    mentorship: str
    session: str
    project: str
    buyer: str
    need: str
    event: str
    meeting: str
    survey: str
    issue: str
    announcement: str
    network_meeting: str
    action_item: str


@dataclass(frozen=True)
class Row:
    service: str  # "membership" | "training" | "matching"
    method: str  # full method name
    request: Message
    response: type[Message]
    kind: str  # a key of EXPECTED


def roles(ids: Ids) -> dict[str, Caller]:
    return {
        "central": CENTRAL,
        "officer TH-41": officer_of(UDON),
        "officer TH-40": officer_of(KHON_KAEN),
        "lead of the member's cluster": Caller(
            "test:lead-in", Role.CLUSTER_LEAD, frozenset({UDON}), cluster=ids.cluster
        ),
        "lead of another cluster": Caller(
            "test:lead-out", Role.CLUSTER_LEAD, frozenset({UDON}), cluster=ids.other_cluster
        ),
        "the member": Caller("test:member", Role.MEMBER, frozenset({UDON}), member_id=ids.member),
        "another member": Caller(
            "test:other", Role.MEMBER, frozenset({KHON_KAEN}), member_id=ids.other_member
        ),
        "service": Caller("service:test", Role.SERVICE),
    }


A, D = ALLOWED, DENIED
# kind -> (central, officer 41, officer 40, lead in, lead out, member, other member, service)
EXPECTED: dict[str, tuple[str, ...]] = {
    # The networks' shape: policy, written by central or the province's office.
    "network write": (A, A, D, D, D, D, D, D),
    # Everyone may read: no personal data (networks, sessions, buyers, needs, events).
    "public read": (A, A, A, A, A, A, A, A),
    # An officer's work on their province's data.
    "officer write": (D, A, D, D, D, D, D, D),
    # Also the member's own act (enrol, publish an offer, ask for a meeting, erasure).
    "member's own write": (D, A, D, D, D, A, D, D),
    # One member's data: theirs, their province's officer and cluster's lead, central, services.
    "member read": (A, A, D, A, D, A, D, A),
    # The member's certificate: theirs, their officer's, central's.
    "certificate": (A, A, D, D, D, A, D, D),
    # One province's running business (rosters, schedules, suggestions for its event).
    "province read": (A, A, D, A, A, D, D, A),
    # Lists: open to the reading roles, narrowed to what each may see (not refused).
    "list": (A, A, A, A, A, D, D, A),
    # Suggestions: for a member (theirs), a need or an event of the province.
    "member suggestions": (A, A, D, A, D, A, D, A),
    "audit": (A, D, D, D, D, D, D, D),
    # Lists that name a province: its officers, leads, central, services (members: theirs only).
    "province list": (A, A, D, A, A, D, D, A),
    # A province's announcements and problem reports' handling: its office, or the centre.
    "office or centre write": (A, A, D, D, D, D, D, D),
    # Reporting a problem: a member for themself, an officer or lead of the province.
    "report a problem": (D, A, D, A, A, A, D, D),
    # Only the member themself (a read receipt).
    "member only": (D, D, D, D, D, A, D, D),
}


def table(ids: Ids) -> list[Row]:
    mem, trn, mat = (
        "/bizclub.membership.v1.MembershipService/",
        "/bizclub.training.v1.TrainingService/",
        "/bizclub.matching.v1.MatchingService/",
    )
    page = common_pb2.PageRequest(page_size=5)
    # fmt: off
    member_rows = [
        ("CreateNetwork", ms.CreateNetworkRequest(province_code=UDON, name_th="เครือข่าย"), ms.CreateNetworkResponse, "network write"),
        ("AddCluster", ms.AddClusterRequest(province_code=UDON, cluster=membership_pb2.Cluster(cluster_code="crafts", name_th="หัตถกรรม")), ms.AddClusterResponse, "network write"),
        ("GetNetwork", ms.GetNetworkRequest(province_code=UDON), ms.GetNetworkResponse, "public read"),
        ("RegisterMember", registration(province_code=UDON), ms.RegisterMemberResponse, "officer write"),
        ("ApproveMember", ms.ApproveMemberRequest(member_id=ids.member, resolution="มติ"), ms.ApproveMemberResponse, "officer write"),
        ("GetMember", ms.GetMemberRequest(member_id=ids.member), ms.GetMemberResponse, "member read"),
        ("BatchGetMembers", ms.BatchGetMembersRequest(member_ids=[ids.member]), ms.BatchGetMembersResponse, "list"),
        ("ListMembers", ms.ListMembersRequest(province_code=UDON, page=page), ms.ListMembersResponse, "list"),
        ("ChangeMemberCluster", ms.ChangeMemberClusterRequest(member_id=ids.member, cluster_code=ids.cluster), ms.ChangeMemberClusterResponse, "officer write"),
        ("SuspendMember", ms.SuspendMemberRequest(member_id=ids.member, reason="ทดสอบ"), ms.SuspendMemberResponse, "officer write"),
        ("ReinstateMember", ms.ReinstateMemberRequest(member_id=ids.member, reason="ทดสอบ"), ms.ReinstateMemberResponse, "officer write"),
        ("LeaveNetwork", ms.LeaveNetworkRequest(member_id=ids.member, reason=""), ms.LeaveNetworkResponse, "officer write"),
        ("AppointCommitteeMember", ms.AppointCommitteeMemberRequest(member_id=ids.member), ms.AppointCommitteeMemberResponse, "officer write"),
        ("StartMentorship", ms.StartMentorshipRequest(mentor_member_id=ids.member, mentee_member_id=ids.member), ms.StartMentorshipResponse, "officer write"),
        ("EndMentorship", ms.EndMentorshipRequest(mentorship_id=ids.mentorship), ms.EndMentorshipResponse, "officer write"),
        ("ListMentorships", ms.ListMentorshipsRequest(province_code=UDON), ms.ListMentorshipsResponse, "list"),
        ("EraseMemberPersonalData", ms.EraseMemberPersonalDataRequest(member_id=ids.member), ms.EraseMemberPersonalDataResponse, "member's own write"),
    ]
    training_rows = [
        ("ScheduleSession", ts.ScheduleSessionRequest(province_code=UDON), ts.ScheduleSessionResponse, "officer write"),
        ("CancelSession", ts.CancelSessionRequest(session_id=ids.session, reason=""), ts.CancelSessionResponse, "officer write"),
        ("GetSession", ts.GetSessionRequest(session_id=ids.session), ts.GetSessionResponse, "public read"),
        ("ListSessions", ts.ListSessionsRequest(province_code=UDON, page=page), ts.ListSessionsResponse, "public read"),
        ("EnrollMember", ts.EnrollMemberRequest(session_id=ids.session, member_id=ids.member), ts.EnrollMemberResponse, "member's own write"),
        ("CancelEnrollment", ts.CancelEnrollmentRequest(session_id=ids.session, member_id=ids.member), ts.CancelEnrollmentResponse, "member's own write"),
        ("RecordAttendance", ts.RecordAttendanceRequest(session_id=ids.session, member_id=ids.member, hours=1), ts.RecordAttendanceResponse, "officer write"),
        ("CompleteEnrollment", ts.CompleteEnrollmentRequest(session_id=ids.session, member_id=ids.member), ts.CompleteEnrollmentResponse, "officer write"),
        ("GetRoster", ts.GetRosterRequest(session_id=ids.session), ts.GetRosterResponse, "province read"),
        ("ListMemberEnrollments", ts.ListMemberEnrollmentsRequest(member_id=ids.member), ts.ListMemberEnrollmentsResponse, "member read"),
        ("GetCompletionCertificate", ts.GetCompletionCertificateRequest(session_id=ids.session, member_id=ids.member), ts.GetCompletionCertificateResponse, "certificate"),
        ("StartProductProject", ts.StartProductProjectRequest(member_id=ids.member), ts.StartProductProjectResponse, "officer write"),
        ("AdvanceProductProject", ts.AdvanceProductProjectRequest(project_id=ids.project, stage=tp.PROJECT_STAGE_PROTOTYPE), ts.AdvanceProductProjectResponse, "officer write"),
        ("CompleteProductProject", ts.CompleteProductProjectRequest(project_id=ids.project), ts.CompleteProductProjectResponse, "officer write"),
        ("GetProductProject", ts.GetProductProjectRequest(project_id=ids.project), ts.GetProductProjectResponse, "member read"),
        ("ListProductProjects", ts.ListProductProjectsRequest(province_code=UDON, page=page), ts.ListProductProjectsResponse, "list"),
    ]
    matching_rows = [
        ("RegisterBuyer", mts.RegisterBuyerRequest(province_code=UDON, name_th="ผู้ซื้อ"), mts.RegisterBuyerResponse, "officer write"),
        ("GetBuyer", mts.GetBuyerRequest(buyer_id=ids.buyer), mts.GetBuyerResponse, "public read"),
        ("ListBuyers", mts.ListBuyersRequest(province_code=UDON), mts.ListBuyersResponse, "public read"),
        ("PublishNeed", mts.PublishNeedRequest(buyer_id=ids.buyer), mts.PublishNeedResponse, "officer write"),
        ("GetNeed", mts.GetNeedRequest(need_id=ids.need), mts.GetNeedResponse, "public read"),
        ("CloseNeed", mts.CloseNeedRequest(need_id=ids.need), mts.CloseNeedResponse, "officer write"),
        ("ListNeeds", mts.ListNeedsRequest(), mts.ListNeedsResponse, "public read"),
        ("PublishOffer", mts.PublishOfferRequest(member_id=ids.member, title="ผ้าไหม"), mts.PublishOfferResponse, "member's own write"),
        ("ListOffers", mts.ListOffersRequest(province_code=UDON), mts.ListOffersResponse, "list"),
        ("SuggestMatches", mts.SuggestMatchesRequest(member_id=ids.member), mts.SuggestMatchesResponse, "member suggestions"),
        ("CreateMatchingEvent", mts.CreateMatchingEventRequest(province_code=UDON), mts.CreateMatchingEventResponse, "officer write"),
        ("GetMatchingEvent", mts.GetMatchingEventRequest(matching_event_id=ids.event), mts.GetMatchingEventResponse, "public read"),
        ("RegisterParticipant", mts.RegisterParticipantRequest(matching_event_id=ids.event, side=mp.SIDE_MEMBER, party_id=ids.member), mts.RegisterParticipantResponse, "officer write"),
        ("WithdrawParticipant", mts.WithdrawParticipantRequest(matching_event_id=ids.event, side=mp.SIDE_MEMBER, party_id=ids.other_member), mts.WithdrawParticipantResponse, "officer write"),
        ("AssignBooth", mts.AssignBoothRequest(matching_event_id=ids.event, member_id=ids.member), mts.AssignBoothResponse, "officer write"),
        ("RequestMeeting", mts.RequestMeetingRequest(matching_event_id=ids.event, buyer_id=ids.buyer, member_id=ids.member), mts.RequestMeetingResponse, "member's own write"),
        ("ScheduleMeetings", mts.ScheduleMeetingsRequest(matching_event_id=ids.event), mts.ScheduleMeetingsResponse, "officer write"),
        ("GetSchedule", mts.GetScheduleRequest(matching_event_id=ids.event), mts.GetScheduleResponse, "province read"),
        ("RecordMeetingOutcome", mts.RecordMeetingOutcomeRequest(meeting_id=ids.meeting), mts.RecordMeetingOutcomeResponse, "officer write"),
        ("SignDeal", mts.SignDealRequest(meeting_id=ids.meeting), mts.SignDealResponse, "officer write"),
        ("RecordFairSales", mts.RecordFairSalesRequest(matching_event_id=ids.event, member_id=ids.member), mts.RecordFairSalesResponse, "officer write"),
    ]
    month = fp.ReportMonth(year=2569, month=1)
    figures = fp.MonthlyFigures(revenue=common_pb2.Money(satang=9_000_000, currency_code="THB"))
    office = fp.ViewerScope(province_code=UDON)
    feedback_rows = [
        ("CreateSurvey", fs.CreateSurveyRequest(province_code=UDON, title_th="แบบสำรวจ"), fs.CreateSurveyResponse, "officer write"),
        ("GetSurvey", fs.GetSurveyRequest(survey_id=ids.survey), fs.GetSurveyResponse, "public read"),
        ("ListSurveys", fs.ListSurveysRequest(province_code=UDON), fs.ListSurveysResponse, "province list"),
        ("AnswerSurvey", fs.AnswerSurveyRequest(survey_id=ids.survey, member_id=ids.member), fs.AnswerSurveyResponse, "member's own write"),
        ("GetSurveyResults", fs.GetSurveyResultsRequest(survey_id=ids.survey), fs.GetSurveyResultsResponse, "province read"),
        ("ReportIssue", fs.ReportIssueRequest(province_code=UDON, member_id=ids.member, description_th="ปัญหา"), fs.ReportIssueResponse, "report a problem"),
        ("AcknowledgeIssue", fs.AcknowledgeIssueRequest(issue_id=ids.issue, viewer=office), fs.AcknowledgeIssueResponse, "office or centre write"),
        ("StartIssueWork", fs.StartIssueWorkRequest(issue_id=ids.issue, viewer=office), fs.StartIssueWorkResponse, "office or centre write"),
        ("EscalateIssue", fs.EscalateIssueRequest(issue_id=ids.issue, viewer=office), fs.EscalateIssueResponse, "office or centre write"),
        ("ResolveIssue", fs.ResolveIssueRequest(issue_id=ids.issue, viewer=office), fs.ResolveIssueResponse, "office or centre write"),
        ("GetIssue", fs.GetIssueRequest(issue_id=ids.issue, viewer=office), fs.GetIssueResponse, "province list"),
        ("ListIssues", fs.ListIssuesRequest(viewer=office), fs.ListIssuesResponse, "province list"),
        ("PublishAnnouncement", fs.PublishAnnouncementRequest(from_province_code=UDON, title_th="ข่าว"), fs.PublishAnnouncementResponse, "office or centre write"),
        ("MarkAnnouncementRead", fs.MarkAnnouncementReadRequest(announcement_id=ids.announcement, member_id=ids.member), fs.MarkAnnouncementReadResponse, "member only"),
        ("GetAnnouncement", fs.GetAnnouncementRequest(announcement_id=ids.announcement), fs.GetAnnouncementResponse, "public read"),
        ("ListAnnouncements", fs.ListAnnouncementsRequest(province_code=UDON), fs.ListAnnouncementsResponse, "province list"),
        ("ScheduleMeeting", fs.ScheduleMeetingRequest(province_code=UDON, title_th="ประชุม"), fs.ScheduleMeetingResponse, "officer write"),
        ("RecordMeetingHeld", fs.RecordMeetingHeldRequest(meeting_id=ids.network_meeting), fs.RecordMeetingHeldResponse, "officer write"),
        ("UpdateActionItem", fs.UpdateActionItemRequest(action_item_id=ids.action_item), fs.UpdateActionItemResponse, "officer write"),
        ("GetMeeting", fs.GetMeetingRequest(meeting_id=ids.network_meeting), fs.GetMeetingResponse, "province read"),
        ("ListMeetings", fs.ListMeetingsRequest(province_code=UDON), fs.ListMeetingsResponse, "province list"),
        ("SubmitMonthlyReport", fs.SubmitMonthlyReportRequest(member_id=ids.member, month=month, figures=figures), fs.SubmitMonthlyReportResponse, "member's own write"),
        ("ReviseMonthlyReport", fs.ReviseMonthlyReportRequest(member_id=ids.member, month=month, figures=figures), fs.ReviseMonthlyReportResponse, "member's own write"),
        ("GetMonthlyReport", fs.GetMonthlyReportRequest(member_id=ids.member, month=month), fs.GetMonthlyReportResponse, "member read"),
        ("ListMonthlyReports", fs.ListMonthlyReportsRequest(province_code=UDON), fs.ListMonthlyReportsResponse, "province list"),
    ]
    # fmt: on
    audit = audit_service_pb2
    rows = [Row("membership", mem + m, r, t, k) for m, r, t, k in member_rows]
    rows += [Row("training", trn + m, r, t, k) for m, r, t, k in training_rows]
    rows += [Row("matching", mat + m, r, t, k) for m, r, t, k in matching_rows]
    fbk = "/bizclub.feedback.v1.FeedbackService/"
    rows += [Row("feedback", fbk + m, r, t, k) for m, r, t, k in feedback_rows]
    rows += [
        Row(
            s,
            "/bizclub.audit.v1.AuditService/ListAuditRecords",
            audit.ListAuditRecordsRequest(),
            audit.ListAuditRecordsResponse,
            "audit",
        )
        for s in ("membership", "training", "matching", "feedback")
    ]
    return rows


async def call(channel: grpc.aio.Channel, row: Row, token: str | None) -> grpc.StatusCode:
    method = channel.unary_unary(
        row.method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=row.response.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
    try:
        await method(row.request, metadata=metadata, timeout=15)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def outcome(code: grpc.StatusCode) -> str:
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return DENIED
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        return code.name  # never expected from a valid token
    return ALLOWED


@dataclass
class Platform:
    channels: dict[str, grpc.aio.Channel]
    ids: Ids


@pytest.fixture
async def platform(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[Platform]:
    seed = {"seed_demo_data": True, "seed_wait_seconds": 60.0}
    membership = await start_membership(**seed)
    await membership.stub.CreateNetwork(
        ms.CreateNetworkRequest(
            province_code=KHON_KAEN,
            name_th="เครือข่ายขอนแก่น",
            clusters=[membership_pb2.Cluster(cluster_code="textiles", name_th="ผ้า")],
        )
    )
    other = (await membership.stub.RegisterMember(registration(province_code=KHON_KAEN))).member
    async with training_factory(tmp_path, broker) as make_training:
        training = await make_training(membership.address, **seed)
        async with (
            running_matching(tmp_path, broker, **seed) as matching,
            running_feedback(tmp_path, broker, **seed) as feedback,
        ):
            ids = await discover(membership, training, matching, feedback, other.member_id)
            addresses = {
                "membership": membership.address,
                "training": training.address,
                "matching": f"127.0.0.1:{matching.app.runtime.server.port}",  # type: ignore[union-attr]
                "feedback": f"127.0.0.1:{feedback.app.runtime.server.port}",  # type: ignore[union-attr]
            }
            channels = {name: grpc.aio.insecure_channel(a) for name, a in addresses.items()}
            try:
                yield Platform(channels, ids)
            finally:
                for channel in channels.values():
                    await channel.close()


async def discover(
    membership: Any, training: Any, matching: Any, feedback: Any, other_member: str
) -> Ids:
    """Ids of seeded TH-41 data, read straight from each service's database."""

    async def first(db: Any, query: Any) -> str:
        return str(await db.read(lambda session: session.execute(query.limit(1)).scalar_one()))

    m, t, x = membership_store, training_store, matching_store
    # The owner of a seeded product project, so their own project is in the table.
    member = await first(training.app.runtime.db, select(col(t.ProjectRow.member_id)))
    cluster = await first(
        membership.app.runtime.db,
        select(col(m.MemberRow.cluster_code)).where(col(m.MemberRow.member_id) == member),
    )
    other_cluster = await first(
        membership.app.runtime.db,
        select(col(m.ClusterRow.cluster_code)).where(
            col(m.ClusterRow.province_code) == UDON, col(m.ClusterRow.cluster_code) != cluster
        ),
    )
    mentorship = await first(membership.app.runtime.db, select(col(m.MentorshipRow.mentorship_id)))
    session = await first(training.app.runtime.db, select(col(t.SessionRow.session_id)))
    project = await first(
        training.app.runtime.db,
        select(col(t.ProjectRow.project_id)).where(col(t.ProjectRow.member_id) == member),
    )
    db = matching.app.runtime.db
    buyer = await first(
        db, select(col(x.BuyerRow.buyer_id)).where(col(x.BuyerRow.province_code) == UDON)
    )
    need = await first(
        db, select(col(x.NeedRow.need_id)).where(col(x.NeedRow.province_code) == UDON)
    )
    event = await first(db, select(col(x.MatchingEventRow.matching_event_id)))
    meeting = await first(db, select(col(x.MeetingRow.meeting_id)))
    f, fdb = feedback_store, feedback.app.runtime.db
    udon = UDON
    survey = await first(
        fdb, select(col(f.SurveyRow.survey_id)).where(col(f.SurveyRow.province_code) == udon)
    )
    issue = await first(
        fdb, select(col(f.IssueRow.issue_id)).where(col(f.IssueRow.province_code) == udon)
    )
    announcement = await first(fdb, select(col(f.AnnouncementRow.announcement_id)))
    network_meeting = await first(
        fdb, select(col(f.MeetingRow.meeting_id)).where(col(f.MeetingRow.province_code) == udon)
    )
    action_item = await first(
        fdb,
        select(col(f.ActionItemRow.action_item_id)).where(
            col(f.ActionItemRow.province_code) == udon
        ),
    )
    return Ids(
        member,
        cluster,
        other_cluster,
        other_member,
        mentorship,
        session,
        project,
        buyer,
        need,
        event,
        meeting,
        survey,
        issue,
        announcement,
        network_meeting,
        action_item,
    )


async def test_every_role_against_every_rpc_in_and_out_of_scope(platform: Platform) -> None:
    callers = roles(platform.ids)
    rows = table(platform.ids)
    mismatches: list[str] = []
    for row in rows:
        expected = dict(zip(callers, EXPECTED[row.kind], strict=True))
        channel = platform.channels[row.service]
        for name, caller in callers.items():
            got = outcome(await call(channel, row, token_for(caller)))
            if got != expected[name]:
                mismatches.append(f"{row.method} as {name}: {got}, expected {expected[name]}")
    assert not mismatches, "\n".join(mismatches)


async def test_no_token_or_a_bad_one_is_unauthenticated_everywhere(platform: Platform) -> None:
    forged = SigningKeys({"test-2026": "another-secret-of-enough-length-0123456789"})
    expired = TEST_KEYS.issue(CENTRAL, ttl_seconds=-3600)
    tokens = {
        "no token": None,
        "garbage": "not-a-jwt",
        "wrong key": forged.issue(CENTRAL),
        "expired": expired,
    }
    wrong = []
    for row in table(platform.ids):
        for name, token in tokens.items():
            code = await call(platform.channels[row.service], row, token)
            if code != grpc.StatusCode.UNAUTHENTICATED:
                wrong.append(f"{row.method} with {name}: {code.name}")
    assert not wrong, "\n".join(wrong)


async def test_khon_kaen_sees_nothing_of_udon_thani_in_lists_and_searches(
    platform: Platform,
) -> None:
    khon_kaen = token_for(officer_of(KHON_KAEN))
    udon = token_for(officer_of(UDON))
    queries = [
        Row(
            "membership",
            "/bizclub.membership.v1.MembershipService/ListMembers",
            ms.ListMembersRequest(province_code=UDON),
            ms.ListMembersResponse,
            "list",
        ),
        Row(
            "membership",
            "/bizclub.membership.v1.MembershipService/ListMembers",
            ms.ListMembersRequest(query="ผ้า"),
            ms.ListMembersResponse,
            "list",
        ),
        Row(
            "membership",
            "/bizclub.membership.v1.MembershipService/BatchGetMembers",
            ms.BatchGetMembersRequest(member_ids=[platform.ids.member]),
            ms.BatchGetMembersResponse,
            "list",
        ),
        Row(
            "membership",
            "/bizclub.membership.v1.MembershipService/ListMentorships",
            ms.ListMentorshipsRequest(),
            ms.ListMentorshipsResponse,
            "list",
        ),
        Row(
            "training",
            "/bizclub.training.v1.TrainingService/ListProductProjects",
            ts.ListProductProjectsRequest(),
            ts.ListProductProjectsResponse,
            "list",
        ),
        Row(
            "matching",
            "/bizclub.matching.v1.MatchingService/ListOffers",
            mts.ListOffersRequest(),
            mts.ListOffersResponse,
            "list",
        ),
    ]

    async def results(row: Row, token: str) -> list[Any]:
        method = platform.channels[row.service].unary_unary(
            row.method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=row.response.FromString,
        )
        reply = await method(row.request, metadata=(("authorization", f"Bearer {token}"),))
        field = row.response.DESCRIPTOR.fields[0].name  # members / mentorships / projects / offers
        return list(getattr(reply, field))

    for row in queries:
        seen_by_udon = await results(row, udon)
        assert seen_by_udon, f"{row.method} {row.request}: Udon Thani's officer sees nothing"
        seen = await results(row, khon_kaen)
        assert all(item.province_code != UDON for item in seen), row.method
