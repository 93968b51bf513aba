"""The indicators, computed from facts: pure functions, no database, no gRPC.

Months are keys `year * 100 + month` in Asia/Bangkok time. A scope is a set of
provinces (None: all) and optionally one cluster; a period is an inclusive range of
month keys, either side open. The definitions (what counts where) are stated on each
indicator in proto/bizclub/analytics/v1/analytics_service.proto.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")

# membership.v1.MemberStatus values (the proto's, so no translation is needed).
APPLIED, ACTIVE, SUSPENDED, LEFT = 1, 2, 3, 4

# Funnel steps (and a fair's sales, which is not a step but travels with them).
SUGGESTED, REQUESTED, HELD, DEAL, FAIR_SALES = "suggested", "requested", "held", "deal", "fair"


def month_of(moment: datetime) -> int:
    local = moment.astimezone(BANGKOK)
    return local.year * 100 + local.month


def month_key(year: int, month: int) -> int:
    return year * 100 + month


def split_month(key: int) -> tuple[int, int]:
    return key // 100, key % 100


@dataclass(frozen=True)
class Period:
    start: int | None = None  # month keys, inclusive
    end: int | None = None

    def __contains__(self, month: int) -> bool:
        return (self.start is None or month >= self.start) and (
            self.end is None or month <= self.end
        )

    def reaches(self, month: int) -> bool:
        """The month is at or before the period's end."""
        return self.end is None or month <= self.end


@dataclass(frozen=True)
class Scope:
    provinces: frozenset[str] | None = None  # None: every province
    cluster: str = ""

    def covers(self, province: str) -> bool:
        return self.provinces is None or province in self.provinces

    def has(self, province: str, cluster: str) -> bool:
        return self.covers(province) and (not self.cluster or cluster == self.cluster)


# --- facts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    province_code: str
    cluster_code: str
    enterprise_type: int
    business_name_th: str
    baseline_satang: int
    sales_channels: list[int]
    registered_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    member_id: str
    status: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class TrainingSession:
    session_id: str
    province_code: str
    target_cluster_codes: list[str]
    month: int
    capacity: int
    cancelled: bool

    def open_to(self, cluster: str) -> bool:
        return not cluster or not self.target_cluster_codes or cluster in self.target_cluster_codes


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: str
    session_id: str
    province_code: str
    member_id: str
    cluster_code: str
    confirmed: bool
    waitlisted: bool
    cancelled: bool
    completed: bool
    attended_hours: float

    @property
    def holds_seat(self) -> bool:
        return (self.confirmed or self.completed) and not self.cancelled

    @property
    def waiting(self) -> bool:
        return self.waitlisted and not (self.confirmed or self.completed or self.cancelled)


@dataclass(frozen=True, slots=True)
class MatchStep:
    step: str
    member_id: str
    province_code: str
    cluster_code: str  # empty: not in the event; the member's cluster is used
    month: int
    value_satang: int


@dataclass(frozen=True, slots=True)
class Report:
    member_id: str
    month: int
    province_code: str
    cluster_code: str
    revision: int
    revenue_satang: int
    sales_channels: list[int]


@dataclass(frozen=True, slots=True)
class Issue:
    issue_id: str
    province_code: str
    member_id: str
    reported_at: datetime | None
    escalated: bool
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Answer:
    survey_id: str
    member_id: str
    province_code: str
    average_rating: float
    month: int


@dataclass
class Facts:
    networks: dict[str, tuple[str, str]] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    sessions: list[TrainingSession] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    steps: list[MatchStep] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def provinces(self) -> list[str]:
        """Every province any fact is about, in code order."""
        found: set[str] = set(self.networks)
        for rows in (self.members, self.sessions, self.steps, self.reports, self.issues):
            found.update(r.province_code for r in rows)
        found.update(a.province_code for a in self.answers)
        return sorted(p for p in found if p)

    def clusters(self, province: str) -> list[str]:
        found = {m.cluster_code for m in self.members if m.province_code == province}
        found.update(r.cluster_code for r in self.reports if r.province_code == province)
        return sorted(c for c in found if c)

    def months(self) -> list[int]:
        found: set[int] = {s.month for s in self.sessions if s.month}
        found.update(s.month for s in self.steps)
        found.update(r.month for r in self.reports)
        found.update(a.month for a in self.answers)
        found.update(month_of(i.reported_at) for i in self.issues if i.reported_at)
        found.update(month_of(m.registered_at) for m in self.members if m.registered_at)
        return sorted(found)


# --- indicators ------------------------------------------------------------------------


@dataclass
class MemberIndicators:
    total: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    active_by_type: dict[int, int] = field(default_factory=dict)
    registered_in_period: int = 0


@dataclass
class TrainingIndicators:
    sessions: int = 0
    seats: int = 0
    enrolled: int = 0
    waitlisted: int = 0
    attended: int = 0
    attended_hours: float = 0.0
    completed: int = 0

    @property
    def completion_percent(self) -> float:
        return percent(self.completed, self.enrolled)

    @property
    def seat_fill_percent(self) -> float:
        return percent(self.enrolled, self.seats)


