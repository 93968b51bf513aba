"""Who may call what on analytics: the service's one policy table.

Central reads every province; a province officer reads their provinces; a cluster
lead reads their province, narrowed to their cluster in the handler; services read.
A member reads only their own history. Figures without a province (nationwide, the
province comparison) are narrowed to the caller's provinces in the handler. Only
central starts a rebuild (it replaces every province's figures).
"""

from __future__ import annotations

from typing import Any

from bizclub.analytics.v1 import analytics_service_pb2
from bizclub_shared.auth import CENTRAL, MEMBER, READERS, AccessPolicy, Target, rule
from bizclub_shared.db import Database

from analytics import store

SERVICE_NAME = analytics_service_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name


def access_policy(db: Database) -> AccessPolicy:
    async def scope_of_request(request: Any) -> Target | None:
        province = request.scope.province_code.strip()
        return Target(province, request.scope.cluster_code.strip()) if province else None

    async def member_of_request(request: Any) -> Target | None:
        member_id = request.member_id.strip()
        found = await db.read(lambda session: store.member_target(session, member_id))
        return None if found is None else Target(found[0], found[1], member_id)

    table = {
        "GetIndicators": rule(*READERS, target=scope_of_request),
        "CompareProvinces": rule(*READERS),  # narrowed in the handler
        "GetRevenueTrend": rule(*READERS, target=scope_of_request),
        "GetMatchingFunnel": rule(*READERS, target=scope_of_request),
        "ListMemberRevenue": rule(*READERS, target=scope_of_request),
        "GetMemberHistory": rule(*READERS, MEMBER, target=member_of_request),
        "ExportIndicatorsCsv": rule(*READERS, target=scope_of_request),
        "StartRebuild": rule(CENTRAL),
        "GetRebuildStatus": rule(*READERS),  # no data, only progress
    }
    return {f"/{SERVICE_NAME}/{method}": access for method, access in table.items()}
