"""Membership over real gRPC, a real SQLite file and a real broker: what lands on the topic."""

from __future__ import annotations

from bizclub.membership.v1 import events_pb2, membership_pb2, membership_service_pb2
from bizclub_shared.topics import MEMBERSHIP

from tests.conftest import Broker, MembershipFactory
from tests.support import read_topic, registration, udon_thani_network

ms = membership_service_pb2


async def test_register_then_approve_puts_both_events_on_the_topic_with_the_envelope(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    member = (await service.stub.RegisterMember(registration())).member
    approved = (
        await service.stub.ApproveMember(ms.ApproveMemberRequest(member_id=member.member_id))
    ).member
    assert approved.status == membership_pb2.MEMBER_STATUS_ACTIVE

    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={member.member_id}, expect=2
    )

    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.membership.v1.MemberRegistered",
        "bizclub.membership.v1.MemberApproved",
    ]
    for record in records:
        assert record.headers["ce_source"] == "membership"
        assert record.headers["ce_specversion"] == "1.0"
        assert record.headers["province"] == "TH-41"
        assert record.headers["content-type"] == "application/protobuf"
        assert record.headers["traceparent"].startswith("00-")
        assert record.envelope.event_id  # a UUID per event
    assert len({r.headers["ce_id"] for r in records}) == 2
    registered = events_pb2.MemberRegistered.FromString(records[0].value)
    assert registered.business_name_th == "กลุ่มทอผ้าไหมบ้านเชียง"
    assert registered.baseline_monthly_revenue.satang == 8_000_000
    # Personal data stays in membership: not on the wire at all.
    raw = b"".join(r.value for r in records)
    assert b"0812345678" not in raw and "บุญมี".encode() not in raw
