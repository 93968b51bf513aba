"""The MembershipService API through real gRPC, a real SQLite file and a real broker.

Bad input: the right status, the offending field in the google.rpc.BadRequest detail,
and nothing written (members, outbox) or published. Good input: listing, paging,
Thai word search, the committee and peer mentoring (พี่สอนน้อง).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import events_pb2, membership_pb2, membership_service_pb2
from bizclub_shared.grpc_server import field_violations
from bizclub_shared.outbox import OutboxEvent
from bizclub_shared.topics import MEMBERSHIP
from sqlalchemy import func, select

from tests.conftest import Broker, MembershipFactory, RunningMembership
from tests.support import end_offsets_total, read_topic, registration, thai_id, udon_thani_network

ms = membership_service_pb2
mp = membership_pb2
StatusCode = grpc.StatusCode

SME = mp.ENTERPRISE_TYPE_SME
COMMUNITY = mp.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE
OTOP = mp.ENTERPRISE_TYPE_OTOP
APPLIED, ACTIVE = mp.MEMBER_STATUS_APPLIED, mp.MEMBER_STATUS_ACTIVE
SUSPENDED, LEFT = mp.MEMBER_STATUS_SUSPENDED, mp.MEMBER_STATUS_LEFT


def khon_kaen_network() -> ms.CreateNetworkRequest:
    return ms.CreateNetworkRequest(
        province_code="TH-40",
        name_th="เครือข่าย MOC Biz Club ขอนแก่น",
        name_en="MOC Biz Club Khon Kaen",
        clusters=[mp.Cluster(cluster_code="silk-kk", name_th="ผ้าไหมขอนแก่น")],
    )


# --- what the service holds -----------------------------------------------------------


async def list_all(
    service: RunningMembership, page_size: int = 500, **filters: Any
) -> list[mp.Member]:
    """Every member matching the filters, following next_page_token to the end."""
    members: list[mp.Member] = []
    token = ""
    for _ in range(1000):
        reply = await service.stub.ListMembers(
            ms.ListMembersRequest(
                page=common_pb2.PageRequest(page_size=page_size, page_token=token), **filters
            )
        )
        members.extend(reply.members)
        token = reply.page.next_page_token
        if not token:
            return members
    raise AssertionError("paging did not end")


async def outbox_rows(service: RunningMembership) -> int:
    """Rows in the service's outbox table, sent or not."""
    query = select(func.count()).select_from(OutboxEvent)
    return int(
        await service.app.runtime.db.read(lambda session: session.execute(query).scalar_one())
    )


async def all_published(service: RunningMembership) -> None:
    """Wait until the relay has published every outbox row."""
    for _ in range(200):
        if await service.app.runtime.relay.pending_count() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox relay did not catch up")


async def topic_size(broker: Broker) -> int:
    """Records on the membership topic.

    On Apache Kafka the sum of the partitions' end offsets (exact: no transactions, and
    no other producer runs during a test); Tansu can report an end offset short of what
    it holds, so there the topic is read in full.
    """
    if broker.embedded is None:
        return await end_offsets_total(broker.bootstrap_servers, MEMBERSHIP)
    return len(await read_topic(broker.bootstrap_servers, MEMBERSHIP))


async def register(service: RunningMembership, **overrides: object) -> mp.Member:
    return (await service.stub.RegisterMember(registration(**overrides))).member


async def register_active(service: RunningMembership, **overrides: object) -> mp.Member:
    member = await register(service, **overrides)
    return (
        await service.stub.ApproveMember(ms.ApproveMemberRequest(member_id=member.member_id))
    ).member


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# --- bad input: right status, field named, nothing written, nothing emitted --------------


@dataclass
class World:
    """Udon Thani (4 clusters) and Khon Kaen ("silk-kk") networks, a few members."""

    service: RunningMembership
    broker: Broker
    active: mp.Member
    other_active: mp.Member
    left: mp.Member
    tax_id: str
    page_token: str
    before: dict[str, object] = field(default_factory=dict)

    async def snapshot(self) -> dict[str, object]:
        await all_published(self.service)
        members = await list_all(self.service)
        return {
            "members": sorted((m.member_id, m.status, m.cluster_code) for m in members),
            "outbox": await outbox_rows(self.service),
            "topic": await topic_size(self.broker),
        }


