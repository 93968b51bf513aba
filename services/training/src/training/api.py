"""The TrainingService gRPC servicer: proto in, domain call, proto out.

Writes run through the group-commit writer (rows and outbox events in one
transaction); reads use their own sessions. What membership must confirm (the
member is active, the network's clusters) is asked before the write operation, so
a membership outage answers UNAVAILABLE with nothing written. Seats are counted and
waitlist places handed out inside one operation: the writer runs operations one at
a time, so concurrent enrolments can never overfill a session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.training.v1 import training_pb2, training_service_pb2, training_service_pb2_grpc
from bizclub_shared.auth import visible_provinces
from bizclub_shared.db import Database, utcnow
from bizclub_shared.errors import AlreadyExists, FailedPrecondition, FieldViolations
from bizclub_shared.paging import MAX_PAGE, page_size
from bizclub_shared.provinces import PROVINCES
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.topics import TRAINING
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from bizclub_shared.validation import check_province, clean_text, require_id, to_common_era
from sqlalchemy.orm import Session as DbSession

from training import certificate, domain, store
from training.members import MembershipClient

ts = training_service_pb2
Clock = Callable[[], datetime]

KIND_TH: dict[int, str] = {
    training_pb2.SESSION_KIND_SEMINAR: "การสัมมนา",
    training_pb2.SESSION_KIND_WORKSHOP: "การฝึกอบรมเชิงปฏิบัติการ",
    training_pb2.SESSION_KIND_CONSULTATION: "การให้คำปรึกษาโดยผู้เชี่ยวชาญ",
    training_pb2.SESSION_KIND_PEER_MENTORING: "กิจกรรมพี่สอนน้อง",
    training_pb2.SESSION_KIND_BRAINSTORMING: "การประชุมระดมสมอง",
    training_pb2.SESSION_KIND_PRODUCT_DEVELOPMENT: "การพัฒนาผลิตภัณฑ์เชิงปฏิบัติการ",
}


# --- proto out ------------------------------------------------------------------------


def trainer_to_proto(trainer: domain.Trainer) -> training_pb2.Trainer:
    return training_pb2.Trainer(
        name_th=trainer.name_th,
        organisation_th=trainer.organisation_th,
        role=trainer.role,  # type: ignore[arg-type]
        member_id=trainer.member_id,
    )


def session_to_proto(session: domain.Session, counts: tuple[int, int]) -> training_pb2.Session:
    return training_pb2.Session(
        session_id=session.session_id,
        province_code=session.province_code,
        kind=session.kind,  # type: ignore[arg-type]
        title_th=session.title_th,
        title_en=session.title_en,
        description_th=session.description_th,
        target_cluster_codes=session.target_cluster_codes,
        venue_th=session.venue_th,
        online_url=session.online_url,
        start_time=to_timestamp(session.start_at),
        end_time=to_timestamp(session.end_at),
        local_start=domain.format_local(session.start_at),
        local_end=domain.format_local(session.end_at),
        trainers=[trainer_to_proto(t) for t in session.trainers],
        capacity=session.capacity,
        hours=domain.hours_of(session.minutes),
        completion_hours=domain.hours_of(session.completion_minutes),
        status=session.status,  # type: ignore[arg-type]
        confirmed_count=counts[0],
        waitlisted_count=counts[1],
        cancel_reason=session.cancel_reason,
        created_at=to_timestamp(session.created_at),
    )


def read_session(db: DbSession, row: store.SessionRow) -> training_pb2.Session:
    counts = store.seat_counts(db, [row.session_id])[row.session_id]
    return session_to_proto(store.to_session(row), counts)


def enrollment_to_proto(
    enrollment: store.EnrollmentRow | domain.Enrollment,
) -> training_pb2.Enrollment:
    proto = training_pb2.Enrollment(
        enrollment_id=enrollment.enrollment_id,
        session_id=enrollment.session_id,
        province_code=enrollment.province_code,
        member_id=enrollment.member_id,
        business_name_th=enrollment.business_name_th,
        cluster_code=enrollment.cluster_code,
        status=enrollment.status,  # type: ignore[arg-type]
        waitlist_position=enrollment.waitlist_position,
        attended_hours=domain.hours_of(enrollment.attended_minutes),
        cancellation_reason=enrollment.cancellation_reason,  # type: ignore[arg-type]
        enrolled_at=to_timestamp(enrollment.enrolled_at),
        certificate_no=enrollment.certificate_no,
    )
    for name in ("confirmed_at", "cancelled_at", "completed_at"):
        moment = getattr(enrollment, name)
        if moment is not None:
            getattr(proto, name).CopyFrom(to_timestamp(moment))
    return proto


def project_to_proto(project: domain.ProductProject) -> training_pb2.ProductProject:
    proto = training_pb2.ProductProject(
        project_id=project.project_id,
        province_code=project.province_code,
        member_id=project.member_id,
        business_name_th=project.business_name_th,
        session_id=project.session_id,
        designer=trainer_to_proto(project.designer),
        stage=project.stage,  # type: ignore[arg-type]
        brief_th=project.brief_th,
        prototype_note_th=project.prototype_note_th,
        final_note_th=project.final_note_th,
        before=project.before.to_proto(),
        outcome=project.outcome,  # type: ignore[arg-type]
        outcome_note_th=project.outcome_note_th,
        started_at=to_timestamp(project.started_at),
        updated_at=to_timestamp(project.updated_at),
    )
    if project.after is not None:
        proto.after.CopyFrom(project.after.to_proto())
    if project.completed_at is not None:
        proto.completed_at.CopyFrom(to_timestamp(project.completed_at))
    return proto


def emit_all(uow: UnitOfWork, key: str, province: str, events: list) -> None:
    for event in events:
        uow.emit(TRAINING, key, event, province)


# --- operations the API and the reactions share ---------------------------------------


def withdraw_place(
    uow: UnitOfWork,
    session: domain.Session,
    row: store.EnrollmentRow,
    reason: int,
    now: datetime,
) -> store.EnrollmentRow | None:
    """Cancel one enrolment; a freed seat goes to the first waitlisted, in this operation.

    Returns the promoted enrolment's row, if any.
    """
    enrollment = store.to_enrollment(row)
    next_row = store.first_waitlisted(uow.session, session.session_id)
    if enrollment.status != domain.CONFIRMED or next_row is None or next_row.id == row.id:
        next_row = None
    next_in_line = store.to_enrollment(next_row) if next_row is not None else None
    promoted = domain.withdraw(enrollment, reason, next_in_line, now)
    store.apply_enrollment(enrollment, row)
    # Keyed by session: the cancellation and the promotion it caused stay in order.
    emit_all(uow, session.session_id, session.province_code, enrollment.events)
    if promoted is not None and next_row is not None:
        store.apply_enrollment(promoted, next_row)
        emit_all(uow, session.session_id, session.province_code, promoted.events)
        return next_row
    return None


def withdraw_member(uow: UnitOfWork, member_id: str, reason: int, now: datetime) -> int:
    """Cancel the member's places in sessions that have not started; returns how many."""
    rows = store.upcoming_places_of(uow.session, member_id, now)
    for row in rows:
        session = store.to_session(store.session_row(uow.session, row.session_id))
        withdraw_place(uow, session, row, reason, now)
    return len(rows)


