"""The console's dashboard, national view and member history over HTTP, read from a real
analytics service fed by real events (the `world` of tests/integration/test_analytics.py)
and a real membership. The browser drives the same pages in tests/e2e."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from console.app import ConsoleSettings, build_app

from tests.integration.test_analytics import UDON, World, world  # noqa: F401  (the fixture)
from tests.support import CENTRAL, officer_of, token_for


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    settings = ConsoleSettings(
        membership_address=world.membership.address,
        analytics_address=world.analytics.address,
        call_timeout_seconds=5.0,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
            yield http


def values(svg_id: str, group: str, html: str) -> list[float]:
    svg = html.split(f'data-testid="{svg_id}"')[1].split("</svg>")[0]
    part = svg.split(f'data-series="{group}"')[1].split("</g>")[0] if group else svg
    return [float(v) for v in re.findall(r'data-value="([\d.]+)"', part)]


async def test_the_udon_thani_dashboard_draws_the_trend_against_baseline_and_the_funnel(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    await client.post("/login", data={"token": token_for(officer_of(UDON))})

    page = await client.get(f"/province/{UDON}")

    assert page.status_code == 200, page.text
    html = page.text
    # September and October reports: average revenue against the reporters' baseline.
    assert values("revenue-trend", "รายได้เฉลี่ย", html)[-1] == (280_000 + 120_000) / 2
    assert values("revenue-trend", "ฐานรายได้เดิม", html)[-1] == 90_000
    assert "ก.ย. 2569" in html and "ต.ค. 2569" in html  # months in the Buddhist era
    funnel = values("matching-funnel", "", html)
    assert len(funnel) == 4 and funnel[0] >= 2 and funnel[3] >= 1
    # Active members per cluster (the suspended food member is not counted).
    clusters = dict(
        re.findall(
            r'data-label="([^"]+)" data-value="([\d.]+)"',
            html.split('data-testid="members-per-cluster"')[1].split("</svg>")[0],
        )
    )
    assert clusters["ผ้าและเครื่องแต่งกาย"] == "1" and clusters["อาหารและเครื่องดื่ม"] == "0"

    live = await client.get(f"/province/{UDON}/live")
    assert live.status_code == 200 and 'data-testid="revenue-trend"' in live.text

    history = await client.get(f"/members/{world.members.a}")
    assert history.status_code == 200
    assert values("member-revenue", "รายได้เฉลี่ย", history.text) == [150_000, 280_000]
    assert "ผ่านการอบรม" in history.text and "ตกลงซื้อขาย" in history.text


async def test_central_compares_provinces_and_a_khon_kaen_officer_is_refused_udon_thani(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/login", data={"token": token_for(CENTRAL)})
    national = await client.get("/national")
    assert national.status_code == 200
    assert 'data-province="TH-41"' in national.text and 'data-province="TH-40"' in national.text
    assert 'data-label="อุดรธานี"' in national.text and 'data-label="ขอนแก่น"' in national.text

    await client.post("/login", data={"token": token_for(officer_of("TH-40"))})
    refused = await client.get(f"/province/{UDON}")
    assert refused.status_code == 403 and "ไม่มีสิทธิ์" in refused.text
    own = await client.get("/national")
    assert 'data-province="TH-41"' not in own.text and 'data-province="TH-40"' in own.text
