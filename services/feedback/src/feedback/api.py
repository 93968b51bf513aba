"""The FeedbackService gRPC servicer: proto in, domain call, proto out.

Writes run through the group-commit writer (rows and outbox events in one
transaction); reads use their own sessions. Who is a member, and in which province
and cluster, comes from feedback's own copy of membership's events, read inside the
write operation, so a check and the write it allows see the same state.

Access control is the shared access check's job (a per-service policy table over the
caller's token): every province-scoped request here names its province
(`province_code`, `from_province_code`) or a `ViewerScope`, or is keyed by a member
or record whose province the handler resolves. Which problem reports a viewer sees is
the domain's rule (`domain.Scope`), applied by every read and change of a report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import (
    events_pb2,
    feedback_pb2,
    feedback_service_pb2,
    feedback_service_pb2_grpc,
)
from bizclub_shared.db import Database, utcnow
from bizclub_shared.errors import AlreadyExists, FailedPrecondition, FieldViolations, NotFound
from bizclub_shared.ids import new_id
from bizclub_shared.paging import MAX_PAGE, page_size
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.topics import FEEDBACK
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from bizclub_shared.validation import check_province, clean_text, require_id
from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from feedback import domain, store

fs = feedback_service_pb2
fp = feedback_pb2
Clock = Callable[[], datetime]


def emit_all(uow: UnitOfWork, key: str, province: str, events: list[Message]) -> None:
    for event in events:
        uow.emit(FEEDBACK, key, event, province)


def check_page(v: FieldViolations, page: common_pb2.PageRequest) -> None:
    if page.page_size < 0:
        v.add("page.page_size", f"must be between 0 and {MAX_PAGE}")


# --- proto out ------------------------------------------------------------------------


def survey_to_proto(row: store.SurveyRow, counts: tuple[int, int]) -> fp.Survey:
    return fp.Survey(
        survey_id=row.survey_id,
        province_code=row.province_code,
        audience=row.audience,  # type: ignore[arg-type]
        cluster_code=row.cluster_code,
        session_id=row.session_id,
        title_th=row.title_th,
        description_th=row.description_th,
        questions=[q.to_proto() for q in store.questions_of(row)],
        opens_on=domain.date_proto(row.opens_on),
        closes_on=domain.date_proto(row.closes_on),
        recipient_count=counts[0],
        response_count=counts[1],
        published_at=to_timestamp(row.published_at),
    )


def read_survey(db: DbSession, row: store.SurveyRow) -> fp.Survey:
    return survey_to_proto(row, store.survey_counts(db, [row.survey_id])[row.survey_id])


def issue_to_proto(issue: domain.Issue, now: datetime) -> fp.Issue:
    proto = fp.Issue(
        issue_id=issue.issue_id,
        province_code=issue.province_code,
        member_id=issue.member_id,
        reported_by=issue.reported_by,
        category=issue.category,  # type: ignore[arg-type]
        severity=issue.severity,  # type: ignore[arg-type]
        description_th=issue.description_th,
        status=issue.status,  # type: ignore[arg-type]
        level=issue.level,  # type: ignore[arg-type]
        overdue=issue.overdue(now),
        reported_at=to_timestamp(issue.reported_at),
        resolution_th=issue.resolution_th,
        history=[
            fp.IssueStep(
                status=s.status,  # type: ignore[arg-type]
                actor_id=s.actor_id,
                note_th=s.note_th,
                at=to_timestamp(s.at),
            )
            for s in issue.history
        ],
    )
    if issue.acknowledged_at is not None:
        proto.acknowledged_at.CopyFrom(to_timestamp(issue.acknowledged_at))
    if issue.resolved_at is not None:
        proto.resolved_at.CopyFrom(to_timestamp(issue.resolved_at))
    return proto


def announcement_to_proto(
    row: store.AnnouncementRow, read_count: int, audience_count: int
) -> fp.Announcement:
    return fp.Announcement(
        announcement_id=row.announcement_id,
        from_province_code=row.from_province_code,
        province_codes=row.province_codes,
        cluster_codes=row.cluster_codes,
        title_th=row.title_th,
        body_th=row.body_th,
        published_at=to_timestamp(row.published_at),
        read_count=read_count,
        audience_count=audience_count,
    )


def read_announcement(db: DbSession, row: store.AnnouncementRow) -> fp.Announcement:
    return announcement_to_proto(
        row,
        store.read_counts(db, [row.announcement_id])[row.announcement_id],
        store.count_addressed(db, row.province_codes, row.cluster_codes),
    )


def item_to_proto(row: store.ActionItemRow, now: datetime) -> fp.ActionItem:
    proto = fp.ActionItem(
        action_item_id=row.action_item_id,
        meeting_id=row.meeting_id,
        description_th=row.description_th,
        owner_member_id=row.owner_member_id,
        owner_th=row.owner_th,
        due_on=domain.date_proto(row.due_on),
        status=row.status,  # type: ignore[arg-type]
        overdue=domain.item_overdue(row.status, row.due_on, domain.local_today(now)),
    )
    if row.closed_at is not None:
        proto.closed_at.CopyFrom(to_timestamp(row.closed_at))
    return proto


def meeting_to_proto(
    row: store.MeetingRow, items: list[store.ActionItemRow], now: datetime
) -> fp.Meeting:
    proto = fp.Meeting(
        meeting_id=row.meeting_id,
        province_code=row.province_code,
        kind=row.kind,  # type: ignore[arg-type]
        title_th=row.title_th,
        cluster_codes=row.cluster_codes,
        venue_th=row.venue_th,
        start_time=to_timestamp(row.start_at),
        agenda_th=row.agenda_th,
        attendee_member_ids=row.attendee_member_ids,
        status=row.status,  # type: ignore[arg-type]
        minutes_th=row.minutes_th,
        decisions_th=row.decisions_th,
        action_items=[item_to_proto(i, now) for i in items],
    )
    if row.held_at is not None:
        proto.held_at.CopyFrom(to_timestamp(row.held_at))
    return proto


def report_to_proto(
    row: store.MonthlyReportRow, revisions: list[store.MonthlyRevisionRow] | None = None
) -> fp.MonthlyReport:
    return fp.MonthlyReport(
        report_id=row.report_id,
        member_id=row.member_id,
        province_code=row.province_code,
        cluster_code=row.cluster_code,
        month=domain.month_proto(row.month),
        figures=store.figures_of(row).to_proto(),
        revision=row.revision,
        submitted_at=to_timestamp(row.submitted_at),
        updated_at=to_timestamp(row.updated_at),
        revisions=[revision_to_proto(r) for r in revisions or []],
    )


def revision_to_proto(row: store.MonthlyRevisionRow) -> fp.MonthlyReportRevision:
    return fp.MonthlyReportRevision(
        revision=row.revision,
        figures=store.figures_of(row).to_proto(),
        reason_th=row.reason_th,
        recorded_at=to_timestamp(row.recorded_at),
    )


# --- operations the API and the reactions share ---------------------------------------


def publish_survey(
    uow: UnitOfWork, plan: domain.SurveyPlan, recipients: list[str], now: datetime, *,
    from_training: bool = False,
) -> store.SurveyRow:  # fmt: skip
    row = store.SurveyRow(
        survey_id=new_id(),
        province_code=plan.province_code,
        audience=plan.audience,
        cluster_code=plan.cluster_code,
        session_id=plan.session_id,
        from_training=from_training,
        title_th=plan.title_th,
        description_th=plan.description_th,
        questions=[q.to_json() for q in plan.questions],
        opens_on=plan.opens_on,
        closes_on=plan.closes_on,
        published_at=now,
    )
    uow.session.add(row)
    uow.session.flush()  # the survey row before its recipients (foreign key)
    store.add_recipients(uow.session, row.survey_id, recipients)
    uow.emit(
        FEEDBACK,
        row.survey_id,
        events_pb2.SurveyPublished(
            survey_id=row.survey_id,
            province_code=row.province_code,
            audience=row.audience,  # type: ignore[arg-type]
            cluster_code=row.cluster_code,
            session_id=row.session_id,
            title_th=row.title_th,
            recipient_count=len(recipients),
            opens_on=domain.date_proto(row.opens_on),
            closes_on=domain.date_proto(row.closes_on),
            occurred_at=to_timestamp(now),
        ),
        row.province_code,
    )
    return row


def training_completed(
    uow: UnitOfWork, session_id: str, province_code: str, member_id: str, now: datetime
) -> None:
    """A participant completed a session: the session's satisfaction survey reaches them.

    The first completion publishes the survey (one per session, ever); later ones add
    their member to it. Training has no "session finished" event: completions are the
    signal, and a participant is a member who completed.
    """
    store.remember_completion(uow.session, session_id, member_id, now)
    member = store.member(uow.session, member_id)
    if member is not None and member.status == "left":
        return  # a member who left receives no surveys
    survey = store.training_survey(uow.session, session_id)
    if survey is None:
        session = uow.session.get(store.TrainingSessionRow, session_id)
        plan = domain.training_survey_plan(
            session_id, province_code, session.title_th if session else "", domain.local_today(now)
        )
        publish_survey(uow, plan, [member_id], now, from_training=True)
    else:
        store.add_recipients(uow.session, survey.survey_id, [member_id])


class FeedbackApi(feedback_service_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, db: Database, writer: Writer, clock: Clock = utcnow) -> None:
        self._db = db
        self._writer = writer
        # The service's idea of now; tests move it to see a report become overdue.
        self.clock = clock

    def today(self) -> Any:
        return domain.local_today(self.clock())

    # --- surveys ----------------------------------------------------------------------

    async def CreateSurvey(
        self, request: fs.CreateSurveyRequest, context: grpc.aio.ServicerContext
    ) -> fs.CreateSurveyResponse:
        plan = domain.validate_survey(request, self.today())

        def create(uow: UnitOfWork) -> fp.Survey:
            if plan.audience == domain.BY_SESSION:
                session = uow.session.get(store.TrainingSessionRow, plan.session_id)
                if session is None or session.province_code != plan.province_code:
                    raise FailedPrecondition(
                        f"no training session {plan.session_id!r} of {plan.province_code} is "
                        "known here (sessions are learned from training's events)",
                        field="session_id",
                    )
                recipients = store.completed_participants(uow.session, plan.session_id)
            else:
                recipients = store.active_members(
                    uow.session, plan.province_code, plan.cluster_code
                )
            if not recipients:
                raise FailedPrecondition(
                    "nobody to ask: no active member (or participant) matches the audience",
                    field="audience",
                )
            row = publish_survey(uow, plan, recipients, self.clock())
            return survey_to_proto(row, (len(recipients), 0))

        return fs.CreateSurveyResponse(survey=await self._writer.run(create, "CreateSurvey"))

    async def GetSurvey(
        self, request: fs.GetSurveyRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetSurveyResponse:
        survey_id = require_id(request.survey_id, "survey_id")
        return await self._db.read(
            lambda db: fs.GetSurveyResponse(survey=read_survey(db, store.survey_row(db, survey_id)))
        )

    async def ListSurveys(
        self, request: fs.ListSurveysRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListSurveysResponse:
        v = FieldViolations()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        member_id = request.member_id.strip()
        if not request.province_code and not member_id:
            v.add("province_code", "name a province, or a member_id")
        check_page(v, request.page)
        v.raise_if_any()

        def read(db: DbSession) -> fs.ListSurveysResponse:
            rows, next_token = store.list_surveys(
                db,
                province_code=request.province_code,
                member_id=member_id,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            ids = [r.survey_id for r in rows]
            counts = store.survey_counts(db, ids)
            return fs.ListSurveysResponse(
                surveys=[survey_to_proto(r, counts[r.survey_id]) for r in rows],
                answered_survey_ids=store.answered_by(db, member_id, ids) if member_id else [],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    async def AnswerSurvey(
        self, request: fs.AnswerSurveyRequest, context: grpc.aio.ServicerContext
    ) -> fs.AnswerSurveyResponse:
        survey_id = require_id(request.survey_id, "survey_id")
        member_id = require_id(request.member_id, "member_id")
        # Shape first (a rating of 7 is wrong whoever sends it), then who and when.
        survey = await self._db.read(lambda db: store.survey_row(db, survey_id))
        questions = store.questions_of(survey)
        answers = domain.validate_answers(questions, request.answers)

        def answer(uow: UnitOfWork) -> fs.AnswerSurveyResponse:
            now = self.clock()
            row = store.survey_row(uow.session, survey_id)
            member = domain.require_member(store.member(uow.session, member_id), member_id)
            if not store.is_recipient(uow.session, survey_id, member_id):
                raise FailedPrecondition(
                    f"the survey is not addressed to member {member_id}", field="member_id"
                )
            domain.require_open(row.opens_on, row.closes_on, domain.local_today(now))
            if store.answer_of(uow.session, survey_id, member_id) is not None:
                raise AlreadyExists(
                    f"member {member_id} has already answered this survey; one answer each",
                    field="member_id",
                )
            uow.session.add(
                store.SurveyAnswerRow(
                    survey_id=survey_id, member_id=member_id, answers=answers, answered_at=now
                )
            )
            uow.emit(
                FEEDBACK,
                survey_id,
                events_pb2.SurveyAnswered(
                    survey_id=survey_id,
                    province_code=row.province_code,
                    member_id=member.member_id,
                    average_rating=domain.average_rating(questions, answers),
                    occurred_at=to_timestamp(now),
                ),
                row.province_code,
            )
            return fs.AnswerSurveyResponse(
                survey_id=survey_id, member_id=member_id, answered_at=to_timestamp(now)
            )

        return await self._writer.run(answer, "AnswerSurvey")

    async def GetSurveyResults(
        self, request: fs.GetSurveyResultsRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetSurveyResultsResponse:
        survey_id = require_id(request.survey_id, "survey_id")

        def read(db: DbSession) -> fs.GetSurveyResultsResponse:
            row = store.survey_row(db, survey_id)
            survey = read_survey(db, row)
            rate = survey.response_count / survey.recipient_count if survey.recipient_count else 0
            return fs.GetSurveyResultsResponse(
                survey=survey,
                response_rate=rate,
                questions=domain.tally(store.questions_of(row), store.answers_to(db, survey_id)),
            )

        return await self._db.read(read)

    # --- problem reports --------------------------------------------------------------

    async def ReportIssue(
        self, request: fs.ReportIssueRequest, context: grpc.aio.ServicerContext
    ) -> fs.ReportIssueResponse:
        member_id, reported_by, category, severity, description = domain.validate_report(request)

        def report(uow: UnitOfWork) -> fp.Issue:
            now = self.clock()
            if member_id:
                member = domain.require_member(store.member(uow.session, member_id), member_id)
                if member.province_code != request.province_code:
                    raise FailedPrecondition(
                        f"member {member_id} belongs to the {member.province_code} network",
                        field="province_code",
                    )
            issue = domain.Issue.report(
                request.province_code, member_id, reported_by, category, severity, description, now
            )
            uow.session.add(store.new_issue_row(issue))
            emit_all(uow, issue.issue_id, issue.province_code, issue.events)
            return issue_to_proto(issue, now)

        return fs.ReportIssueResponse(issue=await self._writer.run(report, "ReportIssue"))

    async def _move_issue(
        self, issue_id: str, viewer: fp.ViewerScope, actor_id: str, note: str, to: int, name: str
    ) -> fp.Issue:
        issue_id = require_id(issue_id, "issue_id")
        scope = domain.Scope.from_proto(viewer)
        actor = require_id(actor_id, "actor_id")
        v = FieldViolations()
        field_name = "resolution_th" if to == domain.RESOLVED else "note_th"
        text = clean_text(
            v,
            field_name,
            note,
            required=to in (domain.RESOLVED, domain.ESCALATED),
            limit=domain.MAX_TEXT,
            multiline=True,
        )
        v.raise_if_any()

        def move(uow: UnitOfWork) -> fp.Issue:
            now = self.clock()
            row = store.issue_row(uow.session, issue_id)
            issue = store.to_issue(row)
            issue.move(to, scope, actor, text, now)
            store.apply_issue(issue, row)
            emit_all(uow, issue.issue_id, issue.province_code, issue.events)
            return issue_to_proto(issue, now)

        return await self._writer.run(move, name)

    async def AcknowledgeIssue(
        self, request: fs.AcknowledgeIssueRequest, context: grpc.aio.ServicerContext
    ) -> fs.AcknowledgeIssueResponse:
        issue = await self._move_issue(
            request.issue_id, request.viewer, request.actor_id, request.note_th,
            domain.ACKNOWLEDGED, "AcknowledgeIssue",
        )  # fmt: skip
        return fs.AcknowledgeIssueResponse(issue=issue)

    async def StartIssueWork(
        self, request: fs.StartIssueWorkRequest, context: grpc.aio.ServicerContext
    ) -> fs.StartIssueWorkResponse:
        issue = await self._move_issue(
            request.issue_id, request.viewer, request.actor_id, request.note_th,
            domain.IN_PROGRESS, "StartIssueWork",
        )  # fmt: skip
        return fs.StartIssueWorkResponse(issue=issue)

    async def EscalateIssue(
        self, request: fs.EscalateIssueRequest, context: grpc.aio.ServicerContext
    ) -> fs.EscalateIssueResponse:
        issue = await self._move_issue(
            request.issue_id, request.viewer, request.actor_id, request.note_th,
            domain.ESCALATED, "EscalateIssue",
        )  # fmt: skip
        return fs.EscalateIssueResponse(issue=issue)

    async def ResolveIssue(
        self, request: fs.ResolveIssueRequest, context: grpc.aio.ServicerContext
    ) -> fs.ResolveIssueResponse:
        issue = await self._move_issue(
            request.issue_id, request.viewer, request.actor_id, request.resolution_th,
            domain.RESOLVED, "ResolveIssue",
        )  # fmt: skip
        return fs.ResolveIssueResponse(issue=issue)

    async def GetIssue(
        self, request: fs.GetIssueRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetIssueResponse:
        issue_id = require_id(request.issue_id, "issue_id")
        scope = domain.Scope.from_proto(request.viewer)
        now = self.clock()
        return await self._db.read(
            lambda db: fs.GetIssueResponse(
                issue=issue_to_proto(store.to_issue(store.visible_issue(db, issue_id, scope)), now)
            )
        )

    async def ListIssues(
        self, request: fs.ListIssuesRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListIssuesResponse:
        scope = domain.Scope.from_proto(request.viewer)
        v = FieldViolations()
        if request.status and request.status not in domain.ISSUE_NAMES:
            v.add("status", "is not a known status")
        if request.category and request.category not in fp.IssueCategory.values():
            v.add("category", "is not a known category")
        check_page(v, request.page)
        v.raise_if_any()
        now = self.clock()

        def read(db: DbSession) -> fs.ListIssuesResponse:
            rows, next_token = store.list_issues(
                db,
                scope=scope,
                status=request.status,
                category=request.category,
                overdue_before=now - domain.ACKNOWLEDGE_WITHIN if request.overdue_only else None,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            return fs.ListIssuesResponse(
                issues=[issue_to_proto(store.to_issue(r), now) for r in rows],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- announcements ----------------------------------------------------------------

    async def PublishAnnouncement(
        self, request: fs.PublishAnnouncementRequest, context: grpc.aio.ServicerContext
    ) -> fs.PublishAnnouncementResponse:
        plan = domain.validate_announcement(request)

        def publish(uow: UnitOfWork) -> fp.Announcement:
            now = self.clock()
            row = store.AnnouncementRow(
                announcement_id=new_id(),
                from_province_code=plan.from_province_code,
                province_codes=list(plan.province_codes),
                national=not plan.province_codes,
                cluster_codes=list(plan.cluster_codes),
                title_th=plan.title_th,
                body_th=plan.body_th,
                published_at=now,
            )
            uow.session.add(row)
            uow.session.flush()
            for code in plan.province_codes:
                uow.session.add(
                    store.AnnouncementProvinceRow(
                        announcement_id=row.announcement_id, province_code=code
                    )
                )
            uow.emit(
                FEEDBACK,
                row.announcement_id,
                events_pb2.AnnouncementPublished(
                    announcement_id=row.announcement_id,
                    from_province_code=row.from_province_code,
                    province_codes=row.province_codes,
                    cluster_codes=row.cluster_codes,
                    title_th=row.title_th,
                    occurred_at=to_timestamp(now),
                ),
                # The envelope's province: the publisher's, or the centre's announcement
                # to one province; empty for a national one.
                plan.from_province_code
                or (plan.province_codes[0] if len(plan.province_codes) == 1 else ""),
            )
            return read_announcement(uow.session, row)

        return fs.PublishAnnouncementResponse(
            announcement=await self._writer.run(publish, "PublishAnnouncement")
        )

    async def MarkAnnouncementRead(
        self, request: fs.MarkAnnouncementReadRequest, context: grpc.aio.ServicerContext
    ) -> fs.MarkAnnouncementReadResponse:
        announcement_id = require_id(request.announcement_id, "announcement_id")
        member_id = require_id(request.member_id, "member_id")

        def mark(uow: UnitOfWork) -> fs.MarkAnnouncementReadResponse:
            now = self.clock()
            row = store.announcement_row(uow.session, announcement_id)
            member = domain.require_member(store.member(uow.session, member_id), member_id)
            if not domain.addressed_by_announcement(row.province_codes, row.cluster_codes, member):
                raise FailedPrecondition(
                    f"the announcement is not addressed to member {member_id}", field="member_id"
                )
            receipt = uow.session.get(store.AnnouncementReadRow, (announcement_id, member_id))
            if receipt is None:  # reading again keeps the first receipt, and says nothing new
                receipt = store.AnnouncementReadRow(
                    announcement_id=announcement_id, member_id=member_id, read_at=now
                )
                uow.session.add(receipt)
                uow.emit(
                    FEEDBACK,
                    announcement_id,
                    events_pb2.AnnouncementRead(
                        announcement_id=announcement_id,
                        member_id=member_id,
                        province_code=member.province_code,
                        occurred_at=to_timestamp(now),
                    ),
                    member.province_code,
                )
                uow.session.flush()
            return fs.MarkAnnouncementReadResponse(
                announcement=read_announcement(uow.session, row),
                read_at=to_timestamp(receipt.read_at),
            )

        return await self._writer.run(mark, "MarkAnnouncementRead")

    async def GetAnnouncement(
        self, request: fs.GetAnnouncementRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetAnnouncementResponse:
        announcement_id = require_id(request.announcement_id, "announcement_id")

        def read(db: DbSession) -> fs.GetAnnouncementResponse:
            row = store.announcement_row(db, announcement_id)
            return fs.GetAnnouncementResponse(
                announcement=read_announcement(db, row),
                read_member_ids=store.readers(db, announcement_id),
            )

        return await self._db.read(read)

    async def ListAnnouncements(
        self, request: fs.ListAnnouncementsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListAnnouncementsResponse:
        v = FieldViolations()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        member_id = request.member_id.strip()
        if request.province_code and member_id:
            v.add("member_id", "give a province_code or a member_id, not both")
        check_page(v, request.page)
        v.raise_if_any()

        def read(db: DbSession) -> fs.ListAnnouncementsResponse:
            province = request.province_code
            member = None
            if member_id:
                member = domain.require_member(store.member(db, member_id), member_id)
                province = member.province_code
            rows, next_token = store.list_announcements(
                db,
                province_code=province,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            if member is not None:  # within the province, the clusters addressed
                rows = [
                    r
                    for r in rows
                    if domain.addressed_by_announcement(r.province_codes, r.cluster_codes, member)
                ]
            ids = [r.announcement_id for r in rows]
            reads = store.read_counts(db, ids)
            return fs.ListAnnouncementsResponse(
                announcements=[
                    announcement_to_proto(
                        r,
                        reads[r.announcement_id],
                        store.count_addressed(db, r.province_codes, r.cluster_codes),
                    )
                    for r in rows
                ],
                read_announcement_ids=store.read_by(db, member_id, ids) if member_id else [],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- meetings ---------------------------------------------------------------------

    def _require_members_of(
        self, db: DbSession, province_code: str, field_name: str, member_ids: tuple[str, ...]
    ) -> None:
        v = FieldViolations()
        for i, member_id in enumerate(member_ids):
            member = store.member(db, member_id)
            if member is None or member.province_code != province_code:
                v.add(f"{field_name}[{i}]", f"{member_id!r} is not a member of {province_code}")
        if v:
            raise FailedPrecondition(
                "; ".join(f"{f}: {d}" for f, d in v.violations), field=v.violations[0][0]
            )

    async def ScheduleMeeting(
        self, request: fs.ScheduleMeetingRequest, context: grpc.aio.ServicerContext
    ) -> fs.ScheduleMeetingResponse:
        plan = domain.validate_meeting(request)

        def schedule(uow: UnitOfWork) -> fp.Meeting:
            self._require_members_of(
                uow.session, plan.province_code, "invited_member_ids", plan.invited_member_ids
            )
            row = store.MeetingRow(
                meeting_id=new_id(),
                province_code=plan.province_code,
                kind=plan.kind,
                title_th=plan.title_th,
                cluster_codes=list(plan.cluster_codes),
                venue_th=plan.venue_th,
                start_at=plan.start_at,
                agenda_th=list(plan.agenda_th),
                attendee_member_ids=list(plan.invited_member_ids),
                status=domain.SCHEDULED,
            )
            uow.session.add(row)
            return meeting_to_proto(row, [], self.clock())

        return fs.ScheduleMeetingResponse(
            meeting=await self._writer.run(schedule, "ScheduleMeeting")
        )

    async def RecordMeetingHeld(
        self, request: fs.RecordMeetingHeldRequest, context: grpc.aio.ServicerContext
    ) -> fs.RecordMeetingHeldResponse:
        meeting_id = require_id(request.meeting_id, "meeting_id")
        meeting = await self._db.read(lambda db: store.meeting_row(db, meeting_id))
        record = domain.validate_meeting_record(request, domain.local_today(meeting.start_at))

        def held(uow: UnitOfWork) -> fp.Meeting:
            now = self.clock()
            row = store.meeting_row(uow.session, meeting_id)
            if row.status != domain.SCHEDULED:
                raise FailedPrecondition(
                    "the meeting's minutes are already recorded", field="meeting_id"
                )
            self._require_members_of(
                uow.session, row.province_code, "attendee_member_ids", record.attendee_member_ids
            )
            owners = tuple(i.owner_member_id for i in record.action_items if i.owner_member_id)
            self._require_members_of(
                uow.session, row.province_code, "action_items.owner_member_id", owners
            )
            row.status, row.held_at = domain.HELD, now
            row.attendee_member_ids = list(record.attendee_member_ids)
            row.minutes_th, row.decisions_th = record.minutes_th, list(record.decisions_th)
            items = [
                store.ActionItemRow(
                    action_item_id=new_id(),
                    meeting_id=meeting_id,
                    province_code=row.province_code,
                    description_th=item.description_th,
                    owner_member_id=item.owner_member_id,
                    owner_th=item.owner_th,
                    due_on=item.due_on,
                    status=domain.ITEM_OPEN,
                )
                for item in record.action_items
            ]
            uow.session.add_all(items)
            uow.emit(
                FEEDBACK,
                meeting_id,
                events_pb2.MeetingHeld(
                    meeting_id=meeting_id,
                    province_code=row.province_code,
                    kind=row.kind,  # type: ignore[arg-type]
                    cluster_codes=row.cluster_codes,
                    attendee_member_ids=row.attendee_member_ids,
                    decision_count=len(row.decisions_th),
                    action_item_ids=[i.action_item_id for i in items],
                    occurred_at=to_timestamp(now),
                ),
                row.province_code,
            )
            return meeting_to_proto(row, items, now)

        return fs.RecordMeetingHeldResponse(
            meeting=await self._writer.run(held, "RecordMeetingHeld")
        )

    async def UpdateActionItem(
        self, request: fs.UpdateActionItemRequest, context: grpc.aio.ServicerContext
    ) -> fs.UpdateActionItemResponse:
        item_id = require_id(request.action_item_id, "action_item_id")
        to = request.status

        def update(uow: UnitOfWork) -> fp.ActionItem:
            now = self.clock()
            row = store.action_item_row(uow.session, item_id)
            domain.move_item(row.status, to)
            row.status = to
            if to in (domain.ITEM_DONE, domain.ITEM_DROPPED):
                row.closed_at = now
                uow.emit(
                    FEEDBACK,
                    row.meeting_id,
                    events_pb2.ActionItemClosed(
                        action_item_id=item_id,
                        meeting_id=row.meeting_id,
                        province_code=row.province_code,
                        owner_member_id=row.owner_member_id,
                        status=to,
                        due_on=domain.date_proto(row.due_on),
                        late=domain.local_today(now) > row.due_on,
                        occurred_at=to_timestamp(now),
                    ),
                    row.province_code,
                )
            return item_to_proto(row, now)

        return fs.UpdateActionItemResponse(
            action_item=await self._writer.run(update, "UpdateActionItem")
        )

    async def GetMeeting(
        self, request: fs.GetMeetingRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetMeetingResponse:
        meeting_id = require_id(request.meeting_id, "meeting_id")
        now = self.clock()
        return await self._db.read(
            lambda db: fs.GetMeetingResponse(
                meeting=meeting_to_proto(
                    store.meeting_row(db, meeting_id), store.action_items(db, meeting_id), now
                )
            )
        )

    async def ListMeetings(
        self, request: fs.ListMeetingsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListMeetingsResponse:
        v = FieldViolations()
        check_province(v, "province_code", request.province_code)
        if request.status and request.status not in (domain.SCHEDULED, domain.HELD):
            v.add("status", "is not a known meeting status")
        check_page(v, request.page)
        v.raise_if_any()
        now = self.clock()

        def read(db: DbSession) -> fs.ListMeetingsResponse:
            rows, next_token = store.list_meetings(
                db,
                province_code=request.province_code,
                status=request.status,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            return fs.ListMeetingsResponse(
                meetings=[
                    meeting_to_proto(r, store.action_items(db, r.meeting_id), now) for r in rows
                ],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- monthly reports ----------------------------------------------------------------

    async def SubmitMonthlyReport(
        self, request: fs.SubmitMonthlyReportRequest, context: grpc.aio.ServicerContext
    ) -> fs.SubmitMonthlyReportResponse:
        member_id = require_id(request.member_id, "member_id")
        v = FieldViolations()
        month, figures = domain.validate_figures(v, request, self.today())
        v.raise_if_any()

        def submit(uow: UnitOfWork) -> fp.MonthlyReport:
            now = self.clock()
            member = domain.require_member(
                store.reporting_member(uow.session, member_id), member_id
            )
            report_id = new_id()
            if not store.insert_report(uow, report_id, member, month, figures, now):
                raise AlreadyExists(
                    f"member {member_id} already reported {month // 100}-{month % 100:02d}; "
                    "correct it with ReviseMonthlyReport",
                    field="month",
                )
            uow.emit(
                FEEDBACK,
                member_id,
                domain.report_submitted(report_id, member, month, figures, now),
                member.province_code,
            )
            return fp.MonthlyReport(
                report_id=report_id,
                member_id=member_id,
                province_code=member.province_code,
                cluster_code=member.cluster_code,
                month=domain.month_proto(month),
                figures=figures.to_proto(),
                revision=1,
                submitted_at=to_timestamp(now),
                updated_at=to_timestamp(now),
            )

        try:
            report = await self._writer.run(submit, "SubmitMonthlyReport")
        except IntegrityError:  # the unique (member, month) index, should a check ever miss
            raise AlreadyExists("this month is already reported", field="month") from None
        return fs.SubmitMonthlyReportResponse(report=report)

    async def ReviseMonthlyReport(
        self, request: fs.ReviseMonthlyReportRequest, context: grpc.aio.ServicerContext
    ) -> fs.ReviseMonthlyReportResponse:
        member_id = require_id(request.member_id, "member_id")
        v = FieldViolations()
        month, figures = domain.validate_figures(v, request, self.today())
        reason = clean_text(v, "reason_th", request.reason_th, required=True, limit=domain.MAX_TEXT)
        v.raise_if_any()

        def revise(uow: UnitOfWork) -> fs.ReviseMonthlyReportResponse:
            now = self.clock()
            row = store.report_of(uow.session, member_id, month)
            if row is None:
                raise FailedPrecondition(
                    f"member {member_id} has no report for {month // 100}-{month % 100:02d}; "
                    "submit it first",
                    field="month",
                )
            member = domain.MemberRef(member_id, row.province_code, row.cluster_code, "")
            previous = store.revisions(uow.session, row.report_id)[-1]
            event = domain.revise(
                row.report_id, member, month, row.revision + 1, store.figures_of(row), figures,
                now,
            )  # fmt: skip
            row.revision += 1
            row.revenue_satang = figures.revenue_satang
            row.sales_channels = list(figures.sales_channels)
            row.employees = figures.employees
            row.updated_at = now
            uow.session.add(store.revision_row(row.report_id, row.revision, figures, reason, now))
            uow.emit(FEEDBACK, member_id, event, row.province_code)
            uow.session.flush()
            return fs.ReviseMonthlyReportResponse(
                report=report_to_proto(row, store.revisions(uow.session, row.report_id)),
                previous=revision_to_proto(previous),
            )

        return await self._writer.run(revise, "ReviseMonthlyReport")

    async def GetMonthlyReport(
        self, request: fs.GetMonthlyReportRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetMonthlyReportResponse:
        member_id = require_id(request.member_id, "member_id")
        v = FieldViolations()
        month = domain.check_month(v, "month", request.month, self.today())
        v.raise_if_any()

        def read(db: DbSession) -> fs.GetMonthlyReportResponse:
            row = store.report_of(db, member_id, month)
            if row is None:
                raise NotFound(
                    f"member {member_id} has no report for {month // 100}-{month % 100:02d}",
                    field="month",
                )
            return fs.GetMonthlyReportResponse(
                report=report_to_proto(row, store.revisions(db, row.report_id))
            )

        return await self._db.read(read)

    async def ListMonthlyReports(
        self, request: fs.ListMonthlyReportsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListMonthlyReportsResponse:
        v = FieldViolations()
        today = self.today()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        member_id = request.member_id.strip()
        if not request.province_code and not member_id:
            v.add("province_code", "name a province, or a member_id")
        from_month = to_month = 0
        if request.HasField("from_month"):
            from_month = domain.check_month(v, "from_month", request.from_month, today)
        if request.HasField("to_month"):
            # A bound may lie ahead; only reports cannot.
            to_month = domain.check_month(
                v, "to_month", request.to_month, today + timedelta(days=3660)
            )
        check_page(v, request.page)
        v.raise_if_any()

        def read(db: DbSession) -> fs.ListMonthlyReportsResponse:
            rows, next_token = store.list_reports(
                db,
                province_code=request.province_code,
                member_id=member_id,
                from_month=from_month,
                to_month=to_month,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            return fs.ListMonthlyReportsResponse(
                reports=[report_to_proto(r) for r in rows],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- for the seed -----------------------------------------------------------------

    async def has_reports(self) -> bool:
        return await self._db.read(store.has_reports)

    async def active_members(self, province_code: str) -> list[store.MemberRow]:
        def read(db: DbSession) -> list[store.MemberRow]:
            ids = store.active_members(db, province_code)
            return [r for r in (db.get(store.MemberRow, i) for i in ids) if r is not None]

        return await self._db.read(read)
