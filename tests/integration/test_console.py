"""The operator console's pages over HTTP against a real membership service (no browser:
the browser tests are tests/e2e/test_console_browser.py). Analytics is not started here,
so its panels must say so while membership's pages work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from bizclub.membership.v1 import membership_service_pb2
from console.app import ConsoleSettings, build_app

from tests.conftest import MembershipFactory, RunningMembership
from tests.integration.probes import free_port
from tests.support import (
    TEST_AUTH_KEYS_JSON,
    officer_of,
    registration,
    token_for,
    udon_thani_network,
)


@dataclass
class Console:
    client: httpx.AsyncClient
    membership: RunningMembership

    async def sign_in(self, token: str) -> httpx.Response:
        return await self.client.post("/login", data={"token": token})


@pytest.fixture
async def console(start_membership: MembershipFactory) -> AsyncIterator[Console]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    for name in ("กลุ่มทอผ้าไหมบ้านเชียง", "วิสาหกิจชุมชนแหนมหมูหนองหาน"):
        await membership.stub.RegisterMember(registration(business_name_th=name))
    settings = ConsoleSettings(
        membership_address=membership.address,
        analytics_address=f"127.0.0.1:{free_port(19600, 19699)}",  # nothing listens
        demo_login=True,
        auth_keys=TEST_AUTH_KEYS_JSON,
        call_timeout_seconds=2.0,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            yield Console(client, membership)


async def test_a_signed_out_visitor_is_sent_to_sign_in(console: Console) -> None:
    for path in ("/", "/province/TH-41", "/province/TH-41/members", "/national"):
        reply = await console.client.get(path)
        assert (reply.status_code, reply.headers["location"]) == (303, "/login"), path
    login = await console.client.get("/login")
    assert "เข้าสู่ระบบ" in login.text and 'lang="th"' in login.text


async def test_the_health_page_answers_signed_out_while_analytics_is_down(
    console: Console,
) -> None:
    # Kubernetes' probes (deploy/k8s/console.yaml) ask this page: no sign-in, no service call.
    reply = await console.client.get("/healthz")
    assert (reply.status_code, reply.text) == (200, "ok")


async def test_a_bad_token_is_refused_at_sign_in(console: Console) -> None:
    reply = await console.sign_in("not-a-token")
    assert reply.status_code == 400
    assert "โทเคนไม่ถูกต้องหรือหมดอายุ" in reply.text
    assert (await console.client.get("/")).headers["location"] == "/login"


async def test_an_udon_thani_officer_lists_members_and_opens_one(console: Console) -> None:
    reply = await console.sign_in(token_for(officer_of("TH-41")))
    assert (reply.status_code, reply.headers["location"]) == (303, "/")
    assert (await console.client.get("/")).headers["location"] == "/province/TH-41"

    page = await console.client.get("/province/TH-41/members")
    assert page.status_code == 200
    assert "กลุ่มทอผ้าไหมบ้านเชียง" in page.text and "วิสาหกิจชุมชนแหนมหมูหนองหาน" in page.text
    searched = await console.client.get("/province/TH-41/members", params={"q": "แหนม"})
    assert "แหนมหมู" in searched.text and "ผ้าไหม" not in searched.text

    member_id = page.text.split('data-member-id="')[1].split('"')[0]
    member = await console.client.get(f"/members/{member_id}")
    assert member.status_code == 200
    assert "บุญมี ศรีสุข" in member.text  # the officer of the province sees the contact
    assert "บริการไม่ตอบสนอง" in member.text  # the history's service (analytics) is down


async def test_a_khon_kaen_officer_sees_no_udon_thani_member(console: Console) -> None:
    udon = await console.membership.stub.ListMembers(
        membership_service_pb2.ListMembersRequest(province_code="TH-41")
    )
    await console.sign_in(token_for(officer_of("TH-40")))

    listing = await console.client.get("/province/TH-41/members")
    assert listing.status_code == 200
    assert 'data-testid="no-members"' in listing.text
    assert not [m for m in udon.members if m.business_name_th in listing.text]

    member = await console.client.get(f"/members/{udon.members[0].member_id}")
    assert member.status_code == 403
    assert "ไม่มีสิทธิ์" in member.text and udon.members[0].business_name_th not in member.text


async def test_the_dashboard_says_which_panels_are_unavailable_and_switches_to_english(
    console: Console,
) -> None:
    await console.client.post("/login", data={"demo": "officer-TH-41"})

    page = await console.client.get("/province/TH-41")
    assert page.status_code == 200
    assert "แดชบอร์ดจังหวัด อุดรธานี" in page.text
    assert "บริการไม่ตอบสนอง" in page.text  # analytics is down: said, not hidden

    switched = await console.client.get("/lang/en", params={"next": "/province/TH-41"})
    assert switched.headers["location"] == "/province/TH-41"
    page = await console.client.get("/province/TH-41")
    assert 'lang="en"' in page.text and "Province dashboard Udon Thani" in page.text
    assert "The service did not answer" in page.text
    # Only this site's pages are followed back to.
    assert (await console.client.get("/lang/th", params={"next": "//evil.example"})).headers[
        "location"
    ] == "/"
