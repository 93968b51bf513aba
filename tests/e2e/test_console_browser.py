"""The operator console in a real browser: headless Chromium (Debian's) driven by Playwright
against the whole platform as `make run` starts it (Udon Thani demo data, console on :8080).

An Udon Thani officer signs in, the dashboard shows the revenue trend against the
baseline and the matching funnel, switches to English, and drills down to a member;
a Khon Kaen officer, signed in with a pasted token, cannot see Udon Thani's members.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from bizclub.membership.v1 import membership_service_pb2_grpc

from tests.e2e.test_stack import Stack, _Bearer, free_broker_port, port_free, valid_tax_id
from tests.support import registration

CHROMIUM = os.environ.get("BIZCLUB_CHROMIUM", "/usr/bin/chromium")
CONSOLE = "http://localhost:8080"
# Figures appear as analytics applies the seeded events: allow for the seeds to finish.
SETTLE_MS = 120_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (as .ci/run does)",
    ),
]

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not port_free(8080):
        pytest.skip("port 8080 (the console's) is busy; stop whatever listens there")
    running = Stack(tmp_path_factory.mktemp("console-stack") / "var", free_broker_port())
    running.start()
    try:
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Root needs --no-sandbox; the rest keep Chromium off the (closed) network.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def test_the_udon_thani_dashboard_shows_revenue_against_baseline_and_the_funnel_in_thai_and_english(
    browser: object, stack: Stack, tmp_path: Path
) -> None:
    expect = sync_api.expect
    page = browser.new_page(locale="th-TH")  # type: ignore[attr-defined]
    page.goto(f"{CONSOLE}/")
    page.get_by_test_id("demo-officer-TH-41").click()

    expect(page.get_by_test_id("dashboard-title")).to_have_text("แดชบอร์ดจังหวัด อุดรธานี")
    # Members per cluster: the four clusters, by their Thai names, with active members.
    clusters = page.get_by_test_id("members-per-cluster").locator("g.bar")
    expect(clusters).to_have_count(4, timeout=SETTLE_MS)
    expect(clusters.first).to_have_attribute("data-label", re.compile("[ก-๙]"))
    # The revenue trend against the baseline, month by month, once analytics has it.
    trend = page.get_by_test_id("revenue-trend")
    expect(trend.locator('g.series[data-series="รายได้เฉลี่ย"] circle').nth(1)).to_be_attached(
        timeout=SETTLE_MS
    )
    expect(trend.locator('g.series[data-series="ฐานรายได้เดิม"] circle').first).to_be_attached()
    revenue = [
        float(v)
        for v in trend.locator('g.series[data-series="รายได้เฉลี่ย"] circle').evaluate_all(
            "cs => cs.map(c => c.dataset.value)"
        )
    ]
    baseline = [
        float(v)
        for v in trend.locator('g.series[data-series="ฐานรายได้เดิม"] circle').evaluate_all(
            "cs => cs.map(c => c.dataset.value)"
        )
    ]
    assert len(revenue) == len(baseline) >= 2
    assert revenue[-1] > baseline[-1] > 0  # the programme's point: members earn above baseline
    # The matching funnel: suggested, requested, met, deals, from matching's seeded events.
    steps = page.get_by_test_id("matching-funnel").locator("g.step")
    expect(steps).to_have_count(4, timeout=SETTLE_MS)
    expect(steps.first).to_have_attribute("data-label", "แนะนำคู่ค้า")
    expect(steps.first).not_to_have_attribute("data-value", "0", timeout=SETTLE_MS)
    values = [float(v) for v in steps.evaluate_all("gs => gs.map(g => g.dataset.value)")]
    assert len(values) == 4 and values[0] > 0
    page.screenshot(path=str(stack.data_dir / "dashboard-th.png"), full_page=True)

    # Live: a business registers while the page is open; its figures follow, no reload.
    total = page.get_by_test_id("members-total")
    before = int(total.inner_text().replace(",", ""))
    officer = stack.token("--role", "province_officer", "--province", "TH-41")
    with grpc.insecure_channel("127.0.0.1:50051") as plain:
        membership = membership_service_pb2_grpc.MembershipServiceStub(
            grpc.intercept_channel(plain, _Bearer(officer))
        )
        membership.RegisterMember(registration(tax_id=valid_tax_id()), timeout=10)
    expect(total).to_have_text(f"{before + 1:,}", timeout=30_000)

    page.get_by_test_id("to-english").click()

    expect(page.get_by_test_id("dashboard-title")).to_have_text("Province dashboard Udon Thani")
    expect(page.get_by_test_id("panel-revenue").locator("h2")).to_have_text(
        "Average monthly revenue against baseline"
    )
    expect(page.get_by_test_id("matching-funnel").locator("g.step").first).to_have_attribute(
        "data-label", "Suggested"
    )
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.screenshot(path=str(stack.data_dir / "dashboard-en.png"), full_page=True)

    # Drill down: the member list, then one member's history.
    page.get_by_role("link", name="Member list").first.click()
    rows = page.get_by_test_id("member-table").locator("tbody tr")
    expect(rows.first).to_be_visible()
    name = rows.first.locator("a").inner_text()
    rows.first.locator("a").click()
    expect(page.get_by_test_id("member-name")).to_contain_text(name.split(" ")[0])
    expect(page.get_by_test_id("member-history")).to_be_visible()
    page.close()


def test_a_khon_kaen_officer_cannot_see_udon_thani_members(browser: object, stack: Stack) -> None:
    expect = sync_api.expect
    udon = browser.new_page()  # type: ignore[attr-defined]
    udon.goto(f"{CONSOLE}/login")
    udon.get_by_test_id("demo-officer-TH-41").click()
    udon.goto(f"{CONSOLE}/province/TH-41/members")
    udon_rows = udon.get_by_test_id("member-table").locator("tbody tr")
    expect(udon_rows.first).to_be_visible()
    names = udon_rows.locator("td:first-child a").all_inner_texts()
    member_id = udon_rows.first.get_attribute("data-member-id")
    assert names and member_id
    udon.close()

    # A Khon Kaen officer signs in by pasting a token from `bizclub token`.
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{CONSOLE}/login")
    page.locator("#token").fill(stack.token("--role", "province_officer", "--province", "TH-40"))
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("operator")).to_contain_text("TH-40")

    page.goto(f"{CONSOLE}/province/TH-41/members")
    expect(page.get_by_test_id("no-members")).to_be_visible()
    body = page.locator("body").inner_text()
    assert not [n for n in names if n in body]

    response = page.goto(f"{CONSOLE}/members/{member_id}")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("refused")).to_contain_text("ไม่มีสิทธิ์")
    assert not [n for n in names if n in page.locator("body").inner_text()]

    response = page.goto(f"{CONSOLE}/province/TH-41")
    assert response is not None and response.status == 403
    page.close()