@dataclass
class Funnel:
    suggested: int = 0
    requested: int = 0
    held: int = 0
    deals: int = 0
    deal_value_satang: int = 0
    fair_sales_satang: int = 0


@dataclass
class Revenue:
    reports: int = 0
    members_reporting: int = 0
    revenue_total_satang: int = 0
    average_monthly_satang: int = 0
    average_baseline_satang: int = 0
    average_latest_satang: int = 0
    members_grew: int = 0

    @property
    def grew_percent(self) -> float:
        return percent(self.members_grew, self.members_reporting)


@dataclass
class Problems:
    reported: int = 0
    open: int = 0
    escalated: int = 0
    resolved: int = 0
    median_days_to_resolve: float = 0.0


@dataclass
class Satisfaction:
    responses: int = 0
    average_rating: float = 0.0


@dataclass
class Indicators:
    members: MemberIndicators
    training: TrainingIndicators
    funnel: Funnel
    revenue: Revenue
    channels: dict[int, int]
    problems: Problems
    satisfaction: Satisfaction


@dataclass
class RevenueMonth:
    month: int
    members_reporting: int
    revenue_total_satang: int
    average_revenue_satang: int
    average_baseline_satang: int
    members_above_baseline: int

    @property
    def above_baseline_percent(self) -> float:
        return percent(self.members_above_baseline, self.members_reporting)


@dataclass
class MemberRevenue:
    member: Member
    status: int
    latest_month: int  # 0: none in the period
    latest_revenue_satang: int

    @property
    def grew(self) -> bool:
        return self.latest_month > 0 and self.latest_revenue_satang > self.member.baseline_satang


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def mean(values: list[int]) -> int:
    """Satang mean, rounded half up to a whole satang."""
    return (sum(values) * 2 + len(values)) // (2 * len(values)) if values else 0


class Indexed:
    """Facts with the lookups the indicators need, built once per query."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.members = {m.member_id: m for m in facts.members}
        self.sessions = {s.session_id: s for s in facts.sessions}
        self.statuses: dict[str, list[StatusChange]] = defaultdict(list)
        for change in sorted(facts.statuses, key=lambda c: c.occurred_at):
            self.statuses[change.member_id].append(change)

    def cluster_of(self, member_id: str) -> str:
        member = self.members.get(member_id)
        return member.cluster_code if member else ""

    def status_at(self, member_id: str, period: Period) -> int:
        """The member's status at the end of the period (0: not registered by then)."""
        status = 0
        for change in self.statuses.get(member_id, []):
            if period.reaches(month_of(change.occurred_at)):
                status = change.status
        return status


def indicators(ix: Indexed, scope: Scope, period: Period) -> Indicators:
    return Indicators(
        members=member_indicators(ix, scope, period),
        training=training_indicators(ix, scope, period),
        funnel=funnel(ix, scope, period),
        revenue=revenue(ix, scope, period),
        channels=channels(ix, scope, period),
        problems=problems(ix, scope, period),
        satisfaction=satisfaction(ix, scope, period),
    )


def member_indicators(ix: Indexed, scope: Scope, period: Period) -> MemberIndicators:
    result = MemberIndicators()
    for member in ix.facts.members:
        if not scope.has(member.province_code, member.cluster_code):
            continue
        status = ix.status_at(member.member_id, period)
        if status == 0:
            continue
        result.total += 1
        result.by_status[status] = result.by_status.get(status, 0) + 1
        if status == ACTIVE:
            kind = member.enterprise_type
            result.active_by_type[kind] = result.active_by_type.get(kind, 0) + 1
        if member.registered_at is not None and month_of(member.registered_at) in period:
            result.registered_in_period += 1
    return result


def training_indicators(ix: Indexed, scope: Scope, period: Period) -> TrainingIndicators:
    result = TrainingIndicators()
    in_period: set[str] = set()
    for s in ix.facts.sessions:
        if s.month and s.month in period and scope.covers(s.province_code) and not s.cancelled:
            in_period.add(s.session_id)
            if s.open_to(scope.cluster):
                result.sessions += 1
                result.seats += s.capacity
    for e in ix.facts.enrollments:
        if e.session_id not in in_period or not scope.has(e.province_code, e.cluster_code):
            continue
        if e.holds_seat:
            result.enrolled += 1
        if e.waiting:
            result.waitlisted += 1
        if e.attended_hours > 0 and not e.cancelled:
            result.attended += 1
            result.attended_hours += e.attended_hours
        if e.completed and not e.cancelled:
            result.completed += 1
    result.attended_hours = round(result.attended_hours, 2)
    return result


def _steps(ix: Indexed, scope: Scope, period: Period) -> Iterable[MatchStep]:
    for s in ix.facts.steps:
        if s.month in period and scope.has(
            s.province_code, s.cluster_code or ix.cluster_of(s.member_id)
        ):
            yield s