@pytest.fixture
async def world(broker: Broker, start_membership: MembershipFactory) -> World:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    await service.stub.CreateNetwork(khon_kaen_network())
    active = await register_active(service, business_name_th="ร้านผ้าไหมแม่บุญ")
    other_active = await register_active(service, business_name_th="ตาลโตนดแปรรูป")
    left = await register_active(service, business_name_th="กลุ่มทอผ้าฝ้ายบ้านนา")
    await service.stub.LeaveNetwork(ms.LeaveNetworkRequest(member_id=left.member_id))
    page = await service.stub.ListMembers(
        ms.ListMembersRequest(province_code="TH-41", page=common_pb2.PageRequest(page_size=1))
    )
    assert page.page.next_page_token
    world = World(
        service, broker, active, other_active, left, active.tax_id, page.page.next_page_token
    )
    world.before = await world.snapshot()
    assert len(world.before["members"]) == 3  # type: ignore[arg-type]
    return world


def cursor(payload: object) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def list_with_token(token: str) -> Callable[[World], Awaitable[object]]:
    return lambda w: w.service.stub.ListMembers(
        ms.ListMembersRequest(page=common_pb2.PageRequest(page_token=token))
    )


BadCall = tuple[Callable[[World], Awaitable[object]], grpc.StatusCode, str, str]
BAD_INPUT: dict[str, BadCall] = {
    "tax-id-checksum": (
        lambda w: w.service.stub.RegisterMember(registration(tax_id="0105536000310")),
        StatusCode.INVALID_ARGUMENT,
        "tax_id",
        "checksum does not match",
    ),
    "tax-id-not-13-digits": (
        lambda w: w.service.stub.RegisterMember(registration(tax_id="010553600031")),
        StatusCode.INVALID_ARGUMENT,
        "tax_id",
        "13 digits",
    ),
    "business-name-empty": (
        lambda w: w.service.stub.RegisterMember(registration(business_name_th="")),
        StatusCode.INVALID_ARGUMENT,
        "business_name_th",
        "required",
    ),
    "business-name-whitespace": (
        lambda w: w.service.stub.RegisterMember(
            registration(business_name_th="   \u3000\u00a0\u200b  ")
        ),
        StatusCode.INVALID_ARGUMENT,
        "business_name_th",
        "required",
    ),
    "contact-email-too-long": (
        lambda w: w.service.stub.RegisterMember(
            registration(
                contact=mp.Contact(full_name="บุญมี ศรีสุข", email="k" * 190 + "@example.co.th")
            )
        ),
        StatusCode.INVALID_ARGUMENT,
        "contact.email",
        "longer than 200 characters",
    ),
    "unknown-cluster": (
        lambda w: w.service.stub.RegisterMember(registration(cluster_code="pottery")),
        StatusCode.INVALID_ARGUMENT,
        "cluster_code",
        "no cluster 'pottery' in the network of TH-41",
    ),
    "cluster-of-another-province": (
        lambda w: w.service.stub.RegisterMember(
            registration(province_code="TH-41", cluster_code="silk-kk")
        ),
        StatusCode.INVALID_ARGUMENT,
        "cluster_code",
        "belongs to TH-40, not TH-41",
    ),
    "negative-revenue": (
        lambda w: w.service.stub.RegisterMember(
            registration(baseline_monthly_revenue=common_pb2.Money(satang=-1))
        ),
        StatusCode.INVALID_ARGUMENT,
        "baseline_monthly_revenue.satang",
        "negative",
    ),
    "approve-a-member-who-left": (
        lambda w: w.service.stub.ApproveMember(
            ms.ApproveMemberRequest(member_id=w.left.member_id, resolution="มติ 5/2569")
        ),
        StatusCode.FAILED_PRECONDITION,
        "member_id",
        "cannot approve a member who is left",
    ),
    "mentor-themselves": (
        lambda w: w.service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=w.active.member_id, mentee_member_id=w.active.member_id
            )
        ),
        StatusCode.INVALID_ARGUMENT,
        "mentee_member_id",
        "cannot mentor themselves",
    ),
    "mentor-who-left": (
        lambda w: w.service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=w.left.member_id, mentee_member_id=w.active.member_id
            )
        ),
        StatusCode.FAILED_PRECONDITION,
        "mentor_member_id",
        "must be active",
    ),
    "cluster-change-to-another-province": (
        lambda w: w.service.stub.ChangeMemberCluster(
            ms.ChangeMemberClusterRequest(member_id=w.active.member_id, cluster_code="silk-kk")
        ),
        StatusCode.INVALID_ARGUMENT,
        "cluster_code",
        "belongs to TH-40",
    ),
    "appoint-a-member-who-left": (
        lambda w: w.service.stub.AppointCommitteeMember(
            ms.AppointCommitteeMemberRequest(
                member_id=w.left.member_id,
                role=mp.COMMITTEE_ROLE_TREASURER,
                term_start=common_pb2.Date(year=2568, month=1, day=1),
                term_end=common_pb2.Date(year=2569, month=12, day=31),
            )
        ),
        StatusCode.FAILED_PRECONDITION,
        "member_id",
        "only an active member",
    ),
    **{
        f"page-token-{name}": (
            list_with_token(token),
            StatusCode.INVALID_ARGUMENT,
            "page.page_token",
            "",
        )
        for name, token in {
            "garbage": "not-a-cursor",
            "punctuation": "!!!",
            "thai": "ผ้าไหม",
            "not-json": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
            "json-list": cursor([1, 2]),
            "after-not-a-number": cursor({"after": "x", "filters": "[]"}),
            "negative": cursor({"after": -5, "filters": '[[], "", 0, 0, []]'}),
        }.items()
    },
    "page-token-of-other-filters": (
        # A real token, issued for province TH-41, offered with no filters.
        lambda w: w.service.stub.ListMembers(
            ms.ListMembersRequest(page=common_pb2.PageRequest(page_token=w.page_token))
        ),
        StatusCode.INVALID_ARGUMENT,
        "page.page_token",
        "different filters",
    ),
}


