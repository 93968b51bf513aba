"""The console's pages: sign-in, the province dashboard (and its live part), the national
view, member lists and a member's history. Each reads the services with the operator's
token; a refusal by a service is shown as such, never worked around."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import grpc
import jwt
from bizclub.analytics.v1 import analytics_service_pb2 as an
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub_shared.auth import Caller, Role, SigningKeys
from bizclub_shared.provinces import PROVINCES
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from console import charts
from console.i18n import Words

T = TypeVar("T")
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

# Local demo sign-in: one operator per role of the Udon Thani demo.
DEMO_OPERATORS: dict[str, Caller] = {
    "central": Caller("central:demo", Role.CENTRAL),
    "officer-TH-41": Caller("officer:udonthani-demo", Role.PROVINCE_OFFICER, frozenset({"TH-41"})),
    "officer-TH-40": Caller("officer:khonkaen-demo", Role.PROVINCE_OFFICER, frozenset({"TH-40"})),
    "lead-TH-41-food": Caller(
        "lead:food-demo", Role.CLUSTER_LEAD, frozenset({"TH-41"}), cluster="food"
    ),
}
DEMO_LABELS = {
    "central": ("ส่วนกลาง (กระทรวงพาณิชย์)", "Central (ministry)"),
    "officer-TH-41": ("เจ้าหน้าที่ พาณิชย์จังหวัดอุดรธานี", "Udon Thani provincial officer"),
    "officer-TH-40": ("เจ้าหน้าที่ พาณิชย์จังหวัดขอนแก่น", "Khon Kaen provincial officer"),
    "lead-TH-41-food": ("ประธานคลัสเตอร์อาหาร อุดรธานี", "Udon Thani food cluster lead"),
}


class Refused(Exception):
    """A service refused or could not answer: shown as a page, with this status."""

    def __init__(self, status: int, key: str, detail: str = "") -> None:
        super().__init__(detail)
        self.status, self.key, self.detail = status, key, detail


@dataclass(frozen=True)
class Operator:
    token: str
    subject: str
    role: str
    provinces: tuple[str, ...]
    cluster: str

    @property
    def nationwide(self) -> bool:
        return self.role in (Role.CENTRAL.value, Role.SERVICE.value)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def operator_from_token(token: str) -> Operator | None:
    """The token's claims, unverified: only to choose what to show. The services verify."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": True})
    except jwt.PyJWTError:
        return None
    provinces = claims.get("provinces") or []
    if not isinstance(provinces, list):
        return None
    return Operator(
        token,
        str(claims.get("sub", "")),
        str(claims.get("role", "")),
        tuple(p for p in provinces if isinstance(p, str)),
        str(claims.get("cluster", "")),
    )


def words(request: Request) -> Words:
    return Words(str(request.session.get("lang", "th")))


