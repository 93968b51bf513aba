"""The AnalyticsService gRPC servicer: scope and period in, indicators out.

Every query reads the generation served (one read transaction), loads the facts of the
provinces the caller may see and computes the figures (domain). A province officer's
nationwide is their provinces; a cluster lead's figures are their cluster's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any, TypeVar

from bizclub.analytics.v1 import analytics_service_pb2 as an
from bizclub.analytics.v1 import analytics_service_pb2_grpc
from bizclub.common.v1 import common_pb2
from bizclub_shared.auth import visible_cluster, visible_provinces
from bizclub_shared.db import Database
from bizclub_shared.errors import FieldViolations, NotFound
from bizclub_shared.paging import decode_cursor, encode_cursor, page_size
from bizclub_shared.thai_text import to_common_era_year
from bizclub_shared.timestamps import to_timestamp
from bizclub_shared.validation import check_province, require_id
from sqlalchemy.orm import Session

from analytics import domain, store
from analytics.replay import Rebuilder

T = TypeVar("T")
EMPTY = domain.Scope(frozenset())  # a scope nobody's data is in


# --- requests in ---------------------------------------------------------------------


def parse_month(violations: FieldViolations, field_name: str, month: an.Month) -> int | None:
    year = to_common_era_year(month.year) if month.year else 0
    if not 1900 <= year <= 2300 or not 1 <= month.month <= 12:
        violations.add(
            field_name, "is not a month: year (พ.ศ. or ค.ศ.) and month 1-12, e.g. 2569/3"
        )
        return None
    return domain.month_key(year, month.month)


def parse_period(violations: FieldViolations, period: an.Period) -> domain.Period:
    start = end = None
    if period.HasField("start_month"):
        start = parse_month(violations, "period.start_month", period.start_month)
    if period.HasField("end_month"):
        end = parse_month(violations, "period.end_month", period.end_month)
    if start is not None and end is not None and start > end:
        violations.add("period.end_month", "is before period.start_month")
    return domain.Period(start, end)


def parse_scope(violations: FieldViolations, scope: an.Scope) -> domain.Scope:
    """The scope asked for, narrowed to what the caller may see."""
    province, cluster = scope.province_code.strip(), scope.cluster_code.strip()
    if province:
        check_province(violations, "scope.province_code", province)
    elif cluster:
        violations.add("scope.cluster_code", "needs scope.province_code: clusters are per province")
    if len(cluster) > 40:
        violations.add("scope.cluster_code", "is longer than 40 characters")
    visible = visible_provinces(province)
    narrowed = visible_cluster(cluster)
    if narrowed is None or visible == []:
        return EMPTY
    return domain.Scope(None if visible is None else frozenset(visible), narrowed)


def parse(scope: an.Scope, period: an.Period) -> tuple[domain.Scope, domain.Period]:
    violations = FieldViolations()
    parsed_scope = parse_scope(violations, scope)
    parsed_period = parse_period(violations, period)
    violations.raise_if_any()
    return parsed_scope, parsed_period


# --- proto out -----------------------------------------------------------------------


def money(satang: int) -> common_pb2.Money:
    return common_pb2.Money(satang=satang, currency_code="THB")


def month_proto(key: int) -> an.Month:
    year, month = domain.split_month(key)
    return an.Month(year=year, month=month)


def period_proto(period: domain.Period) -> an.Period:
    proto = an.Period()
    if period.start is not None:
        proto.start_month.CopyFrom(month_proto(period.start))
    if period.end is not None:
        proto.end_month.CopyFrom(month_proto(period.end))
    return proto


def scope_proto(scope: domain.Scope) -> an.Scope:
    province = next(iter(scope.provinces)) if scope.provinces and len(scope.provinces) == 1 else ""
    return an.Scope(province_code=province, cluster_code=scope.cluster)


def funnel_proto(f: domain.Funnel) -> an.MatchingFunnel:
    return an.MatchingFunnel(
        suggested=f.suggested,
        requested=f.requested,
        held=f.held,
        deals=f.deals,
        deal_value=money(f.deal_value_satang),
        fair_sales=money(f.fair_sales_satang),
    )


def indicators_proto(
    ind: domain.Indicators, scope: domain.Scope, period: domain.Period
) -> an.Indicators:
    m, t, r, p, s = ind.members, ind.training, ind.revenue, ind.problems, ind.satisfaction
    return an.Indicators(
        scope=scope_proto(scope),
        period=period_proto(period),
        members=an.MemberIndicators(
            total=m.total,
            by_status=[
                an.StatusCount(status=k, members=v)  # type: ignore[arg-type]
                for k, v in sorted(m.by_status.items())
            ],
            active_by_type=[
                an.EnterpriseTypeCount(enterprise_type=k, members=v)  # type: ignore[arg-type]
                for k, v in sorted(m.active_by_type.items())
            ],
            registered_in_period=m.registered_in_period,
        ),
        training=an.TrainingIndicators(
            sessions=t.sessions,
            seats=t.seats,
            enrolled=t.enrolled,
            waitlisted=t.waitlisted,
            attended=t.attended,
            attended_hours=t.attended_hours,
            completed=t.completed,
            completion_percent=t.completion_percent,
            seat_fill_percent=t.seat_fill_percent,
        ),
        funnel=funnel_proto(ind.funnel),
        revenue=an.RevenueIndicators(
            reports=r.reports,
            members_reporting=r.members_reporting,
            revenue_total=money(r.revenue_total_satang),
            average_monthly_revenue=money(r.average_monthly_satang),
            average_baseline=money(r.average_baseline_satang),
            average_latest_revenue=money(r.average_latest_satang),
            members_grew=r.members_grew,
            grew_percent=r.grew_percent,
        ),
        sales_channels=[
            an.ChannelCount(channel=k, members=v)  # type: ignore[arg-type]
            for k, v in ind.channels.items()
        ],
        problems=an.ProblemIndicators(
            reported=p.reported,
            open=p.open,
            escalated=p.escalated,
            resolved=p.resolved,
            median_days_to_resolve=p.median_days_to_resolve,
        ),
        satisfaction=an.SatisfactionIndicators(
            responses=s.responses, average_rating=s.average_rating
        ),
    )


def member_revenue_proto(row: domain.MemberRevenue) -> an.MemberRevenue:
    m = row.member
    proto = an.MemberRevenue(
        member_id=m.member_id,
        province_code=m.province_code,
        cluster_code=m.cluster_code,
        business_name_th=m.business_name_th,
        enterprise_type=m.enterprise_type,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        baseline_monthly_revenue=money(m.baseline_satang),
        grew=row.grew,
    )
    if row.latest_month:
        proto.latest_month.CopyFrom(month_proto(row.latest_month))
        proto.latest_revenue.CopyFrom(money(row.latest_revenue_satang))
    return proto


def rebuild_status_proto(row: store.GenerationRow | None, active: int) -> an.RebuildStatus:
    states = {
        store.BUILDING: an.REBUILD_STATE_RUNNING,
        store.ACTIVE: an.REBUILD_STATE_COMPLETED,
        store.RETIRED: an.REBUILD_STATE_COMPLETED,
        store.FAILED: an.REBUILD_STATE_FAILED,
    }
    status = an.RebuildStatus(active_generation=active)
    if row is None:
        return status
    status.generation = row.generation
    status.state = states.get(row.state, an.REBUILD_STATE_UNSPECIFIED)
    status.records_read = row.records_read
    status.records_total = row.records_total
    status.error = row.error
    status.started_at.CopyFrom(to_timestamp(row.started_at))
    if row.finished_at is not None:
        status.finished_at.CopyFrom(to_timestamp(row.finished_at))
    return status


# --- CSV -------------------------------------------------------------------------------

CHANNELS = [v.number for v in common_pb2.SalesChannel.DESCRIPTOR.values if v.number != 0]
STATUSES = [domain.APPLIED, domain.ACTIVE, domain.SUSPENDED, domain.LEFT]


def baht(satang: int) -> str:
    sign = "-" if satang < 0 else ""
    return f"{sign}{abs(satang) // 100}.{abs(satang) % 100:02d}"


CSV_COLUMNS = [
    "province_code",
    "cluster_code",
    "month",
    "members_total",
    "members_applied",
    "members_active",
    "members_suspended",
    "members_left",
    "members_registered",
    "sessions",
    "seats",
    "enrolled",
    "waitlisted",
    "attended",
    "attended_hours",
    "completed",
    "completion_percent",
    "suggested",
    "requested",
    "held",
    "deals",
    "deal_value_thb",
    "fair_sales_thb",
    "reports",
    "members_reporting",
    "revenue_total_thb",
    "average_monthly_revenue_thb",
    "average_baseline_thb",
    "average_latest_revenue_thb",
    "members_grew",
    "grew_percent",
    "problems_reported",
    "problems_open",
    "problems_escalated",
    "problems_resolved",
    "median_days_to_resolve",
    "survey_responses",
    "average_rating",
    *[
        "channel_" + common_pb2.SalesChannel.Name(c).removeprefix("SALES_CHANNEL_").lower()  # type: ignore[arg-type]
        for c in CHANNELS
    ],
]


def month_label(key: int) -> str:
    year, month = domain.split_month(key)
    return f"{year:04d}-{month:02d}"


def csv_row(province: str, cluster: str, month: str, ind: domain.Indicators) -> list[Any]:
    m, t, f, r, p, s = (
        ind.members,
        ind.training,
        ind.funnel,
        ind.revenue,
        ind.problems,
        ind.satisfaction,
    )
    return [
        province,
        cluster,
        month,
        m.total,
        *[m.by_status.get(k, 0) for k in STATUSES],
        m.registered_in_period,
        t.sessions,
        t.seats,
        t.enrolled,
        t.waitlisted,
        t.attended,
        t.attended_hours,
        t.completed,
        t.completion_percent,
        f.suggested,
        f.requested,
        f.held,
        f.deals,
        baht(f.deal_value_satang),
        baht(f.fair_sales_satang),
        r.reports,
        r.members_reporting,
        baht(r.revenue_total_satang),
        baht(r.average_monthly_satang),
        baht(r.average_baseline_satang),
        baht(r.average_latest_satang),
        r.members_grew,
        r.grew_percent,
        p.reported,
        p.open,
        p.escalated,
        p.resolved,
        p.median_days_to_resolve,
        s.responses,
        s.average_rating,
        *[ind.channels.get(c, 0) for c in CHANNELS],
    ]


def csv_rows(
    ix: domain.Indexed,
    scope: domain.Scope,
    period: domain.Period,
    *,
    by_cluster: bool,
    by_month: bool,
) -> list[list[Any]]:
    provinces = [p for p in ix.facts.provinces() if scope.covers(p)]
    months: list[int | None] = [m for m in ix.facts.months() if m in period] if by_month else [None]
    rows: list[list[Any]] = []
    for province in provinces:
        clusters = [""]
        if scope.cluster:
            clusters = [scope.cluster]
        elif by_cluster:
            clusters = ix.facts.clusters(province)
        for cluster in clusters:
            for month in months:
                cell_period = period if month is None else domain.Period(month, month)
                cell_scope = domain.Scope(frozenset({province}), cluster)
                ind = domain.indicators(ix, cell_scope, cell_period)
                label = "" if month is None else month_label(month)
                rows.append(csv_row(province, cluster, label, ind))
    return rows


def csv_bytes(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_filename(request: an.ExportIndicatorsCsvRequest, period: domain.Period) -> str:
    parts = ["bizclub-indicators", request.scope.province_code or "nationwide"]
    if request.scope.cluster_code:
        parts.append(request.scope.cluster_code)
    for key in (period.start, period.end):
        if key is not None:
            parts.append(month_label(key))
    return "-".join(parts) + ".csv"


# --- the servicer ----------------------------------------------------------------------


class AnalyticsApi(analytics_service_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, db: Database, rebuilder: Rebuilder) -> None:
        self._db = db
        self._rebuilder = rebuilder

    async def _facts(self, scope: domain.Scope, compute: Callable[[domain.Indexed, int], T]) -> T:
        """Load the scope's facts from the generation served and compute on them."""

        def read(session: Session) -> T:
            gen = store.active_generation(session)
            provinces = None if scope.provinces is None else sorted(scope.provinces)
            return compute(domain.Indexed(store.load_facts(session, gen, provinces)), gen)

        return await self._db.read(read)

    async def GetIndicators(
        self, request: an.GetIndicatorsRequest, context: object
    ) -> an.GetIndicatorsResponse:
        scope, period = parse(request.scope, request.period)

        def compute(ix: domain.Indexed, gen: int) -> an.GetIndicatorsResponse:
            ind = domain.indicators(ix, scope, period)
            return an.GetIndicatorsResponse(
                indicators=indicators_proto(ind, scope, period), generation=gen
            )

        return await self._facts(scope, compute)

    async def CompareProvinces(
        self, request: an.CompareProvincesRequest, context: object
    ) -> an.CompareProvincesResponse:
        scope, period = parse(an.Scope(), request.period)

        def compute(ix: domain.Indexed, gen: int) -> an.CompareProvincesResponse:
            rows = []
            for province in ix.facts.provinces():
                if not scope.covers(province):
                    continue
                one = domain.Scope(frozenset({province}), scope.cluster)
                name_th, name_en = ix.facts.networks.get(province, ("", ""))
                rows.append(
                    an.ProvinceIndicators(
                        province=common_pb2.Province(
                            province_code=province, name_th=name_th, name_en=name_en
                        ),
                        indicators=indicators_proto(
                            domain.indicators(ix, one, period), one, period
                        ),
                    )
                )
            nationwide = domain.indicators(ix, scope, period)
            return an.CompareProvincesResponse(
                provinces=rows, nationwide=indicators_proto(nationwide, scope, period)
            )

        return await self._facts(scope, compute)

    async def GetRevenueTrend(
        self, request: an.GetRevenueTrendRequest, context: object
    ) -> an.GetRevenueTrendResponse:
        scope, period = parse(request.scope, request.period)

        def compute(ix: domain.Indexed, gen: int) -> an.GetRevenueTrendResponse:
            return an.GetRevenueTrendResponse(
                months=[
                    an.RevenueMonth(
                        month=month_proto(m.month),
                        members_reporting=m.members_reporting,
                        revenue_total=money(m.revenue_total_satang),
                        average_revenue=money(m.average_revenue_satang),
                        average_baseline=money(m.average_baseline_satang),
                        members_above_baseline=m.members_above_baseline,
                        above_baseline_percent=m.above_baseline_percent,
                    )
                    for m in domain.revenue_trend(ix, scope, period)
                ]
            )

        return await self._facts(scope, compute)

    async def GetMatchingFunnel(
        self, request: an.GetMatchingFunnelRequest, context: object
    ) -> an.GetMatchingFunnelResponse:
        scope, period = parse(request.scope, request.period)

        def compute(ix: domain.Indexed, gen: int) -> an.GetMatchingFunnelResponse:
            return an.GetMatchingFunnelResponse(
                total=funnel_proto(domain.funnel(ix, scope, period)),
                months=[
                    an.FunnelMonth(month=month_proto(month), funnel=funnel_proto(f))
                    for month, f in domain.funnel_by_month(ix, scope, period)
                ],
            )

        return await self._facts(scope, compute)

    async def ListMemberRevenue(
        self, request: an.ListMemberRevenueRequest, context: object
    ) -> an.ListMemberRevenueResponse:
        scope, period = parse(request.scope, request.period)
        filters = f"{request.scope.province_code}|{request.scope.cluster_code}|{period}"
        after = decode_cursor(request.page.page_token, filters, (str,))
        size = page_size(request.page.page_size)

        def compute(ix: domain.Indexed, gen: int) -> an.ListMemberRevenueResponse:
            rows = domain.member_revenue(ix, scope, period)
            if after is not None:
                rows = [r for r in rows if r.member.member_id > str(after[0])]
            page, more = rows[:size], len(rows) > size
            token = encode_cursor([page[-1].member.member_id], filters) if more else ""
            return an.ListMemberRevenueResponse(
                members=[member_revenue_proto(r) for r in page],
                page=common_pb2.PageResponse(next_page_token=token),
            )

        return await self._facts(scope, compute)

    async def GetMemberHistory(
        self, request: an.GetMemberHistoryRequest, context: object
    ) -> an.GetMemberHistoryResponse:
        member_id = require_id(request.member_id, "member_id")

        def read(session: Session) -> an.GetMemberHistoryResponse:
            gen = store.active_generation(session)
            member, reports, events = store.member_history(session, gen, member_id)
            if member is None or not member.province_code:
                raise NotFound("no such member in the analytics projections", field="member_id")
            facts = domain.Facts(
                members=[store.member_of(member)],
                statuses=store.member_statuses(session, gen, member_id),
                reports=[store.report_of(r) for r in reports],
            )
            ix = domain.Indexed(facts)
            row = domain.member_revenue(ix, domain.Scope(), domain.Period())[0]
            completed, hours = store.member_training(session, gen, member_id)
            # By subject: one deal, meeting or issue counts once however often it was told.
            by_type: dict[str, dict[str, store.MemberEventFact]] = {}
            for e in events:
                by_type.setdefault(e.event_type.rsplit(".", 1)[-1], {})[e.subject_id] = e
            deals = list(by_type.get("DealSigned", {}).values())
            response = an.GetMemberHistoryResponse(
                member=member_revenue_proto(row),
                registered_sales_channels=list(member.sales_channels),  # type: ignore[arg-type]
                months=[
                    an.MemberMonth(
                        month=month_proto(r.month),
                        revenue=money(r.revenue_satang),
                        sales_channels=list(r.sales_channels),  # type: ignore[arg-type]
                        revision=r.revision,
                    )
                    for r in reports
                ],
                trainings_completed=completed,
                training_hours=hours,
                meetings_held=len(by_type.get("MeetingHeld", {})),
                deals=len(deals),
                deal_value=money(sum(d.value_satang for d in deals)),
                problems_reported=len(by_type.get("IssueReported", {})),
                entries=[
                    an.MemberHistoryEntry(
                        occurred_at=to_timestamp(e.occurred_at),
                        event_type=e.event_type,
                        subject_id=e.subject_id,
                        value=money(e.value_satang),
                    )
                    for e in events
                ],
            )
            if member.registered_at is not None:
                response.registered_at.CopyFrom(to_timestamp(member.registered_at))
            return response

        return await self._db.read(read)

    async def ExportIndicatorsCsv(
        self, request: an.ExportIndicatorsCsvRequest, context: object
    ) -> an.ExportIndicatorsCsvResponse:
        scope, period = parse(request.scope, request.period)

        def compute(ix: domain.Indexed, gen: int) -> list[list[Any]]:
            return csv_rows(
                ix, scope, period, by_cluster=request.by_cluster, by_month=request.by_month
            )

        rows = await self._facts(scope, compute)
        return an.ExportIndicatorsCsvResponse(
            filename=csv_filename(request, period), content=csv_bytes(rows), rows=len(rows)
        )

    async def StartRebuild(
        self, request: an.StartRebuildRequest, context: object
    ) -> an.StartRebuildResponse:
        await self._rebuilder.start()
        return an.StartRebuildResponse(status=await self._status())

    async def GetRebuildStatus(
        self, request: an.GetRebuildStatusRequest, context: object
    ) -> an.GetRebuildStatusResponse:
        return an.GetRebuildStatusResponse(status=await self._status())

    async def _status(self) -> an.RebuildStatus:
        def read(session: Session) -> an.RebuildStatus:
            return rebuild_status_proto(
                store.latest_rebuild(session), store.active_generation(session)
            )

        return await self._db.read(read)
