"""Who may call what on training: the service's one policy table.

Province officers run their provinces' sessions, enrolments and product projects;
a member enrols themself and reads their own history and certificates; cluster
leads and central read; services read. The session catalogue is open to every
role (it holds no personal data); lists of people's data are narrowed in the handler.
"""

from __future__ import annotations

from typing import Any

from bizclub.training.v1 import training_service_pb2
from bizclub_shared.auth import (
    CENTRAL,
    EVERYONE,
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

from training import store
from training.members import MembershipClient

SERVICE_NAME = training_service_pb2.DESCRIPTOR.services_by_name["TrainingService"].full_name


def access_policy(db: Database, members: MembershipClient) -> AccessPolicy:
    s, p, ref = store.SessionRow, store.ProjectRow, store.MemberRefRow
    session_target = TargetLookup(db, col(s.session_id), province=col(s.province_code))
    # Training knows members from membership's events; an enrolment remembers the
    # member's province even for one not (yet) projected.
    member_targets = [
        TargetLookup(
            db,
            col(table.member_id),
            province=col(table.province_code),
            cluster=col(table.cluster_code),
            member=col(table.member_id),
        )
        for table in (store.MemberRefRow, store.EnrollmentRow)
    ]
    project_target = TargetLookup(
        db, col(p.project_id), province=col(p.province_code), member=col(p.member_id)
    )
    member_cluster = TargetLookup(
        db, col(ref.member_id), province=col(ref.province_code), cluster=col(ref.cluster_code)
    )

    async def session(request: Any) -> Target | None:
        return await session_target(request.session_id)

    async def place(request: Any) -> Target | None:
        # An enrolment is the session's province's business, and the member's own.
        found = await session(request)
        return Target(found.province, member_id=request.member_id.strip()) if found else None

    async def member(request: Any) -> Target | None:
        member_id = request.member_id.strip()
        if not member_id:
            return None  # the handler names the missing field
        # Training knows members from membership's events; an enrolment remembers
        # the member's province even for one not (yet) projected.
        for lookup in member_targets:
            found = await lookup(member_id)
            if found is not None:
                return found
        # Just approved, not heard of yet: ask membership (NOT_FOUND there is
        # INVALID_ARGUMENT here, as in the handlers).
        facts = await members.member(member_id)
        return Target(facts.province_code, facts.cluster_code, facts.member_id)

    async def project(request: Any) -> Target | None:
        found = await project_target(request.project_id)
        if found is None:
            return None
        # The member's cluster, so a cluster lead sees only their cluster's projects.
        member_ref = await member_cluster(found.member_id)
        return Target(found.province, member_ref.cluster if member_ref else "", found.member_id)

    table = {
        "ScheduleSession": rule(OFFICER, target=province_of_request),
        "CancelSession": rule(OFFICER, target=session),
        "GetSession": rule(*EVERYONE),
        "ListSessions": rule(*EVERYONE),
        "EnrollMember": rule(OFFICER, MEMBER, target=place),
        "CancelEnrollment": rule(OFFICER, MEMBER, target=place),
        "RecordAttendance": rule(OFFICER, target=session),
        "CompleteEnrollment": rule(OFFICER, target=session),
        "GetRoster": rule(*READERS, target=session),
        "ListMemberEnrollments": rule(*EVERYONE, target=member),
        "GetCompletionCertificate": rule(CENTRAL, OFFICER, MEMBER, target=place),
        "StartProductProject": rule(OFFICER, target=member),
        "AdvanceProductProject": rule(OFFICER, target=project),
        "CompleteProductProject": rule(OFFICER, target=project),
        "GetProductProject": rule(*EVERYONE, target=project),
        "ListProductProjects": rule(*READERS),  # narrowed in the handler
    }
    return {f"/{SERVICE_NAME}/{method}": access for method, access in table.items()}