def current_operator(request: Request) -> Operator | None:
    token = request.session.get("token")
    return operator_from_token(token) if isinstance(token, str) else None


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    t = words(request)
    html = TEMPLATES.get_template(template).render(
        t=t,
        lang=t.lang,
        operator=current_operator(request),
        path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        province_name=lambda code: t.pair(*PROVINCES.get(code, (code, code))),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def refused_page(request: Request, refused: Refused) -> HTMLResponse:
    return render(
        request, "error.html", status=refused.status, key=refused.key, detail=refused.detail
    )


async def call(request: Request, method: Any, message: Any) -> Any:
    """One gRPC call with the operator's token; its refusal as a `Refused`."""
    op = current_operator(request)
    assert op is not None
    backends = request.app.state.backends
    try:
        return await method(message, metadata=op.metadata(), timeout=backends.timeout)
    except grpc.aio.AioRpcError as err:
        code = err.code()
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise Refused(403, "forbidden", err.details() or "") from None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise Refused(401, "bad_token", err.details() or "") from None
        if code == grpc.StatusCode.NOT_FOUND:
            raise Refused(404, "not_found", err.details() or "") from None
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            raise Refused(400, "not_found", err.details() or "") from None
        raise Refused(503, "unavailable", f"{code.name}: {err.details()}") from None


async def optional(request: Request, pending: Awaitable[T]) -> T | Refused:
    """A panel's data, or why it is missing (the page still shows the rest);
    a refusal for lack of rights is not a missing panel but the page's answer."""
    try:
        return await pending
    except Refused as refused:
        if refused.status in (401, 403):
            raise
        return refused


# --- sign-in and language ---------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def home(request: Request) -> Response:
    op = current_operator(request)
    if op is None:
        return RedirectResponse("/login", status_code=303)
    if op.nationwide or not op.provinces:
        return RedirectResponse("/national", status_code=303)
    return RedirectResponse(f"/province/{op.provinces[0]}", status_code=303)


async def login(request: Request) -> Response:
    settings = request.app.state.settings
    demo = settings.demo_login and bool(settings.auth_keys)
    error = ""
    if request.method == "POST":
        form = await request.form()
        token = str(form.get("token", "")).strip()
        role = str(form.get("demo", ""))
        if demo and role in DEMO_OPERATORS:
            keys = SigningKeys.from_json(settings.auth_keys, settings.auth_signing_key_id)
            token = keys.issue(DEMO_OPERATORS[role], ttl_seconds=settings.session_max_age_seconds)
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if operator_from_token(token) is not None:
            request.session["token"] = token
            return RedirectResponse("/", status_code=303)
        error = "bad_token"
    t = words(request)
    demos = [(key, t.pick(label)) for key, label in DEMO_LABELS.items()] if demo else []
    return render(request, "login.html", status=400 if error else 200, error=error, demos=demos)


async def logout(request: Request) -> Response:
    request.session.pop("token", None)
    return RedirectResponse("/login", status_code=303)


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    if lang in ("th", "en"):
        request.session["lang"] = lang
    back = request.query_params.get("next", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"  # only this site's pages
    return RedirectResponse(back, status_code=303)


# --- periods and figures ----------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def period_of(request: Request) -> an.Period:
    """`?from=2569-01&to=2569-06` (Buddhist-era or Common-Era years); open when absent."""
    period = an.Period()
    for name, target in (("from", period.start_month), ("to", period.end_month)):
        match = MONTH.match(request.query_params.get(name, "").strip())
        if match and 1 <= int(match.group(2)) <= 12:
            target.year, target.month = int(match.group(1)), int(match.group(2))
    return period


def baht(money: common_pb2.Money) -> float:
    return money.satang / 100


def province_label(t: Words, code: str) -> str:
    """The province's own name (analytics gives the network's, which repeats "MOC Biz Club")."""
    return t.pair(*PROVINCES.get(code, (code, code)))


def active_members(indicators: an.Indicators) -> int:
    return sum(
        s.members
        for s in indicators.members.by_status
        if s.status == membership_pb2.MEMBER_STATUS_ACTIVE
    )


@dataclass
class Dashboard:
    province: str
    network: membership_pb2.Network
    indicators: an.Indicators | Refused
    clusters: list[tuple[membership_pb2.Cluster, an.Indicators | Refused]]
    trend: an.GetRevenueTrendResponse | Refused
    funnel: an.GetMatchingFunnelResponse | Refused
    charts: dict[str, Markup] = field(default_factory=dict)


async def load_dashboard(request: Request, province: str) -> Dashboard:
    if province not in PROVINCES:
        raise Refused(404, "not_found", province)
    b = request.app.state.backends
    period = period_of(request)
    op = current_operator(request)
    # A cluster lead's figures are their cluster's: ask for that scope, not the province's.
    lead_of = op.cluster if op is not None and op.role == Role.CLUSTER_LEAD.value else ""
    scope = an.Scope(province_code=province, cluster_code=lead_of)
    network_reply = await call(
        request, b.membership.GetNetwork, ms.GetNetworkRequest(province_code=province)
    )
    clusters = [
        c for c in network_reply.network.clusters if not lead_of or c.cluster_code == lead_of
    ]
    indicators, trend, funnel, *per_cluster = await asyncio.gather(
        optional(
            request,
            call(
                request,
                b.analytics.GetIndicators,
                an.GetIndicatorsRequest(scope=scope, period=period),
            ),
        ),
        optional(
            request,
            call(
                request,
                b.analytics.GetRevenueTrend,
                an.GetRevenueTrendRequest(scope=scope, period=period),
            ),
        ),
        optional(
            request,
            call(
                request,
                b.analytics.GetMatchingFunnel,
                an.GetMatchingFunnelRequest(scope=scope, period=period),
            ),
        ),
        *(
            optional(
                request,
                call(
                    request,
                    b.analytics.GetIndicators,
                    an.GetIndicatorsRequest(
                        scope=an.Scope(province_code=province, cluster_code=c.cluster_code),
                        period=period,
                    ),
                ),
            )
            for c in clusters
        ),
    )
    d = Dashboard(
        province,
        network_reply.network,
        indicators.indicators if isinstance(indicators, an.GetIndicatorsResponse) else indicators,
        [
            (c, r.indicators if isinstance(r, an.GetIndicatorsResponse) else r)
            for c, r in zip(clusters, per_cluster, strict=True)
        ],
        trend,
        funnel,
    )
    t = words(request)
    d.charts["clusters"] = Markup(
        charts.bar_chart(
            t("members_per_cluster"),
            [
                (t.pair(c.name_th, c.name_en), float(active_members(i)))
                for c, i in d.clusters
                if isinstance(i, an.Indicators)
            ],
            test_id="members-per-cluster",
        )
    )
    if isinstance(trend, an.GetRevenueTrendResponse):
        d.charts["trend"] = Markup(
            charts.line_chart(
                t("revenue_trend"),
                [t.month(m.month.year, m.month.month) for m in trend.months],
                [
                    charts.Series(
                        t("revenue"),
                        [baht(m.average_revenue) for m in trend.months],
                        charts.PALETTE[0],
                    ),
                    charts.Series(
                        t("baseline"),
                        [baht(m.average_baseline) for m in trend.months],
                        charts.PALETTE[1],
                        dashed=True,
                    ),
                ],
                test_id="revenue-trend",
            )
        )
    if isinstance(funnel, an.GetMatchingFunnelResponse):
        total = funnel.total
        d.charts["funnel"] = Markup(
            charts.funnel_chart(
                t("funnel"),
                [
                    (t("suggested"), total.suggested),
                    (t("requested"), total.requested),
                    (t("held"), total.held),
                    (t("deals"), total.deals),
                ],
                test_id="matching-funnel",
            )
        )
    return d


# --- pages ------------------------------------------------------------------------------


def signed_in(request: Request) -> Operator | Response:
    op = current_operator(request)
    if op is None:
        return RedirectResponse("/login", status_code=303)
    return op


async def dashboard(request: Request) -> Response:
    op = signed_in(request)
    if isinstance(op, Response):
        return op
    try:
        d = await load_dashboard(request, request.path_params["province"])
    except Refused as refused:
        return refused_page(request, refused)
    settings = request.app.state.settings
    return render(
        request,
        "dashboard.html",
        d=d,
        refresh_ms=int(settings.refresh_seconds * 1000),
        query=request.url.query,
        request_from=request.query_params.get("from", ""),
        request_to=request.query_params.get("to", ""),
        updated=time.strftime("%H:%M:%S"),
    )


async def dashboard_live(request: Request) -> Response:
    """The dashboard's figures alone: the page asks for them every few seconds, so it
    follows the events as analytics applies them."""
    if current_operator(request) is None:
        return PlainTextResponse("signed out", status_code=401)
    try:
        d = await load_dashboard(request, request.path_params["province"])
    except Refused as refused:
        return PlainTextResponse(refused.key, status_code=refused.status)
    return render(request, "_figures.html", d=d, updated=time.strftime("%H:%M:%S"))


async def national(request: Request) -> Response:
    op = signed_in(request)
    if isinstance(op, Response):
        return op
    b = request.app.state.backends
    try:
        reply = await call(
            request,
            b.analytics.CompareProvinces,
            an.CompareProvincesRequest(period=period_of(request)),
        )
    except Refused as refused:
        return refused_page(request, refused)
    t = words(request)
    rows = list(reply.provinces)
    chart_members = Markup(
        charts.bar_chart(
            t("members"),
            [
                (province_label(t, p.province.province_code), float(active_members(p.indicators)))
                for p in rows
            ],
            test_id="members-per-province",
        )
    )
    chart_revenue = Markup(
        charts.bar_chart(
            t("revenue"),
            [
                (
                    province_label(t, p.province.province_code),
                    baht(p.indicators.revenue.average_latest_revenue),
                )
                for p in rows
            ],
            test_id="revenue-per-province",
        )
    )
    return render(
        request,
        "national.html",
        rows=rows,
        nationwide=reply.nationwide,
        chart_members=chart_members,
        chart_revenue=chart_revenue,
        active_members=active_members,
    )


async def member_list(request: Request) -> Response:
    op = signed_in(request)
    if isinstance(op, Response):
        return op
    province = request.path_params["province"]
    if province not in PROVINCES:
        return refused_page(request, Refused(404, "not_found", province))
    b = request.app.state.backends
    q = request.query_params
    try:
        network = await optional(
            request,
            call(request, b.membership.GetNetwork, ms.GetNetworkRequest(province_code=province)),
        )
        reply = await call(
            request,
            b.membership.ListMembers,
            ms.ListMembersRequest(
                province_code=province,
                cluster_code=q.get("cluster", ""),
                query=q.get("q", "")[:100],
                page=common_pb2.PageRequest(page_size=50, page_token=q.get("page", "")),
            ),
        )
    except Refused as refused:
        return refused_page(request, refused)
    clusters = list(network.network.clusters) if isinstance(network, ms.GetNetworkResponse) else []
    next_page = ""
    if reply.page.next_page_token:
        next_page = "?" + urlencode(
            {
                "cluster": q.get("cluster", ""),
                "q": q.get("q", ""),
                "page": reply.page.next_page_token,
            }
        )
    return render(
        request,
        "members.html",
        province=province,
        members=list(reply.members),
        clusters=clusters,
        cluster_names={c.cluster_code: (c.name_th, c.name_en) for c in clusters},
        cluster=q.get("cluster", ""),
        query=q.get("q", ""),
        next_page=next_page,
    )


async def member_history(request: Request) -> Response:
    op = signed_in(request)
    if isinstance(op, Response):
        return op
    member_id = request.path_params["member_id"]
    b = request.app.state.backends
    try:
        member = (
            await call(request, b.membership.GetMember, ms.GetMemberRequest(member_id=member_id))
        ).member
        history = await optional(
            request,
            call(
                request,
                b.analytics.GetMemberHistory,
                an.GetMemberHistoryRequest(member_id=member_id),
            ),
        )
    except Refused as refused:
        return refused_page(request, refused)
    t = words(request)
    chart = Markup("")
    if isinstance(history, an.GetMemberHistoryResponse) and history.months:
        chart = Markup(
            charts.line_chart(
                t("months"),
                [t.month(m.month.year, m.month.month) for m in history.months],
                [
                    charts.Series(
                        t("revenue"), [baht(m.revenue) for m in history.months], charts.PALETTE[0]
                    ),
                    charts.Series(
                        t("baseline"),
                        [baht(member.baseline_monthly_revenue)] * len(history.months),
                        charts.PALETTE[1],
                        dashed=True,
                    ),
                ],
                test_id="member-revenue",
            )
        )
    return render(
        request,
        "member.html",
        member=member,
        history=history if isinstance(history, an.GetMemberHistoryResponse) else None,
        history_error=history if isinstance(history, Refused) else None,
        chart=chart,
    )
