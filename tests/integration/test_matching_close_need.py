"""A buyer's need, once closed, is no longer suggested or listed; the close is an event.

Real membership and matching over gRPC, SQLite files, the real broker.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from bizclub.matching.v1 import events_pb2
from bizclub.matching.v1 import matching_pb2 as mp
from bizclub.matching.v1 import matching_service_pb2 as ms
from bizclub.membership.v1 import membership_service_pb2
from bizclub_shared.grpc_server import field_violations
from bizclub_shared.topics import MATCHING

from tests.conftest import Broker, MembershipFactory
from tests.integration.matching_support import running_matching
from tests.support import read_topic, registration, udon_thani_network


async def test_a_closed_need_is_not_suggested_nor_listed_and_says_so_once(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> None:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    member = (await membership.stub.RegisterMember(registration())).member
    await membership.stub.ApproveMember(
        membership_service_pb2.ApproveMemberRequest(member_id=member.member_id)
    )
    async with running_matching(tmp_path, broker) as matching:
        stub = matching.stub
        await matching.offers_arrive({member.member_id})
        buyer = (
            await stub.RegisterBuyer(
                ms.RegisterBuyerRequest(
                    province_code="TH-41", kind=mp.BUYER_KIND_HOTEL, name_th="โรงแรมริมหนองประจักษ์"
                )
            )
        ).buyer
        need = (
            await stub.PublishNeed(
                ms.PublishNeedRequest(
                    buyer_id=buyer.buyer_id,
                    categories=[mp.PRODUCT_CATEGORY_TEXTILES],
                    title="ผ้าไหมทอมือสำหรับห้องพัก",
                    volume=mp.Quantity(amount=20, unit="ผืน"),
                )
            )
        ).need

        async def suggested_for_member() -> list[str]:
            reply = await stub.SuggestMatches(ms.SuggestMatchesRequest(member_id=member.member_id))
            return [s.need_id for s in reply.suggestions]

        assert need.need_id in await suggested_for_member()

        closed = (
            await stub.CloseNeed(ms.CloseNeedRequest(need_id=need.need_id, reason="ได้ผ้าครบแล้ว"))
        ).need

        assert closed.HasField("closed_at") and closed.closed_reason == "ได้ผ้าครบแล้ว"
        assert need.need_id not in await suggested_for_member()
        for_need = await stub.SuggestMatches(ms.SuggestMatchesRequest(need_id=need.need_id))
        assert list(for_need.suggestions) == []
        listed = await stub.ListNeeds(ms.ListNeedsRequest())
        assert need.need_id not in [n.need_id for n in listed.needs]
        everything = await stub.ListNeeds(ms.ListNeedsRequest(include_closed=True))
        assert need.need_id in [n.need_id for n in everything.needs]

        with pytest.raises(grpc.aio.AioRpcError) as again:
            await stub.CloseNeed(ms.CloseNeedRequest(need_id=need.need_id))
        assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert list(field_violations(again.value)) == ["need_id"]

        records = await read_topic(
            broker.bootstrap_servers, MATCHING, keys={buyer.buyer_id}, expect=3
        )
        closes = [r for r in records if r.headers["ce_type"].endswith(".NeedClosed")]
        assert len(closes) == 1
        event = events_pb2.NeedClosed.FromString(closes[0].value)
        assert (event.need_id, event.province_code) == (need.need_id, "TH-41")