class TrainingApi(training_service_pb2_grpc.TrainingServiceServicer):
    def __init__(
        self, db: Database, writer: Writer, members: MembershipClient, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._writer = writer
        self._members = members
        # The service's idea of now; tests move it to check people in after the start.
        self.clock = clock

    # --- sessions -------------------------------------------------------------------

    async def ScheduleSession(
        self, request: ts.ScheduleSessionRequest, context: grpc.aio.ServicerContext
    ) -> ts.ScheduleSessionResponse:
        plan = domain.validate_schedule(request, self.clock())
        domain.require_known_clusters(
            plan, await self._members.network_clusters(plan.province_code)
        )
        if plan.mentor_member_id:
            index = next(
                i for i, t in enumerate(plan.trainers) if t.role == training_pb2.TRAINER_ROLE_MENTOR
            )
            field = f"trainers[{index}].member_id"
            mentor = await self._members.member(plan.mentor_member_id, field)
            if not mentor.active or mentor.province_code != plan.province_code:
                raise FailedPrecondition(
                    f"the mentor must be an active member of the {plan.province_code} network; "
                    f"member {mentor.member_id} is {mentor.status_name} in {mentor.province_code}",
                    field=field,
                )

        def schedule(uow: UnitOfWork) -> training_pb2.Session:
            session = domain.Session.schedule(plan, self.clock())
            store.insert_session(uow.session, session)
            emit_all(uow, session.session_id, session.province_code, session.events)
            return session_to_proto(session, (0, 0))

        return ts.ScheduleSessionResponse(
            session=await self._writer.run(schedule, "ScheduleSession")
        )

    async def CancelSession(
        self, request: ts.CancelSessionRequest, context: grpc.aio.ServicerContext
    ) -> ts.CancelSessionResponse:
        session_id = require_id(request.session_id, "session_id")
        v = FieldViolations()
        reason = clean_text(v, "reason", request.reason, required=True, limit=1000)
        v.raise_if_any()

        def cancel(uow: UnitOfWork) -> ts.CancelSessionResponse:
            row = store.session_row(uow.session, session_id)
            session = store.to_session(row)
            rows = store.session_enrollments(uow.session, session_id)
            enrollments = [store.to_enrollment(r) for r in rows]
            session.cancel(reason, enrollments, self.clock())
            row.status, row.cancel_reason, row.updated_at = (
                session.status,
                session.cancel_reason,
                self.clock(),
            )
            emit_all(uow, session_id, session.province_code, session.events)
            cancelled = []
            for enrollment, enrollment_row in zip(enrollments, rows, strict=True):
                if enrollment.events:
                    store.apply_enrollment(enrollment, enrollment_row)
                    emit_all(uow, session_id, session.province_code, enrollment.events)
                    cancelled.append(enrollment_to_proto(enrollment_row))
            uow.session.flush()
            return ts.CancelSessionResponse(
                session=read_session(uow.session, row), cancelled=cancelled
            )

        return await self._writer.run(cancel, "CancelSession")

    async def GetSession(
        self, request: ts.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> ts.GetSessionResponse:
        session_id = require_id(request.session_id, "session_id")
        return await self._db.read(
            lambda db: ts.GetSessionResponse(
                session=read_session(db, store.session_row(db, session_id))
            )
        )

    async def ListSessions(
        self, request: ts.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> ts.ListSessionsResponse:
        v = FieldViolations()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        if request.kind and request.kind not in domain.Kind.values():
            v.add("kind", "is not a known session kind")
        starts_from = starts_before = None
        if request.HasField("from_date"):
            day = to_common_era(request.from_date, v, "from_date")
            starts_from = domain.local_day_start(day) if day else None
        if request.HasField("to_date"):
            day = to_common_era(request.to_date, v, "to_date")
            starts_before = domain.local_day_start(day) + timedelta(days=1) if day else None
        if starts_from and starts_before and starts_before <= starts_from:
            v.add("to_date", "must not be before from_date")
        if request.page.page_size < 0:
            v.add("page.page_size", f"must be between 0 and {MAX_PAGE}")
        v.raise_if_any()

        def read(db: DbSession) -> ts.ListSessionsResponse:
            rows, next_token = store.list_sessions(
                db,
                province_code=request.province_code,
                cluster_code=request.cluster_code.strip(),
                kind=request.kind,
                starts_from=starts_from,
                starts_before=starts_before,
                include_cancelled=request.include_cancelled,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            counts = store.seat_counts(db, [r.session_id for r in rows])
            return ts.ListSessionsResponse(
                sessions=[
                    session_to_proto(store.to_session(r), counts[r.session_id]) for r in rows
                ],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- enrolment ------------------------------------------------------------------

    async def EnrollMember(
        self, request: ts.EnrollMemberRequest, context: grpc.aio.ServicerContext
    ) -> ts.EnrollMemberResponse:
        session_id = require_id(request.session_id, "session_id")
        member_id = require_id(request.member_id, "member_id")
        # A closed session costs no call to membership.
        session = await self._db.read(
            lambda db: store.to_session(store.session_row(db, session_id))
        )
        session.require_enrollable(self.clock())
        member = await self._members.member(member_id)
        ref = await self._db.read(lambda db: store.member_ref(db, member_id))
        cluster_code = domain.targeting_cluster(
            member, ref.cluster_code if ref else "", ref.updated_at if ref else None
        )

        def enrol(uow: UnitOfWork) -> training_pb2.Enrollment:
            session = store.to_session(store.session_row(uow.session, session_id))
            held = store.holding_enrollment(uow.session, session_id, member_id)
            if held is not None:
                raise AlreadyExists(
                    f"member {member_id} already has a place in this session "
                    f"({domain.ENROLLMENT_NAMES[held.status]})",
                    field="member_id",
                )
            seats_taken, _ = store.seat_counts(uow.session, [session_id])[session_id]
            last_position = store.last_waitlist_position(uow.session, session_id)
            enrollment = domain.Enrollment.enrol(
                session, member, cluster_code, seats_taken, last_position, self.clock()
            )
            row = store.new_enrollment_row(enrollment)
            uow.session.add(row)
            emit_all(uow, session_id, session.province_code, enrollment.events)
            return enrollment_to_proto(enrollment)

        return ts.EnrollMemberResponse(enrollment=await self._writer.run(enrol, "EnrollMember"))

    async def CancelEnrollment(
        self, request: ts.CancelEnrollmentRequest, context: grpc.aio.ServicerContext
    ) -> ts.CancelEnrollmentResponse:
        session_id = require_id(request.session_id, "session_id")
        member_id = require_id(request.member_id, "member_id")

        def cancel(uow: UnitOfWork) -> ts.CancelEnrollmentResponse:
            session = store.to_session(store.session_row(uow.session, session_id))
            now = self.clock()
            domain.require_cancellable(session, now)
            row = store.current_enrollment(uow.session, session_id, member_id)
            promoted = withdraw_place(uow, session, row, domain.BY_MEMBER, now)
            response = ts.CancelEnrollmentResponse(enrollment=enrollment_to_proto(row))
            if promoted is not None:
                response.promoted.CopyFrom(enrollment_to_proto(promoted))
            return response

        return await self._writer.run(cancel, "CancelEnrollment")

    async def _change_enrollment(
        self,
        session_id: str,
        member_id: str,
        name: str,
        change: Callable[
            [UnitOfWork, domain.Session, domain.Enrollment, store.EnrollmentRow], None
        ],
    ) -> training_pb2.Enrollment:
        session_id = require_id(session_id, "session_id")
        member_id = require_id(member_id, "member_id")

        def apply(uow: UnitOfWork) -> training_pb2.Enrollment:
            session = store.to_session(store.session_row(uow.session, session_id))
            row = store.current_enrollment(uow.session, session_id, member_id)
            enrollment = store.to_enrollment(row)
            change(uow, session, enrollment, row)
            store.apply_enrollment(enrollment, row)
            emit_all(uow, session_id, session.province_code, enrollment.events)
            return enrollment_to_proto(row)

        return await self._writer.run(apply, name)

    async def RecordAttendance(
        self, request: ts.RecordAttendanceRequest, context: grpc.aio.ServicerContext
    ) -> ts.RecordAttendanceResponse:
        v = FieldViolations()
        minutes = domain.to_minutes(v, "hours", request.hours)
        v.raise_if_any()

        def check_in(
            uow: UnitOfWork,
            session: domain.Session,
            enrollment: domain.Enrollment,
            row: store.EnrollmentRow,
        ) -> None:
            before = enrollment.attended_minutes
            now = self.clock()
            enrollment.record_attendance(session, minutes, now)
            uow.session.add(
                store.AttendanceRow(
                    enrollment_id=enrollment.enrollment_id,
                    minutes=enrollment.attended_minutes - before,
                    recorded_at=now,
                )
            )
            # Completion follows from the hours: the check-in that reaches the
            # session's threshold completes the enrolment and issues the certificate.
            if enrollment.attended_minutes >= session.completion_minutes:
                assert row.id is not None
                number = domain.certificate_number(session.province_code, now, row.id)
                enrollment.complete(session, number, now)

        return ts.RecordAttendanceResponse(
            enrollment=await self._change_enrollment(
                request.session_id, request.member_id, "RecordAttendance", check_in
            )
        )

    async def CompleteEnrollment(
        self, request: ts.CompleteEnrollmentRequest, context: grpc.aio.ServicerContext
    ) -> ts.CompleteEnrollmentResponse:
        def complete(
            uow: UnitOfWork,
            session: domain.Session,
            enrollment: domain.Enrollment,
            row: store.EnrollmentRow,
        ) -> None:
            now = self.clock()
            assert row.id is not None
            number = domain.certificate_number(session.province_code, now, row.id)
            enrollment.complete(session, number, now)

        return ts.CompleteEnrollmentResponse(
            enrollment=await self._change_enrollment(
                request.session_id, request.member_id, "CompleteEnrollment", complete
            )
        )

    async def GetRoster(
        self, request: ts.GetRosterRequest, context: grpc.aio.ServicerContext
    ) -> ts.GetRosterResponse:
        session_id = require_id(request.session_id, "session_id")

        def read(db: DbSession) -> ts.GetRosterResponse:
            row = store.session_row(db, session_id)
            rows = store.session_enrollments(db, session_id)
            seated = sorted(
                (r for r in rows if r.status in (domain.CONFIRMED, domain.COMPLETED)),
                key=lambda r: (r.confirmed_at or r.enrolled_at, r.id or 0),
            )
            waiting = sorted(
                (r for r in rows if r.status == domain.WAITLISTED),
                key=lambda r: r.waitlist_position,
            )
            cancelled = [r for r in rows if r.status == domain.CANCELLED]
            return ts.GetRosterResponse(
                session=read_session(db, row),
                confirmed=[enrollment_to_proto(r) for r in seated],
                waitlisted=[enrollment_to_proto(r) for r in waiting],
                cancelled=[enrollment_to_proto(r) for r in cancelled]
                if request.include_cancelled
                else [],
            )

        return await self._db.read(read)

    async def ListMemberEnrollments(
        self, request: ts.ListMemberEnrollmentsRequest, context: grpc.aio.ServicerContext
    ) -> ts.ListMemberEnrollmentsResponse:
        member_id = require_id(request.member_id, "member_id")

        def read(db: DbSession) -> ts.ListMemberEnrollmentsResponse:
            history = store.member_history(db, member_id)
            counts = store.seat_counts(db, list({s.session_id for _, s in history}))
            completed = sum(s.minutes for e, s in history if e.status == domain.COMPLETED)
            return ts.ListMemberEnrollmentsResponse(
                records=[
                    ts.MemberTrainingRecord(
                        enrollment=enrollment_to_proto(e),
                        session=session_to_proto(store.to_session(s), counts[s.session_id]),
                    )
                    for e, s in history
                ],
                completed_hours=domain.hours_of(completed),
            )

        return await self._db.read(read)

    async def GetCompletionCertificate(
        self, request: ts.GetCompletionCertificateRequest, context: grpc.aio.ServicerContext
    ) -> ts.GetCompletionCertificateResponse:
        session_id = require_id(request.session_id, "session_id")
        member_id = require_id(request.member_id, "member_id")

        def read(db: DbSession) -> tuple[domain.Session, store.EnrollmentRow]:
            session = store.to_session(store.session_row(db, session_id))
            return session, store.current_enrollment(db, session_id, member_id)

        session, row = await self._db.read(read)
        if row.status != domain.COMPLETED or row.completed_at is None:
            raise FailedPrecondition(
                f"a certificate is issued on completion; this enrolment is "
                f"{domain.ENROLLMENT_NAMES[row.status]}",
                field="member_id",
            )
        province_th = PROVINCES.get(session.province_code, ("", ""))[0]
        facts = certificate.CertificateFacts(
            certificate_no=row.certificate_no,
            business_name_th=row.business_name_th,
            issuer_th=f"สำนักงานพาณิชย์จังหวัด{province_th}",
            kind_th=KIND_TH[session.kind],
            session_title_th=session.title_th,
            hours=domain.hours_of(session.minutes),
            session_date_th=domain.thai_long_date(session.start_at),
            completed_date_th=domain.thai_long_date(row.completed_at),
            completed_at=row.completed_at,
        )
        pdf = await asyncio.to_thread(certificate.render, facts)  # CPU-bound: off the loop
        return ts.GetCompletionCertificateResponse(
            pdf=pdf,
            file_name=f"certificate-{row.certificate_no}.pdf",
            certificate_no=row.certificate_no,
        )

    # --- product-development projects -------------------------------------------------

    async def StartProductProject(
        self, request: ts.StartProductProjectRequest, context: grpc.aio.ServicerContext
    ) -> ts.StartProductProjectResponse:
        member_id = require_id(request.member_id, "member_id")
        session_id = request.session_id.strip()
        v = FieldViolations()
        designer = domain.validate_trainer(
            v, "designer", request.designer, allowed={training_pb2.TRAINER_ROLE_DESIGNER}
        )
        brief = clean_text(
            v, "brief_th", request.brief_th, required=True, limit=domain.MAX_TEXT, multiline=True
        )
        before = domain.validate_product_facts(v, "before", request.before)
        v.raise_if_any()
        member = await self._members.member(member_id)

        def start(uow: UnitOfWork) -> training_pb2.ProductProject:
            session = None
            seat = False
            if session_id:
                session = store.to_session(store.session_row(uow.session, session_id))
                held = store.holding_enrollment(uow.session, session_id, member_id)
                seat = held is not None and held.status in (domain.CONFIRMED, domain.COMPLETED)
            project = domain.ProductProject.start(
                member, session, seat, designer, brief, before, self.clock()
            )
            uow.session.add(store.new_project_row(project))
            emit_all(uow, project.project_id, project.province_code, project.events)
            return project_to_proto(project)

        return ts.StartProductProjectResponse(
            project=await self._writer.run(start, "StartProductProject")
        )

    async def _change_project(
        self, project_id: str, name: str, change: Callable[[domain.ProductProject], None]
    ) -> training_pb2.ProductProject:
        project_id = require_id(project_id, "project_id")

        def apply(uow: UnitOfWork) -> training_pb2.ProductProject:
            row = store.project_row(uow.session, project_id)
            project = store.to_project(row)
            change(project)
            store.apply_project(project, row)
            emit_all(uow, project.project_id, project.province_code, project.events)
            return project_to_proto(project)

        return await self._writer.run(apply, name)

    async def AdvanceProductProject(
        self, request: ts.AdvanceProductProjectRequest, context: grpc.aio.ServicerContext
    ) -> ts.AdvanceProductProjectResponse:
        v = FieldViolations()
        if request.stage not in (
            training_pb2.PROJECT_STAGE_PROTOTYPE,
            training_pb2.PROJECT_STAGE_FINAL,
        ):
            v.add("stage", "must be PROJECT_STAGE_PROTOTYPE or PROJECT_STAGE_FINAL")
        note = clean_text(
            v, "note_th", request.note_th, required=True, limit=domain.MAX_TEXT, multiline=True
        )
        v.raise_if_any()
        return ts.AdvanceProductProjectResponse(
            project=await self._change_project(
                request.project_id,
                "AdvanceProductProject",
                lambda project: project.advance(request.stage, note, self.clock()),
            )
        )

    async def CompleteProductProject(
        self, request: ts.CompleteProductProjectRequest, context: grpc.aio.ServicerContext
    ) -> ts.CompleteProductProjectResponse:
        v = FieldViolations()
        after = domain.validate_product_facts(v, "after", request.after)
        if request.outcome == 0 or request.outcome not in domain.Outcome.values():
            v.add("outcome", "is required: launched, ready to launch or not pursued")
        note = clean_text(
            v,
            "outcome_note_th",
            request.outcome_note_th,
            required=False,
            limit=domain.MAX_TEXT,
            multiline=True,
        )
        v.raise_if_any()
        return ts.CompleteProductProjectResponse(
            project=await self._change_project(
                request.project_id,
                "CompleteProductProject",
                lambda project: project.complete(after, request.outcome, note, self.clock()),
            )
        )

    async def GetProductProject(
        self, request: ts.GetProductProjectRequest, context: grpc.aio.ServicerContext
    ) -> ts.GetProductProjectResponse:
        project_id = require_id(request.project_id, "project_id")
        return await self._db.read(
            lambda db: ts.GetProductProjectResponse(
                project=project_to_proto(store.to_project(store.project_row(db, project_id)))
            )
        )

    async def ListProductProjects(
        self, request: ts.ListProductProjectsRequest, context: grpc.aio.ServicerContext
    ) -> ts.ListProductProjectsResponse:
        v = FieldViolations()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        if request.stage and request.stage not in domain.Stage.values():
            v.add("stage", "is not a known project stage")
        if request.page.page_size < 0:
            v.add("page.page_size", f"must be between 0 and {MAX_PAGE}")
        v.raise_if_any()
        provinces = visible_provinces(request.province_code)  # narrowed, not refused
        if provinces == []:
            return ts.ListProductProjectsResponse()

        def read(db: DbSession) -> ts.ListProductProjectsResponse:
            rows, next_token = store.list_projects(
                db,
                province_codes=provinces,
                member_id=request.member_id.strip(),
                stage=request.stage,
                size=page_size(request.page.page_size),
                page_token=request.page.page_token,
            )
            return ts.ListProductProjectsResponse(
                projects=[project_to_proto(store.to_project(r)) for r in rows],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- for the seed -----------------------------------------------------------------

    async def has_sessions(self, province_code: str) -> bool:
        return await self._db.read(lambda db: store.has_sessions(db, province_code))
