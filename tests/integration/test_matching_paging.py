"""Matching's lists come in pages: every row once, in order, narrowed to the caller.

Real matching over gRPC, a real SQLite file, the real broker; offers arrive from
membership's events as in the running stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import matching_pb2 as mp
from bizclub.matching.v1 import matching_service_pb2 as ms
from bizclub.matching.v1 import matching_service_pb2_grpc
from bizclub.membership.v1 import membership_service_pb2
from bizclub_shared.grpc_server import field_violations

from tests.conftest import Broker, MembershipFactory
from tests.integration.matching_support import running_matching
from tests.support import client_channel, officer_of, registration, udon_thani_network


async def all_pages(
    call: Callable[[Any], Awaitable[Any]], request: Any, field: str, size: int
) -> tuple[list[Any], int]:
    items: list[Any] = []
    pages = 0
    while True:
        request.page.CopyFrom(
            common_pb2.PageRequest(page_size=size, page_token=request.page.page_token)
        )
        reply = await call(request)
        items += getattr(reply, field)
        pages += 1
        if not reply.page.next_page_token:
            return items, pages
        request.page.page_token = reply.page.next_page_token


async def test_buyers_needs_and_offers_page_in_order_each_once(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> None:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    member_ids = set()
    for i in range(5):
        member = (
            await membership.stub.RegisterMember(registration(business_name_th=f"กลุ่มทอผ้า {i}"))
        ).member
        await membership.stub.ApproveMember(
            membership_service_pb2.ApproveMemberRequest(member_id=member.member_id)
        )
        member_ids.add(member.member_id)
    async with running_matching(tmp_path, broker) as matching:
        stub = matching.stub
        buyers = []
        for i in range(7):
            province = "TH-41" if i % 2 else "TH-40"
            reply = await stub.RegisterBuyer(
                ms.RegisterBuyerRequest(
                    province_code=province, kind=mp.BUYER_KIND_HOTEL, name_th=f"โรงแรม {i}"
                )
            )
            buyers.append(reply.buyer)
        needs = []
        for i, buyer in enumerate(buyers):
            # Every third need is open to Bangkok only (and its own province).
            open_to = ["TH-10"] if i % 3 == 0 else []
            reply = await stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=buyer.buyer_id,
                    categories=[mp.PRODUCT_CATEGORY_TEXTILES],
                    title=f"ผ้าไหม ล็อต {i}",
                    volume=mp.Quantity(amount=10, unit="ผืน"),
                    open_to_province_codes=open_to,
                )
            )
            needs.append(reply.need)
        await matching.offers_arrive(member_ids)

        listed_buyers, pages = await all_pages(stub.ListBuyers, ms.ListBuyersRequest(), "buyers", 2)
        assert [b.buyer_id for b in listed_buyers] == [b.buyer_id for b in buyers]
        assert pages == 4
        listed_needs, _ = await all_pages(stub.ListNeeds, ms.ListNeedsRequest(), "needs", 3)
        assert [n.need_id for n in listed_needs] == [n.need_id for n in needs]
        offers, _ = await all_pages(stub.ListOffers, ms.ListOffersRequest(), "offers", 2)
        assert {o.member_id for o in offers} == member_ids
        assert len({o.offer_id for o in offers}) == len(offers)
        keys = [(o.member_id, o.offer_id) for o in offers]
        assert keys == sorted(keys)

        # A Khon Kaen officer: needs of TH-40 and those open to all; no Udon Thani offers.
        khon_kaen = client_channel(
            f"127.0.0.1:{matching.app.runtime.server.port}",  # type: ignore[union-attr]
            officer_of("TH-40"),
        )
        as_kk = matching_service_pb2_grpc.MatchingServiceStub(khon_kaen)
        seen, _ = await all_pages(as_kk.ListNeeds, ms.ListNeedsRequest(), "needs", 1)
        expected = [
            n.need_id for n in needs if n.province_code == "TH-40" or not n.open_to_province_codes
        ]
        assert [n.need_id for n in seen] == expected
        assert (await as_kk.ListOffers(ms.ListOffersRequest())).offers == []
        closed = next(n for n in needs if n.province_code == "TH-41" and n.open_to_province_codes)
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await as_kk.GetNeed(ms.GetNeedRequest(need_id=closed.need_id))
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        await khon_kaen.close()

        # Tokens: one from other filters, or not ours, is refused with the field named.
        first = await stub.ListBuyers(
            ms.ListBuyersRequest(page=common_pb2.PageRequest(page_size=2))
        )
        for request in (
            ms.ListBuyersRequest(
                province_code="TH-41",
                page=common_pb2.PageRequest(page_token=first.page.next_page_token),
            ),
            ms.ListBuyersRequest(page=common_pb2.PageRequest(page_token="garbage")),
            ms.ListBuyersRequest(page=common_pb2.PageRequest(page_size=501)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListBuyers(request)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert list(field_violations(refused.value)) == [
                "page.page_size" if request.page.page_size else "page.page_token"
            ]