@pytest.mark.parametrize(
    ("call", "code", "field", "words"), list(BAD_INPUT.values()), ids=list(BAD_INPUT)
)
async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    world: World,
    call: Callable[[World], Awaitable[object]],
    code: grpc.StatusCode,
    field: str,
    words: str,
) -> None:
    err = await refused(call(world))

    assert err.code() == code, err.details()
    violations = field_violations(err)
    assert field in violations, violations
    assert words in violations[field]
    assert (err.details() or "").startswith(f"{field}: ") or "fields are invalid" in (
        err.details() or ""
    )
    assert await world.snapshot() == world.before


async def test_every_invalid_field_of_a_registration_is_named_at_once(world: World) -> None:
    err = await refused(
        world.service.stub.RegisterMember(
            registration(
                tax_id="0105536000310",
                business_name_th=" ",
                baseline_monthly_revenue=common_pb2.Money(satang=-500),
            )
        )
    )
    assert err.code() == StatusCode.INVALID_ARGUMENT
    assert set(field_violations(err)) == {
        "tax_id",
        "business_name_th",
        "baseline_monthly_revenue.satang",
    }
    assert (err.details() or "").startswith("3 fields are invalid")
    assert await world.snapshot() == world.before


@pytest.mark.parametrize("spelling", ["same", "with-dashes"])
async def test_a_second_registration_with_the_same_tax_id_already_exists(
    world: World, spelling: str
) -> None:
    tax_id = world.tax_id
    if spelling == "with-dashes":
        tax_id = f"{tax_id[0]}-{tax_id[1:5]}-{tax_id[5:10]}-{tax_id[10:12]}-{tax_id[12]}"
    err = await refused(
        world.service.stub.RegisterMember(
            registration(tax_id=tax_id, business_name_th="ร้านใหม่", cluster_code="food")
        )
    )
    assert err.code() == StatusCode.ALREADY_EXISTS
    # ALREADY_EXISTS names the record in the message (no BadRequest detail by contract).
    assert (err.details() or "").startswith("tax_id: a member with this tax ID")
    assert world.active.member_id in (err.details() or "")
    assert await world.snapshot() == world.before


async def test_approving_a_member_who_left_leaves_them_left(world: World) -> None:
    await refused(
        world.service.stub.ApproveMember(ms.ApproveMemberRequest(member_id=world.left.member_id))
    )
    member = (
        await world.service.stub.GetMember(ms.GetMemberRequest(member_id=world.left.member_id))
    ).member
    assert member.status == LEFT
    assert member.approved_at == world.left.approved_at


# BUG: a crafted but well-formed cursor whose "after" is out of range crashes the query.
@pytest.mark.parametrize("after", ["1e999", str(2**64)])
async def test_an_out_of_range_cursor_is_invalid_argument(world: World, after: str) -> None:
    filters = json.dumps([[], "", 0, 0, []])
    raw = ('{"after": ' + after + ', "filters": ' + json.dumps(filters) + "}").encode()
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    err = await refused(
        world.service.stub.ListMembers(
            ms.ListMembersRequest(page=common_pb2.PageRequest(page_token=token))
        )
    )
    assert err.code() == StatusCode.INVALID_ARGUMENT, err.details()
    assert "page.page_token" in field_violations(err)


# --- listing, filters and cursor paging ---------------------------------------------------


