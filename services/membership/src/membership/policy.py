"""Who may call what on membership: the service's one policy table.

Province officers read and write their provinces' networks and members; cluster
leads read their cluster; a member reads their own record and may ask for its
erasure; central reads everything and writes the networks' shape (policy);
services read. Lists are open to the reading roles and narrowed in the handler.
"""

from __future__ import annotations

from typing import Any

from bizclub.membership.v1 import membership_service_pb2
from bizclub_shared.auth import (
    CENTRAL,
    LEAD,
    MEMBER,
    OFFICER,
    SERVICE,
    AccessPolicy,
    Target,
    TargetLookup,
    province_of_request,
    rule,
)
from bizclub_shared.db import Database
from sqlmodel import col

from membership import store

SERVICE_NAME = membership_service_pb2.DESCRIPTOR.services_by_name["MembershipService"].full_name


def access_policy(db: Database) -> AccessPolicy:
    m, ms = store.MemberRow, store.MentorshipRow
    member = TargetLookup(
        db,
        col(m.member_id),
        province=col(m.province_code),
        cluster=col(m.cluster_code),
        member=col(m.member_id),
    )
    mentorship_target = TargetLookup(db, col(ms.mentorship_id), province=col(ms.province_code))

    async def member_of_request(request: Any) -> Target | None:
        return await member(request.member_id)

    async def mentor_and_mentee(request: Any) -> list[Target]:
        found = [await member(request.mentor_member_id), await member(request.mentee_member_id)]
        return [t for t in found if t is not None]

    async def mentorship(request: Any) -> Target | None:
        return await mentorship_target(request.mentorship_id)

    table = {
        "CreateNetwork": rule(CENTRAL, OFFICER, target=province_of_request),
        "AddCluster": rule(CENTRAL, OFFICER, target=province_of_request),
        "GetNetwork": rule(CENTRAL, OFFICER, LEAD, MEMBER, SERVICE),  # no personal data
        "RegisterMember": rule(OFFICER, target=province_of_request),
        "ApproveMember": rule(OFFICER, target=member_of_request),
        "GetMember": rule(CENTRAL, OFFICER, LEAD, MEMBER, SERVICE, target=member_of_request),
        "BatchGetMembers": rule(CENTRAL, OFFICER, LEAD, SERVICE),  # narrowed in the handler
        "ListMembers": rule(CENTRAL, OFFICER, LEAD, SERVICE),  # narrowed in the handler
        "ChangeMemberCluster": rule(OFFICER, target=member_of_request),
        "SuspendMember": rule(OFFICER, target=member_of_request),
        "ReinstateMember": rule(OFFICER, target=member_of_request),
        "LeaveNetwork": rule(OFFICER, target=member_of_request),
        "AppointCommitteeMember": rule(OFFICER, target=member_of_request),
        "StartMentorship": rule(OFFICER, target=mentor_and_mentee),
        "EndMentorship": rule(OFFICER, target=mentorship),
        "ListMentorships": rule(CENTRAL, OFFICER, LEAD, SERVICE),  # narrowed in the handler
        "EraseMemberPersonalData": rule(OFFICER, MEMBER, target=member_of_request),
    }
    return {f"/{SERVICE_NAME}/{method}": access for method, access in table.items()}
