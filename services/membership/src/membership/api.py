"""The MembershipService gRPC servicer: proto in, domain call, proto out.

Writes run through the group-commit writer (rows and outbox events in one
transaction); reads use their own sessions. Domain errors become statuses with
field details in the shared error mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import (
    events_pb2,
    membership_pb2,
    membership_service_pb2,
    membership_service_pb2_grpc,
)
from bizclub_shared.auth import current_caller, visible_cluster, visible_provinces
from bizclub_shared.db import Database, utcnow
from bizclub_shared.errors import AlreadyExists, FieldViolations, InvalidArgument, NotFound
from bizclub_shared.paging import MAX_PAGE
from bizclub_shared.provinces import PROVINCES
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.topics import MEMBERSHIP
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from bizclub_shared.validation import check_province, clean_text, require_id, to_common_era
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from membership import domain, store

ms = membership_service_pb2


def member_to_proto(
    row: store.MemberRow | domain.Member, contact: store.ContactRow | domain.Contact | None
) -> membership_pb2.Member:
    member = membership_pb2.Member(
        member_id=row.member_id,
        province_code=row.province_code,
        business_name_th=row.business_name_th,
        business_name_en=row.business_name_en,
        tax_id=row.tax_id,
        enterprise_type=row.enterprise_type,  # type: ignore[arg-type]
        cluster_code=row.cluster_code,
        products=row.products,
        sales_channels=row.sales_channels,  # type: ignore[arg-type]
        baseline_monthly_revenue=common_pb2.Money(
            satang=row.baseline_revenue_satang, currency_code="THB"
        ),
        status=row.status,  # type: ignore[arg-type]
        registered_at=to_timestamp(row.registered_at),
    )
    if row.approved_at:
        member.approved_at.CopyFrom(to_timestamp(row.approved_at))
    if row.updated_at:
        member.updated_at.CopyFrom(to_timestamp(row.updated_at))
    if contact is not None:
        caller = current_caller()
        # Reads run with the caller's context; writes answer officers of the province
        # or the member themself, who see the contact anyway.
        if caller is not None and not caller.may_see_contacts_of(row.province_code, row.member_id):
            contact = domain.masked(
                domain.Contact(contact.full_name, contact.phone, contact.email, contact.national_id)
            )
        member.contact.CopyFrom(
            membership_pb2.Contact(
                full_name=contact.full_name,
                phone=contact.phone,
                email=contact.email,
                national_id=contact.national_id,
            )
        )
    return member


def appointment_to_proto(row: store.AppointmentRow) -> membership_pb2.CommitteeAppointment:
    return membership_pb2.CommitteeAppointment(
        appointment_id=row.appointment_id,
        province_code=row.province_code,
        member_id=row.member_id,
        role=row.role,  # type: ignore[arg-type]
        cluster_code=row.cluster_code,
        term_start=common_pb2.Date(
            year=row.term_start.year, month=row.term_start.month, day=row.term_start.day
        ),
        term_end=common_pb2.Date(
            year=row.term_end.year, month=row.term_end.month, day=row.term_end.day
        ),
    )


def mentorship_to_proto(row: store.MentorshipRow | domain.Mentorship) -> membership_pb2.Mentorship:
    proto = membership_pb2.Mentorship(
        mentorship_id=row.mentorship_id,
        province_code=row.province_code,
        mentor_member_id=row.mentor_member_id,
        mentee_member_id=row.mentee_member_id,
        focus=row.focus,
        started_at=to_timestamp(row.started_at),
    )
    if row.ended_at:
        proto.ended_at.CopyFrom(to_timestamp(row.ended_at))
    return proto


def network_to_proto(session: Session, network: store.NetworkRow) -> membership_pb2.Network:
    clusters = (
        session.execute(
            select(store.ClusterRow)
            .where(col(store.ClusterRow.province_code) == network.province_code)
            .order_by(col(store.ClusterRow.cluster_code))
        )
    ).scalars()
    return membership_pb2.Network(
        province_code=network.province_code,
        name_th=network.name_th,
        name_en=network.name_en,
        clusters=[
            membership_pb2.Cluster(
                cluster_code=c.cluster_code, name_th=c.name_th, name_en=c.name_en
            )
            for c in clusters
        ],
    )


def emit_all(uow: UnitOfWork, key: str, province: str, events: list) -> None:
    for event in events:
        uow.emit(MEMBERSHIP, key, event, province)


class MembershipApi(membership_service_pb2_grpc.MembershipServiceServicer):
    def __init__(self, db: Database, writer: Writer) -> None:
        self._db = db
        self._writer = writer

    # --- the network ----------------------------------------------------------------

    async def CreateNetwork(
        self, request: ms.CreateNetworkRequest, context: grpc.aio.ServicerContext
    ) -> ms.CreateNetworkResponse:
        v = FieldViolations()
        check_province(v, "province_code", request.province_code)
        name_th = clean_text(v, "name_th", request.name_th, required=True, limit=domain.MAX_NAME)
        name_en = clean_text(v, "name_en", request.name_en, required=False, limit=domain.MAX_NAME)
        clusters = [
            domain.validate_cluster(v, f"clusters[{i}]", c) for i, c in enumerate(request.clusters)
        ]
        codes = [c.cluster_code for c in clusters]
        if len(set(codes)) != len(codes):
            v.add("clusters", "cluster codes must be unique")
        v.raise_if_any()
        province = request.province_code

        def create(uow: UnitOfWork) -> membership_pb2.Network:
            if uow.session.get(store.NetworkRow, province) is not None:
                raise AlreadyExists(f"{province} already has a network", field="province_code")
            network = store.NetworkRow(
                province_code=province, name_th=name_th, name_en=name_en, created_at=utcnow()
            )
            uow.session.add(network)
            uow.session.flush()
            for c in clusters:
                uow.session.add(store.ClusterRow(province_code=province, **c.__dict__))
            uow.session.flush()
            proto = network_to_proto(uow.session, network)
            uow.emit(
                MEMBERSHIP,
                province,
                events_pb2.NetworkCreated(
                    province_code=province,
                    name_th=name_th,
                    name_en=name_en,
                    clusters=proto.clusters,
                    occurred_at=to_timestamp(utcnow()),
                ),
                province,
            )
            return proto

        return ms.CreateNetworkResponse(network=await self._writer.run(create, "CreateNetwork"))

    async def AddCluster(
        self, request: ms.AddClusterRequest, context: grpc.aio.ServicerContext
    ) -> ms.AddClusterResponse:
        v = FieldViolations()
        check_province(v, "province_code", request.province_code)
        cluster = domain.validate_cluster(v, "cluster", request.cluster)
        v.raise_if_any()
        province = request.province_code

        def add(uow: UnitOfWork) -> membership_pb2.Network:
            network = uow.session.get(store.NetworkRow, province)
            if network is None:
                raise NotFound(
                    f"{province} has no network yet; create it first", field="province_code"
                )
            if uow.session.get(store.ClusterRow, (province, cluster.cluster_code)) is not None:
                raise AlreadyExists(
                    f"{province} already has cluster {cluster.cluster_code!r}",
                    field="cluster.cluster_code",
                )
            uow.session.add(store.ClusterRow(province_code=province, **cluster.__dict__))
            uow.session.flush()
            uow.emit(
                MEMBERSHIP,
                province,
                events_pb2.ClusterAdded(
                    province_code=province,
                    cluster=membership_pb2.Cluster(**cluster.__dict__),
                    occurred_at=to_timestamp(utcnow()),
                ),
                province,
            )
            return network_to_proto(uow.session, network)

        return ms.AddClusterResponse(network=await self._writer.run(add, "AddCluster"))

    async def GetNetwork(
        self, request: ms.GetNetworkRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetNetworkResponse:
        v = FieldViolations()
        check_province(v, "province_code", request.province_code)
        v.raise_if_any()
        province = request.province_code

        def read(session: Session) -> ms.GetNetworkResponse:
            network = session.get(store.NetworkRow, province)
            if network is None:
                raise NotFound(f"{province} has no Biz Club network yet", field="province_code")
            committee = store.current_committee(session, province, datetime.now(UTC).date())
            name_th, name_en = PROVINCES[province]
            return ms.GetNetworkResponse(
                network=network_to_proto(session, network),
                committee=[appointment_to_proto(a) for a in committee],
                province=common_pb2.Province(
                    province_code=province, name_th=name_th, name_en=name_en
                ),
            )

        return await self._db.read(read)

    # --- members --------------------------------------------------------------------

    async def RegisterMember(
        self, request: ms.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.RegisterMemberResponse:
        facts, contact = domain.validate_registration(request)

        # All but the validation runs in the writer thread, in the batch: the event loop
        # answers every caller and sets the pace at c64, and work taken off it (the Thai
        # search entries, the answer) gave 5-10% more calls (docs/performance.md).
        def register(uow: UnitOfWork) -> ms.RegisterMemberResponse:
            province = store.cluster_province(uow.session, facts.province_code, facts.cluster_code)
            domain.require_cluster_of_province(province, facts.province_code, facts.cluster_code)
            member = domain.Member.register(facts, contact, utcnow())
            search_text = store.search_text_of(facts.business_name_th, facts.business_name_en)
            store.insert_member(uow, member, contact, search_text)
            emit_all(uow, member.member_id, member.province_code, member.events)
            return ms.RegisterMemberResponse(member=member_to_proto(member, contact))

        return await self._writer.run(register, "RegisterMember")

    async def _change(
        self, member_id: str, name: str, change: Callable[[UnitOfWork, domain.Member], None]
    ) -> membership_pb2.Member:
        """Load a member, apply a lifecycle change, save it and its events."""
        member_id = require_id(member_id, "member_id")

        def apply(uow: UnitOfWork) -> membership_pb2.Member:
            row = store.member_row(uow.session, member_id)
            member = store.to_domain(row)
            change(uow, member)
            store.apply_to_row(member, row)
            emit_all(uow, member.member_id, member.province_code, member.events)
            contacts = store.contacts_of(uow.session, [member_id])
            return member_to_proto(row, contacts.get(member_id))

        return await self._writer.run(apply, name)

    async def ApproveMember(
        self, request: ms.ApproveMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.ApproveMemberResponse:
        resolution = domain.reason_text(request.resolution, "resolution")

        def approve(uow: UnitOfWork, member: domain.Member) -> None:
            member.approve(resolution, utcnow())

        return ms.ApproveMemberResponse(
            member=await self._change(request.member_id, "ApproveMember", approve)
        )

    async def SuspendMember(
        self, request: ms.SuspendMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.SuspendMemberResponse:
        reason = domain.reason_text(request.reason)

        def suspend(uow: UnitOfWork, member: domain.Member) -> None:
            member.suspend(reason, utcnow())

        return ms.SuspendMemberResponse(
            member=await self._change(request.member_id, "SuspendMember", suspend)
        )

    async def ReinstateMember(
        self, request: ms.ReinstateMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.ReinstateMemberResponse:
        reason = domain.reason_text(request.reason)

        def reinstate(uow: UnitOfWork, member: domain.Member) -> None:
            member.reinstate(reason, utcnow())

        return ms.ReinstateMemberResponse(
            member=await self._change(request.member_id, "ReinstateMember", reinstate)
        )

    async def LeaveNetwork(
        self, request: ms.LeaveNetworkRequest, context: grpc.aio.ServicerContext
    ) -> ms.LeaveNetworkResponse:
        reason = domain.reason_text(request.reason)

        def leave(uow: UnitOfWork, member: domain.Member) -> None:
            member.leave(reason, utcnow())
            # A member who leaves stops mentoring and being mentored.
            for row in store.list_mentorships(uow.session, None, member.member_id, False):
                mentorship = store.to_mentorship(row)
                ended = domain.end_mentorship(mentorship, utcnow())
                row.ended_at = mentorship.ended_at
                # Keyed like its MentorshipStarted (by the mentee), so the two stay in order.
                uow.emit(MEMBERSHIP, row.mentee_member_id, ended, row.province_code)

        return ms.LeaveNetworkResponse(
            member=await self._change(request.member_id, "LeaveNetwork", leave)
        )

    async def ChangeMemberCluster(
        self, request: ms.ChangeMemberClusterRequest, context: grpc.aio.ServicerContext
    ) -> ms.ChangeMemberClusterResponse:
        cluster_code = request.cluster_code.strip()
        if not cluster_code:
            raise InvalidArgument("is required, e.g. textiles", field="cluster_code")

        def change(uow: UnitOfWork, member: domain.Member) -> None:
            province = store.cluster_province(uow.session, member.province_code, cluster_code)
            domain.require_cluster_of_province(province, member.province_code, cluster_code)
            member.change_cluster(cluster_code, utcnow())

        return ms.ChangeMemberClusterResponse(
            member=await self._change(request.member_id, "ChangeMemberCluster", change)
        )

    async def GetMember(
        self, request: ms.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetMemberResponse:
        member_id = require_id(request.member_id, "member_id")

        def read(session: Session) -> ms.GetMemberResponse:
            row = store.member_row(session, member_id)
            contacts = store.contacts_of(session, [member_id])
            return ms.GetMemberResponse(member=member_to_proto(row, contacts.get(member_id)))

        return await self._db.read(read)

    async def BatchGetMembers(
        self, request: ms.BatchGetMembersRequest, context: grpc.aio.ServicerContext
    ) -> ms.BatchGetMembersResponse:
        ids = list(dict.fromkeys(i.strip() for i in request.member_ids))
        if len(ids) > MAX_PAGE:
            raise InvalidArgument(f"at most {MAX_PAGE} ids per call", field="member_ids")

        def read(session: Session) -> ms.BatchGetMembersResponse:
            rows = session.execute(
                select(store.MemberRow).where(col(store.MemberRow.member_id).in_(ids))
            ).scalars()
            # Members outside the caller's scope are reported missing, as if not there.
            provinces, cluster = visible_provinces(), visible_cluster()
            by_id = {
                row.member_id: row
                for row in rows
                if (provinces is None or row.province_code in provinces)
                and cluster in ("", row.cluster_code)
            }
            contacts = store.contacts_of(session, list(by_id))
            return ms.BatchGetMembersResponse(
                members=[member_to_proto(by_id[i], contacts.get(i)) for i in ids if i in by_id],
                missing_member_ids=[i for i in ids if i not in by_id],
            )

        return await self._db.read(read)

    async def ListMembers(
        self, request: ms.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> ms.ListMembersResponse:
        v = FieldViolations()
        if request.province_code:
            check_province(v, "province_code", request.province_code)
        if request.page.page_size < 0:
            v.add("page.page_size", f"must be between 0 and {MAX_PAGE}")
        if len(request.query) > domain.MAX_NAME:
            v.add("query", f"is longer than {domain.MAX_NAME} characters")
        elif request.query.strip() and not store.query_chunks(request.query):
            v.add("query", "has no letters or digits to search for")
        v.raise_if_any()
        # Narrowed to the caller's provinces (and a cluster lead's cluster), not refused.
        provinces = visible_provinces(request.province_code)
        cluster = visible_cluster(request.cluster_code.strip())
        if provinces == [] or cluster is None:
            return ms.ListMembersResponse()

        def read(session: Session) -> ms.ListMembersResponse:
            rows, next_token = store.list_members(
                session,
                province_codes=provinces,
                cluster_code=cluster,
                status=request.status,
                enterprise_type=request.enterprise_type,
                query=request.query,
                page_size=request.page.page_size,
                page_token=request.page.page_token,
            )
            contacts = store.contacts_of(session, [r.member_id for r in rows])
            return ms.ListMembersResponse(
                members=[member_to_proto(r, contacts.get(r.member_id)) for r in rows],
                page=common_pb2.PageResponse(next_page_token=next_token),
            )

        return await self._db.read(read)

    # --- committee and mentoring ------------------------------------------------------

    async def AppointCommitteeMember(
        self, request: ms.AppointCommitteeMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.AppointCommitteeMemberResponse:
        member_id = require_id(request.member_id, "member_id")
        v = FieldViolations()
        if request.role == 0 or request.role not in membership_pb2.CommitteeRole.values():
            v.add(
                "role",
                "is required: chair, vice chair, secretary, treasurer, cluster lead or member",
            )
        cluster_code = request.cluster_code.strip()
        if request.role == membership_pb2.COMMITTEE_ROLE_CLUSTER_LEAD and not cluster_code:
            v.add("cluster_code", "is required for a cluster lead")
        start = to_common_era(request.term_start, v, "term_start")
        end = to_common_era(request.term_end, v, "term_end")
        v.raise_if_any()
        assert start is not None and end is not None

        def appoint(uow: UnitOfWork) -> membership_pb2.CommitteeAppointment:
            row = store.member_row(uow.session, member_id)
            member = store.to_domain(row)
            if cluster_code:
                province = store.cluster_province(uow.session, member.province_code, cluster_code)
                domain.require_cluster_of_province(province, member.province_code, cluster_code)
            overlapping = store.overlapping_appointments(
                uow.session, member.province_code, start, end
            )
            appointment, event = domain.appoint(
                member, request.role, cluster_code, start, end, overlapping, utcnow()
            )
            appointment_row = store.AppointmentRow(**appointment.__dict__)
            uow.session.add(appointment_row)
            uow.emit(MEMBERSHIP, member.member_id, event, member.province_code)
            return appointment_to_proto(appointment_row)

        return ms.AppointCommitteeMemberResponse(
            appointment=await self._writer.run(appoint, "AppointCommitteeMember")
        )

    async def StartMentorship(
        self, request: ms.StartMentorshipRequest, context: grpc.aio.ServicerContext
    ) -> ms.StartMentorshipResponse:
        mentor_id = require_id(request.mentor_member_id, "mentor_member_id")
        mentee_id = require_id(request.mentee_member_id, "mentee_member_id")
        focus = domain.reason_text(request.focus, "focus")
        if mentor_id == mentee_id:
            raise InvalidArgument("a member cannot mentor themselves", field="mentee_member_id")

        def start(uow: UnitOfWork) -> membership_pb2.Mentorship:
            mentor = store.to_domain(store.member_row(uow.session, mentor_id, "mentor_member_id"))
            mentee = store.to_domain(store.member_row(uow.session, mentee_id, "mentee_member_id"))
            busy = store.has_active_mentor(uow.session, mentee_id)
            mentorship, event = domain.start_mentorship(mentor, mentee, focus, busy, utcnow())
            uow.session.add(store.MentorshipRow(**mentorship.__dict__))
            uow.emit(MEMBERSHIP, mentee.member_id, event, mentee.province_code)
            return mentorship_to_proto(mentorship)

        return ms.StartMentorshipResponse(
            mentorship=await self._writer.run(start, "StartMentorship")
        )

    async def EndMentorship(
        self, request: ms.EndMentorshipRequest, context: grpc.aio.ServicerContext
    ) -> ms.EndMentorshipResponse:
        mentorship_id = require_id(request.mentorship_id, "mentorship_id")

        def end(uow: UnitOfWork) -> membership_pb2.Mentorship:
            row = uow.session.get(store.MentorshipRow, mentorship_id)
            if row is None:
                raise NotFound(f"no mentorship with id {mentorship_id!r}", field="mentorship_id")
            mentorship = store.to_mentorship(row)
            event = domain.end_mentorship(mentorship, utcnow())
            row.ended_at = mentorship.ended_at
            uow.emit(MEMBERSHIP, row.mentee_member_id, event, row.province_code)
            return mentorship_to_proto(mentorship)

        return ms.EndMentorshipResponse(mentorship=await self._writer.run(end, "EndMentorship"))

    async def ListMentorships(
        self, request: ms.ListMentorshipsRequest, context: grpc.aio.ServicerContext
    ) -> ms.ListMentorshipsResponse:
        if request.province_code:
            v = FieldViolations()
            check_province(v, "province_code", request.province_code)
            v.raise_if_any()
        provinces = visible_provinces(request.province_code)
        if provinces == []:
            return ms.ListMentorshipsResponse()
        rows = await self._db.read(
            lambda session: store.list_mentorships(
                session, provinces, request.member_id.strip(), request.include_ended
            )
        )
        return ms.ListMentorshipsResponse(mentorships=[mentorship_to_proto(r) for r in rows])

    # --- personal data (PDPA) ---------------------------------------------------------

    async def EraseMemberPersonalData(
        self, request: ms.EraseMemberPersonalDataRequest, context: grpc.aio.ServicerContext
    ) -> ms.EraseMemberPersonalDataResponse:
        member_id = require_id(request.member_id, "member_id")
        domain.reason_text(request.reason)

        def erase(uow: UnitOfWork) -> ms.EraseMemberPersonalDataResponse:
            row = store.member_row(uow.session, member_id)
            contact = uow.session.get(store.ContactRow, member_id)
            if contact is not None:
                uow.session.delete(contact)
                event = domain.personal_data_erased(store.to_domain(row), utcnow())
                uow.emit(MEMBERSHIP, member_id, event, row.province_code)
            return ms.EraseMemberPersonalDataResponse(
                member=member_to_proto(row, None), erased=contact is not None
            )

        return await self._writer.run(erase, "EraseMemberPersonalData")