async def test_list_members_filters_by_province_cluster_status_and_type(
    start_membership: MembershipFactory,
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    await service.stub.CreateNetwork(khon_kaen_network())
    clusters = ["textiles", "food", "agriculture", "tourism"]
    types = [SME, COMMUNITY, OTOP]
    expected: dict[str, tuple[str, str, int, int]] = {}
    for i in range(12):
        member = await register(
            service,
            cluster_code=clusters[i % 4],
            enterprise_type=types[i % 3],
            business_name_th=f"ร้านค้าชุมชน {i}",
        )
        status = APPLIED
        if i % 2 == 0:
            await service.stub.ApproveMember(ms.ApproveMemberRequest(member_id=member.member_id))
            status = ACTIVE
            if i % 6 == 0:
                await service.stub.SuspendMember(
                    ms.SuspendMemberRequest(member_id=member.member_id, reason="ค้างชำระ")
                )
                status = SUSPENDED
        if i == 11:
            await service.stub.LeaveNetwork(ms.LeaveNetworkRequest(member_id=member.member_id))
            status = LEFT
        expected[member.member_id] = ("TH-41", clusters[i % 4], status, types[i % 3])
    for i in range(3):
        member = await register(
            service,
            province_code="TH-40",
            cluster_code="silk-kk",
            enterprise_type=OTOP,
            business_name_th=f"ผ้าไหมขอนแก่น {i}",
        )
        expected[member.member_id] = ("TH-40", "silk-kk", APPLIED, OTOP)

    def want(**criteria: object) -> set[str]:
        index = {"province_code": 0, "cluster_code": 1, "status": 2, "enterprise_type": 3}
        return {
            member_id
            for member_id, facts in expected.items()
            if all(facts[index[k]] == v for k, v in criteria.items())
        }

    cases: list[dict[str, Any]] = [
        {},
        {"province_code": "TH-41"},
        {"province_code": "TH-40"},
        {"province_code": "TH-41", "cluster_code": "food"},
        {"cluster_code": "silk-kk"},
        {"status": ACTIVE},
        {"status": SUSPENDED},
        {"status": LEFT},
        {"province_code": "TH-41", "status": APPLIED},
        {"enterprise_type": OTOP},
        {"province_code": "TH-41", "enterprise_type": COMMUNITY, "status": ACTIVE},
        {"province_code": "TH-41", "cluster_code": "textiles", "enterprise_type": SME},
        {"province_code": "TH-12"},  # a province with no network: nobody
    ]
    for criteria in cases:
        got = await list_all(service, **criteria)
        ids = [m.member_id for m in got]
        assert len(ids) == len(set(ids))
        assert set(ids) == want(**criteria), criteria
    assert len(want(status=SUSPENDED)) == 2 and len(want(status=LEFT)) == 1
    # Listed members come with what an operator needs to see.
    [left] = await list_all(service, status=LEFT)
    assert left.business_name_th == "ร้านค้าชุมชน 11" and left.province_code == "TH-41"


async def test_cursor_paging_returns_every_member_once_in_order(
    start_membership: MembershipFactory,
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    registered = [
        (
            await register(service, business_name_th=f"ร้านผ้าทอ {i}", cluster_code="textiles")
        ).member_id
        for i in range(23)
    ]
    registered_food = [
        (await register(service, business_name_th=f"ครัว {i}", cluster_code="food")).member_id
        for i in range(4)
    ]

    pages: list[list[str]] = []
    token = ""
    while True:
        reply = await service.stub.ListMembers(
            ms.ListMembersRequest(
                province_code="TH-41",
                cluster_code="textiles",
                page=common_pb2.PageRequest(page_size=5, page_token=token),
            )
        )
        pages.append([m.member_id for m in reply.members])
        token = reply.page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == registered  # each once, in registration order

    # An exact multiple of the page size ends without an empty extra page.
    assert [m.member_id for m in await list_all(service, page_size=4, cluster_code="food")] == (
        registered_food
    )
    # Page size 0 means 50; more than 500 is capped.
    reply = await service.stub.ListMembers(ms.ListMembersRequest())
    assert len(reply.members) == 27 and not reply.page.next_page_token
    reply = await service.stub.ListMembers(
        ms.ListMembersRequest(page=common_pb2.PageRequest(page_size=10_000))
    )
    assert len(reply.members) == 27
    err = await refused(
        service.stub.ListMembers(ms.ListMembersRequest(page=common_pb2.PageRequest(page_size=-1)))
    )
    assert err.code() == StatusCode.INVALID_ARGUMENT
    assert "page.page_size" in field_violations(err)


async def test_paging_holds_while_members_join_between_pages(
    start_membership: MembershipFactory,
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    first = [(await register(service)).member_id for _ in range(4)]
    reply = await service.stub.ListMembers(
        ms.ListMembersRequest(page=common_pb2.PageRequest(page_size=3))
    )
    assert [m.member_id for m in reply.members] == first[:3]
    late = (await register(service)).member_id
    rest = await service.stub.ListMembers(
        ms.ListMembersRequest(
            page=common_pb2.PageRequest(page_size=3, page_token=reply.page.next_page_token)
        )
    )
    assert [m.member_id for m in rest.members] == [first[3], late]


# --- search by word -------------------------------------------------------------------------


@pytest.fixture
async def shops(start_membership: MembershipFactory) -> tuple[RunningMembership, dict[str, str]]:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    names = {
        "silk": ("ร้านผ้าไหมแม่บุญ", "Mae Boon Silk Shop", "textiles"),
        "cotton": ("กลุ่มทอผ้าฝ้ายบ้านนา", "Ban Na Cotton Weavers", "textiles"),
        "palm": ("ตาลโตนดแปรรูป", "Palmyra Products", "agriculture"),
    }
    ids = {}
    for key, (th, en, cluster) in names.items():
        ids[key] = (
            await register(service, business_name_th=th, business_name_en=en, cluster_code=cluster)
        ).member_id
    return service, ids


async def search(service: RunningMembership, query: str, **filters: Any) -> set[str]:
    return {m.member_id for m in await list_all(service, page_size=2, query=query, **filters)}


# Query -> which of the shops it finds. Observed with PyThaiNLP newmm: the names are
# indexed as ร้าน|ผ้าไหม|แม่|บุญ, กลุ่ม|ทอ|ผ้าฝ้าย|บ้าน|นา and ตาลโตนด|แปรรูป.
SEARCHES: list[tuple[str, set[str]]] = [
    ("ผ้าไหม", {"silk"}),
    ("ผ้า", {"silk", "cotton"}),  # starts ผ้าไหม and ผ้าฝ้าย
    ("ผ้าฝ้าย", {"cotton"}),
    ("ร้าน", {"silk"}),
    ("บุญ", {"silk"}),
    ("แม่บุญ", {"silk"}),  # two words, each starting a word of the name
    ("ผ้าไหม แม่", {"silk"}),
    ("บ้านนา", {"cotton"}),
    ("ตาล", {"palm"}),  # starts ตาลโตนด
    ("ตาลโตนด", {"palm"}),
    ("แปรรูป", {"palm"}),
    # Only the inside of a word: no match.
    ("ไหม", set()),  # inside ผ้าไหม
    ("ไหมแม่", set()),  # segmented ไหม|แม่; ไหม starts no word
    ("าลโต", set()),  # segmented าล|โต; neither starts a word
    ("โตนด", set()),  # inside ตาลโตนด
    ("ฝ้าย", set()),  # inside ผ้าฝ้าย
    # Every word must match.
    ("ผ้าไหม ตาล", set()),
    ("ผ้าไหม บ้านนา", set()),
    # Normalised like the names: zero-width space and stray whitespace are ignored.
    ("ผ้า\u200bไหม", {"silk"}),
    ("  ผ้าไหม  ", {"silk"}),
    # English is case-insensitive and also by word start.
    ("silk", {"silk"}),
    ("SILK", {"silk"}),
    ("Mae boon", {"silk"}),
    ("weav", {"cotton"}),
    ("COTTON WEAVERS", {"cotton"}),
    ("palmyra", {"palm"}),
    ("ilk", set()),
    ("eavers", set()),
]


async def test_search_matches_word_starts_of_thai_and_english_names(
    shops: tuple[RunningMembership, dict[str, str]],
) -> None:
    service, ids = shops
    wrong = {}
    for query, found in SEARCHES:
        got = await search(service, query)
        names = {name for name, member_id in ids.items() if member_id in got}
        if names != found:
            wrong[query] = (sorted(names), "expected", sorted(found))
    assert wrong == {}


async def test_search_combines_with_filters_and_pages(
    shops: tuple[RunningMembership, dict[str, str]],
) -> None:
    service, ids = shops
    assert await search(service, "ผ้า", cluster_code="textiles") == {ids["silk"], ids["cotton"]}
    assert await search(service, "ผ้า", cluster_code="agriculture") == set()
    assert await search(service, "ผ้า", province_code="TH-40") == set()
    first = await service.stub.ListMembers(
        ms.ListMembersRequest(query="ผ้า", page=common_pb2.PageRequest(page_size=1))
    )
    assert first.page.next_page_token
    # The token belongs to its query: reusing it for another query is refused.
    err = await refused(
        service.stub.ListMembers(
            ms.ListMembersRequest(
                query="ตาล",
                page=common_pb2.PageRequest(page_size=1, page_token=first.page.next_page_token),
            )
        )
    )
    assert err.code() == StatusCode.INVALID_ARGUMENT
    assert "page.page_token" in field_violations(err)


async def test_search_finds_a_query_that_spans_words_of_the_name(
    shops: tuple[RunningMembership, dict[str, str]],
) -> None:
    service, ids = shops
    # "ทอผ้า" (weaving) is how an operator looks for กลุ่ม|ทอ|ผ้าฝ้าย|บ้าน|นา.
    assert await search(service, "ทอผ้า") == {ids["cotton"]}


# --- the committee ----------------------------------------------------------------------------


def be_date(day: date) -> common_pb2.Date:
    """A proto Date in the Buddhist era (พ.ศ.), as operators enter it."""
    return common_pb2.Date(year=day.year + 543, month=day.month, day=day.day)


def ce_date(day: date) -> common_pb2.Date:
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


async def test_committee_appointments_show_in_get_network(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    chair, lead, treasurer, pending = (
        await register_active(service),
        await register_active(service),
        await register_active(service),
        await register(service),
    )
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=100), today + timedelta(days=600)

    def appoint(
        member: mp.Member, role: int, cluster: str = "", **dates: common_pb2.Date
    ) -> Awaitable[ms.AppointCommitteeMemberResponse]:
        return service.stub.AppointCommitteeMember(
            ms.AppointCommitteeMemberRequest(
                member_id=member.member_id,
                role=role,  # type: ignore[arg-type]
                cluster_code=cluster,
                term_start=dates.get("term_start", be_date(start)),
                term_end=dates.get("term_end", be_date(end)),
            )
        )

    made = (await appoint(chair, mp.COMMITTEE_ROLE_CHAIR)).appointment
    # Buddhist-era years in, common-era years out.
    assert made.term_start == ce_date(start) and made.term_end == ce_date(end)
    await appoint(lead, mp.COMMITTEE_ROLE_CLUSTER_LEAD, "textiles")
    await appoint(treasurer, mp.COMMITTEE_ROLE_TREASURER, term_start=ce_date(start))
    # A past term is not the current committee.
    await appoint(
        lead,
        mp.COMMITTEE_ROLE_SECRETARY,
        term_start=be_date(start - timedelta(days=800)),
        term_end=be_date(start - timedelta(days=400)),
    )

    await all_published(service)
    outbox = await outbox_rows(service)
    # Each call starts when created, so the outbox was counted first.
    refusals = [
        (appoint(treasurer, mp.COMMITTEE_ROLE_CHAIR), StatusCode.FAILED_PRECONDITION, "role"),
        (
            appoint(chair, mp.COMMITTEE_ROLE_CLUSTER_LEAD, "textiles"),
            StatusCode.FAILED_PRECONDITION,
            "cluster_code",
        ),
        (
            appoint(chair, mp.COMMITTEE_ROLE_CLUSTER_LEAD, ""),
            StatusCode.INVALID_ARGUMENT,
            "cluster_code",
        ),
        (
            appoint(chair, mp.COMMITTEE_ROLE_CLUSTER_LEAD, "silk"),
            StatusCode.INVALID_ARGUMENT,
            "cluster_code",
        ),
        (appoint(pending, mp.COMMITTEE_ROLE_MEMBER), StatusCode.FAILED_PRECONDITION, "member_id"),
        (
            appoint(chair, mp.COMMITTEE_ROLE_MEMBER, term_end=be_date(start)),
            StatusCode.INVALID_ARGUMENT,
            "term_end",
        ),
        (
            appoint(
                chair,
                mp.COMMITTEE_ROLE_MEMBER,
                term_end=common_pb2.Date(year=2569, month=2, day=30),
            ),
            StatusCode.INVALID_ARGUMENT,
            "term_end",
        ),
        (appoint(chair, mp.COMMITTEE_ROLE_UNSPECIFIED), StatusCode.INVALID_ARGUMENT, "role"),
    ]
    for call, code, field_name in refusals:
        err = await refused(call)
        assert err.code() == code, err.details()
        assert field_name in field_violations(err), err.details()
    assert await outbox_rows(service) == outbox

    network = await service.stub.GetNetwork(ms.GetNetworkRequest(province_code="TH-41"))
    assert network.province == common_pb2.Province(
        province_code="TH-41", name_th="อุดรธานี", name_en="Udon Thani"
    )
    assert [c.cluster_code for c in network.network.clusters] == [
        "agriculture",
        "food",
        "textiles",
        "tourism",
    ]
    assert [(a.member_id, a.role, a.cluster_code) for a in network.committee] == [
        (chair.member_id, mp.COMMITTEE_ROLE_CHAIR, ""),
        (treasurer.member_id, mp.COMMITTEE_ROLE_TREASURER, ""),
        (lead.member_id, mp.COMMITTEE_ROLE_CLUSTER_LEAD, "textiles"),
    ]
    assert network.committee[0] == made

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={chair.member_id}, expect=3
    )
    [appointed] = [
        events_pb2.CommitteeMemberAppointed.FromString(r.value)
        for r in records
        if r.headers["ce_type"] == "bizclub.membership.v1.CommitteeMemberAppointed"
    ]
    assert appointed.appointment_id == made.appointment_id
    assert appointed.term_start == ce_date(start) and appointed.role == mp.COMMITTEE_ROLE_CHAIR


async def test_terms_sharing_a_day_overlap(start_membership: MembershipFactory) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    outgoing, incoming = await register_active(service), await register_active(service)
    today = datetime.now(UTC).date()
    await service.stub.AppointCommitteeMember(
        ms.AppointCommitteeMemberRequest(
            member_id=outgoing.member_id,
            role=mp.COMMITTEE_ROLE_CHAIR,
            term_start=be_date(today - timedelta(days=365)),
            term_end=be_date(today),
        )
    )
    # Starts on the day the outgoing chair's term ends (inclusive): two chairs that day.
    err = await refused(
        service.stub.AppointCommitteeMember(
            ms.AppointCommitteeMemberRequest(
                member_id=incoming.member_id,
                role=mp.COMMITTEE_ROLE_CHAIR,
                term_start=be_date(today),
                term_end=be_date(today + timedelta(days=365)),
            )
        )
    )
    assert err.code() == StatusCode.FAILED_PRECONDITION
    assert "role" in field_violations(err)


# --- mentoring (พี่สอนน้อง) -------------------------------------------------------------------


async def test_mentorship_start_list_and_end(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    await service.stub.CreateNetwork(khon_kaen_network())
    mentor, mentee, other_mentor = [m async for m in _members(service, 3)]
    applicant = await register(service)
    khon_kaen = await register_active(service, province_code="TH-40", cluster_code="silk-kk")

    started = (
        await service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=mentor.member_id,
                mentee_member_id=mentee.member_id,
                focus="การตลาดออนไลน์และบรรจุภัณฑ์",
            )
        )
    ).mentorship
    assert (started.mentor_member_id, started.mentee_member_id) == (
        mentor.member_id,
        mentee.member_id,
    )
    assert started.province_code == "TH-41" and started.focus == "การตลาดออนไลน์และบรรจุภัณฑ์"
    assert started.HasField("started_at") and not started.HasField("ended_at")

    await all_published(service)
    outbox = await outbox_rows(service)
    for request, code, field_name in [
        # One active mentor per mentee.
        ((other_mentor, mentee), StatusCode.FAILED_PRECONDITION, "mentee_member_id"),
        ((applicant, other_mentor), StatusCode.FAILED_PRECONDITION, "mentor_member_id"),
        ((other_mentor, applicant), StatusCode.FAILED_PRECONDITION, "mentee_member_id"),
        ((khon_kaen, other_mentor), StatusCode.FAILED_PRECONDITION, "mentee_member_id"),
    ]:
        err = await refused(
            service.stub.StartMentorship(
                ms.StartMentorshipRequest(
                    mentor_member_id=request[0].member_id, mentee_member_id=request[1].member_id
                )
            )
        )
        assert err.code() == code, err.details()
        assert field_name in field_violations(err), err.details()
    err = await refused(
        service.stub.StartMentorship(
            ms.StartMentorshipRequest(mentor_member_id="nobody", mentee_member_id=mentee.member_id)
        )
    )
    assert err.code() == StatusCode.NOT_FOUND
    assert (err.details() or "").startswith("mentor_member_id:")
    assert await outbox_rows(service) == outbox

    async def listed(**request: Any) -> list[str]:
        reply = await service.stub.ListMentorships(ms.ListMentorshipsRequest(**request))
        return [m.mentorship_id for m in reply.mentorships]

    assert await listed(province_code="TH-41") == [started.mentorship_id]
    assert await listed(member_id=mentor.member_id) == [started.mentorship_id]
    assert await listed(member_id=mentee.member_id) == [started.mentorship_id]
    assert await listed(member_id=other_mentor.member_id) == []
    assert await listed(province_code="TH-40") == []

    ended = (
        await service.stub.EndMentorship(
            ms.EndMentorshipRequest(mentorship_id=started.mentorship_id)
        )
    ).mentorship
    assert ended.HasField("ended_at") and ended.started_at == started.started_at
    err = await refused(
        service.stub.EndMentorship(ms.EndMentorshipRequest(mentorship_id=started.mentorship_id))
    )
    assert err.code() == StatusCode.FAILED_PRECONDITION
    assert "mentorship_id" in field_violations(err)

    assert await listed(province_code="TH-41") == []
    assert await listed(province_code="TH-41", include_ended=True) == [started.mentorship_id]
    # With the first mentorship over, the mentee may have a new mentor.
    again = (
        await service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=other_mentor.member_id, mentee_member_id=mentee.member_id
            )
        )
    ).mentorship
    assert await listed(member_id=mentee.member_id) == [again.mentorship_id]
    assert await listed(member_id=mentee.member_id, include_ended=True) == [
        started.mentorship_id,
        again.mentorship_id,
    ]

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={mentee.member_id}, expect=5
    )
    kinds = [r.headers["ce_type"].rsplit(".", 1)[1] for r in records]
    assert kinds == [
        "MemberRegistered",
        "MemberApproved",
        "MentorshipStarted",
        "MentorshipEnded",
        "MentorshipStarted",
    ]
    ended_event = events_pb2.MentorshipEnded.FromString(records[3].value)
    assert ended_event.mentorship_id == started.mentorship_id
    assert ended_event.mentor_member_id == mentor.member_id