def add_step(result: Funnel, step: MatchStep) -> None:
    if step.step == SUGGESTED:
        result.suggested += 1
    elif step.step == REQUESTED:
        result.requested += 1
    elif step.step == HELD:
        result.held += 1
    elif step.step == DEAL:
        result.deals += 1
        result.deal_value_satang += step.value_satang
    elif step.step == FAIR_SALES:
        result.fair_sales_satang += step.value_satang


def funnel(ix: Indexed, scope: Scope, period: Period) -> Funnel:
    result = Funnel()
    for step in _steps(ix, scope, period):
        add_step(result, step)
    return result


def funnel_by_month(ix: Indexed, scope: Scope, period: Period) -> list[tuple[int, Funnel]]:
    months: dict[int, Funnel] = defaultdict(Funnel)
    for step in _steps(ix, scope, period):
        add_step(months[step.month], step)
    return sorted(months.items())


def _reports(ix: Indexed, scope: Scope, period: Period) -> list[Report]:
    return [
        r
        for r in ix.facts.reports
        if r.month in period and scope.has(r.province_code, r.cluster_code)
    ]


def _latest_by_member(reports: list[Report]) -> dict[str, Report]:
    latest: dict[str, Report] = {}
    for r in reports:
        if r.member_id not in latest or r.month > latest[r.member_id].month:
            latest[r.member_id] = r
    return latest


def baseline(ix: Indexed, member_id: str) -> int:
    member = ix.members.get(member_id)
    return member.baseline_satang if member else 0


def revenue(ix: Indexed, scope: Scope, period: Period) -> Revenue:
    reports = _reports(ix, scope, period)
    latest = _latest_by_member(reports)
    baselines = [baseline(ix, m) for m in latest]
    return Revenue(
        reports=len(reports),
        members_reporting=len(latest),
        revenue_total_satang=sum(r.revenue_satang for r in reports),
        average_monthly_satang=mean([r.revenue_satang for r in reports]),
        average_baseline_satang=mean(baselines),
        average_latest_satang=mean([r.revenue_satang for r in latest.values()]),
        members_grew=sum(1 for m, r in latest.items() if r.revenue_satang > baseline(ix, m)),
    )


def revenue_trend(ix: Indexed, scope: Scope, period: Period) -> list[RevenueMonth]:
    by_month: dict[int, list[Report]] = defaultdict(list)
    for r in _reports(ix, scope, period):
        by_month[r.month].append(r)
    trend = []
    for month, reports in sorted(by_month.items()):
        trend.append(
            RevenueMonth(
                month=month,
                members_reporting=len(reports),
                revenue_total_satang=sum(r.revenue_satang for r in reports),
                average_revenue_satang=mean([r.revenue_satang for r in reports]),
                average_baseline_satang=mean([baseline(ix, r.member_id) for r in reports]),
                members_above_baseline=sum(
                    1 for r in reports if r.revenue_satang > baseline(ix, r.member_id)
                ),
            )
        )
    return trend


def channels(ix: Indexed, scope: Scope, period: Period) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for report in _latest_by_member(_reports(ix, scope, period)).values():
        for channel in set(report.sales_channels):
            counts[channel] += 1
    return dict(sorted(counts.items()))


def problems(ix: Indexed, scope: Scope, period: Period) -> Problems:
    result = Problems()
    days: list[float] = []
    for issue in ix.facts.issues:
        if issue.reported_at is None or month_of(issue.reported_at) not in period:
            continue
        if not scope.has(issue.province_code, ix.cluster_of(issue.member_id)):
            continue
        result.reported += 1
        result.escalated += issue.escalated
        if issue.resolved_at is None:
            result.open += 1
        else:
            result.resolved += 1
            days.append((issue.resolved_at - issue.reported_at).total_seconds() / 86400)
    result.median_days_to_resolve = round(statistics.median(days), 2) if days else 0.0
    return result


def satisfaction(ix: Indexed, scope: Scope, period: Period) -> Satisfaction:
    ratings = [
        a.average_rating
        for a in ix.facts.answers
        if a.month in period and scope.has(a.province_code, ix.cluster_of(a.member_id))
    ]
    return Satisfaction(
        responses=len(ratings),
        average_rating=round(statistics.fmean(ratings), 2) if ratings else 0.0,
    )


def member_revenue(ix: Indexed, scope: Scope, period: Period) -> list[MemberRevenue]:
    """Members of the scope in member id order, with their latest month in the period."""
    latest = _latest_by_member(
        [r for r in ix.facts.reports if r.month in period and r.member_id in ix.members]
    )
    rows = []
    for member in sorted(ix.facts.members, key=lambda m: m.member_id):
        if not scope.has(member.province_code, member.cluster_code):
            continue
        report = latest.get(member.member_id)
        rows.append(
            MemberRevenue(
                member=member,
                status=ix.status_at(member.member_id, Period()),
                latest_month=report.month if report else 0,
                latest_revenue_satang=report.revenue_satang if report else 0,
            )
        )
    return rows