async def _members(service: RunningMembership, count: int) -> AsyncIterator[mp.Member]:
    for _ in range(count):
        yield await register_active(service)


async def test_leave_network_ends_the_members_active_mentorships(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    leaver, mentor, mentee_a, mentee_b = [m async for m in _members(service, 4)]

    async def start(mentor_id: str, mentee_id: str) -> str:
        reply = await service.stub.StartMentorship(
            ms.StartMentorshipRequest(mentor_member_id=mentor_id, mentee_member_id=mentee_id)
        )
        return reply.mentorship.mentorship_id

    as_mentee = await start(mentor.member_id, leaver.member_id)  # leaver is mentored
    as_mentor = await start(leaver.member_id, mentee_a.member_id)  # leaver mentors
    untouched = await start(mentor.member_id, mentee_b.member_id)

    left = (
        await service.stub.LeaveNetwork(
            ms.LeaveNetworkRequest(member_id=leaver.member_id, reason="เลิกกิจการ")
        )
    ).member
    assert left.status == LEFT

    reply = await service.stub.ListMentorships(ms.ListMentorshipsRequest(include_ended=True))
    by_id = {m.mentorship_id: m for m in reply.mentorships}
    assert by_id[as_mentee].HasField("ended_at") and by_id[as_mentor].HasField("ended_at")
    assert not by_id[untouched].HasField("ended_at")
    active = await service.stub.ListMentorships(ms.ListMentorshipsRequest(province_code="TH-41"))
    assert [m.mentorship_id for m in active.mentorships] == [untouched]
    # Both released mentees can be mentored again; the member who left cannot mentor.
    await start(mentor.member_id, mentee_a.member_id)
    err = await refused(
        service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=leaver.member_id, mentee_member_id=mentee_b.member_id
            )
        )
    )
    assert "mentor_member_id" in field_violations(err)

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={leaver.member_id, mentee_a.member_id}
    )
    kinds = [r.headers["ce_type"].rsplit(".", 1)[1] for r in records if r.key == leaver.member_id]
    assert kinds[-1] == "MemberLeft"
    # Each ending is keyed like its start (by the mentee), so each pair stays in order.
    ended = {
        events_pb2.MentorshipEnded.FromString(r.value).mentorship_id: r.key
        for r in records
        if r.headers["ce_type"].endswith("MentorshipEnded")
    }
    assert ended == {as_mentee: leaver.member_id, as_mentor: mentee_a.member_id}


async def test_a_mentorships_events_share_one_key_when_the_mentor_leaves(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    mentor, mentee = [m async for m in _members(service, 2)]
    mentorship = (
        await service.stub.StartMentorship(
            ms.StartMentorshipRequest(
                mentor_member_id=mentor.member_id, mentee_member_id=mentee.member_id
            )
        )
    ).mentorship
    await service.stub.LeaveNetwork(ms.LeaveNetworkRequest(member_id=mentor.member_id))

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={mentor.member_id, mentee.member_id}, expect=7
    )
    keys = {
        r.headers["ce_type"].rsplit(".", 1)[1]: r.key
        for r in records
        if r.headers["ce_type"].endswith(("MentorshipStarted", "MentorshipEnded"))
    }
    assert mentorship.mentorship_id
    assert keys["MentorshipStarted"] == keys["MentorshipEnded"] == mentee.member_id


async def test_register_and_approve_round_trip(start_membership: MembershipFactory) -> None:
    """A registration comes back normalised, with the contact, as APPLIED, then ACTIVE."""
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    tax_id = thai_id("01")
    member = await register(
        service,
        tax_id=f"{tax_id[:1]}-{tax_id[1:5]}-{tax_id[5:10]}-{tax_id[10:12]}-{tax_id[12:]}",
        business_name_th="  ร้านผ้าไหม\u200bแม่บุญ ",
    )
    assert member.tax_id == tax_id
    assert member.business_name_th == "ร้านผ้าไหมแม่บุญ"
    assert member.status == APPLIED and not member.HasField("approved_at")
    assert member.contact.full_name == "บุญมี ศรีสุข"
    approved = await register_active(service)
    assert approved.status == ACTIVE and approved.HasField("approved_at")
