"""Personal data (PDPA): masked for roles that do not need it, erased on request, and
never written to events, logs or spans; every write is in the audit trail.

Real membership over gRPC, a real SQLite file, the real broker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from bizclub.membership.v1 import events_pb2, membership_service_pb2_grpc
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub_shared.auth import Caller, Role
from bizclub_shared.telemetry import setup_tracing
from bizclub_shared.topics import ALL_TOPICS, MEMBERSHIP
from membership import store
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from tests.conftest import Broker, MembershipFactory
from tests.integration.analytics_support import handled_records, running_analytics
from tests.integration.feedback_support import running_feedback
from tests.integration.matching_support import running_matching
from tests.integration.probes import eventually
from tests.integration.training_support import training_factory
from tests.support import (
    CENTRAL,
    client_channel,
    officer_of,
    read_topic,
    registration,
    udon_thani_network,
)

UDON = "TH-41"
EXPORTER = InMemorySpanExporter()


# Channels stay open for the test run (a stub alone does not keep its channel alive).
_CHANNELS: list[grpc.aio.Channel] = []


def open_channel(address: str, caller: Caller) -> grpc.aio.Channel:
    _CHANNELS.append(client_channel(address, caller))
    return _CHANNELS[-1]


def member_stub(address: str, caller: Caller) -> membership_service_pb2_grpc.MembershipServiceStub:
    return membership_service_pb2_grpc.MembershipServiceStub(open_channel(address, caller))


async def test_contacts_are_masked_for_roles_that_do_not_need_them(
    start_membership: MembershipFactory,
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    member = (await service.stub.RegisterMember(registration())).member
    contact = member.contact
    assert contact.national_id and contact.phone  # the officer who registered sees it all

    def as_(caller: Caller) -> membership_service_pb2_grpc.MembershipServiceStub:
        return member_stub(service.address, caller)

    request = ms.GetMemberRequest(member_id=member.member_id)
    themself = Caller("m", Role.MEMBER, frozenset({UDON}), member_id=member.member_id)
    for caller in (officer_of(UDON), themself):
        seen = (await as_(caller).GetMember(request)).member.contact
        assert seen == contact, caller.role
    lead = Caller("l", Role.CLUSTER_LEAD, frozenset({UDON}), cluster=member.cluster_code)
    for caller in (CENTRAL, lead, Caller("s", Role.SERVICE)):
        seen = (await as_(caller).GetMember(request)).member.contact
        assert seen.national_id == "*" * 13, caller.role
        assert seen.phone == "*" * (len(contact.phone) - 2) + contact.phone[-2:]
        assert seen.full_name[0] == contact.full_name[0] and set(seen.full_name[1:]) == {"*"}
        assert seen.email.endswith("@" + contact.email.split("@")[1])
        assert contact.email.split("@")[0] not in seen.email
        # Lists mask the same way.
        listed = await as_(caller).ListMembers(ms.ListMembersRequest(province_code=UDON))
        [same] = [m for m in listed.members if m.member_id == member.member_id]
        assert same.contact == seen


async def test_erasure_removes_the_contact_keeps_the_member_and_says_so_once(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    member = (await service.stub.RegisterMember(registration())).member
    themself = Caller("m", Role.MEMBER, frozenset({UDON}), member_id=member.member_id)
    stub = member_stub(service.address, themself)
    request = ms.EraseMemberPersonalDataRequest(member_id=member.member_id, reason="คำขอ 12/2569")

    first = await stub.EraseMemberPersonalData(request)
    again = await stub.EraseMemberPersonalData(request)

    assert (first.erased, again.erased) == (True, False)
    after = (await service.stub.GetMember(ms.GetMemberRequest(member_id=member.member_id))).member
    assert not after.HasField("contact")
    # The anonymous record stays for the statistics.
    assert (after.status, after.cluster_code, after.baseline_monthly_revenue) == (
        member.status,
        member.cluster_code,
        member.baseline_monthly_revenue,
    )
    rows = await service.app.runtime.db.read(lambda s: list(s.scalars(select(store.ContactRow))))
    assert rows == []
    records = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={member.member_id}, expect=2
    )
    erased = [r for r in records if r.headers["ce_type"].endswith("MemberPersonalDataErased")]
    assert len(erased) == 1
    event = events_pb2.MemberPersonalDataErased.FromString(erased[0].value)
    assert (event.member_id, event.province_code) == (member.member_id, UDON)
    contact = member.contact
    for value in (contact.national_id, contact.phone, contact.full_name.encode().decode()):
        assert value.encode() not in erased[0].value


async def test_every_write_is_audited_and_only_central_reads_the_trail(
    start_membership: MembershipFactory,
) -> None:
    service = await start_membership()
    officer = officer_of(UDON)
    stub = member_stub(service.address, officer)
    await stub.CreateNetwork(udon_thani_network())
    member = (await stub.RegisterMember(registration())).member
    await stub.ApproveMember(ms.ApproveMemberRequest(member_id=member.member_id, resolution="มติ"))
    with pytest.raises(grpc.aio.AioRpcError):  # refused: not audited, nothing written
        await stub.ApproveMember(ms.ApproveMemberRequest(member_id=member.member_id))

    def audit(caller: Caller) -> audit_service_pb2_grpc.AuditServiceStub:
        return audit_service_pb2_grpc.AuditServiceStub(open_channel(service.address, caller))

    reply = await audit(CENTRAL).ListAuditRecords(
        audit_service_pb2.ListAuditRecordsRequest(province_code=UDON, subject=officer.subject)
    )
    records = list(reversed(reply.records))  # newest first
    assert [r.method.rsplit("/", 1)[1] for r in records] == [
        "CreateNetwork",
        "RegisterMember",
        "ApproveMember",
    ]
    assert all(r.subject == officer.subject and r.role == "province_officer" for r in records)
    assert all(list(r.caller_provinces) == [UDON] and r.province_code == UDON for r in records)
    assert records[1].events == [f"bizclub.membership.v1.MemberRegistered {member.member_id}"]
    assert records[0].recorded_at.ToDatetime() <= records[2].recorded_at.ToDatetime()
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await audit(officer).ListAuditRecords(audit_service_pb2.ListAuditRecordsRequest())
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def analytics_caught_up(analytics: Any, bootstrap_servers: str) -> bool:
    """Analytics has applied every event of the topics it projects."""
    return bool(analytics.applied >= await handled_records(bootstrap_servers))


@pytest.mark.slow  # seeds every service: about two minutes
@pytest.mark.timeout(900)
async def test_seeded_ids_and_phones_appear_in_no_record_log_line_or_span(
    tmp_path: Path,
    broker: Broker,
    start_membership: MembershipFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup_tracing("test", exporter=EXPORTER)
    EXPORTER.clear()
    caplog.set_level(logging.DEBUG)
    seed = {"seed_demo_data": True, "seed_wait_seconds": 60.0}
    membership = await start_membership(**seed)
    async with training_factory(tmp_path, broker) as make_training:
        training = await make_training(membership.address, **seed)
        async with (
            running_matching(tmp_path, broker, **seed) as matching,
            running_feedback(tmp_path, broker, **seed) as feedback,
            running_analytics(tmp_path, broker) as analytics,
        ):
            await training.published()
            await matching.app.runtime.relay.publish_pending()
            await feedback.app.runtime.relay.publish_pending()
            # Analytics has read every area's topic (its logs and spans are in the scan).
            await eventually(
                lambda: analytics_caught_up(analytics, broker.bootstrap_servers),
                within=120.0,
                what="analytics catching up",
            )
    await membership.app.runtime.relay.publish_pending()
    contacts = await membership.app.runtime.db.read(
        lambda s: list(s.scalars(select(store.ContactRow)))
    )
    secrets = {c.national_id for c in contacts if c.national_id} | {
        c.phone for c in contacts if c.phone
    }
    assert len(secrets) >= 300  # 200 seeded members, most with both

    records = []
    for topic in ALL_TOPICS:
        records += await read_topic(broker.bootstrap_servers, topic)
    assert len(records) > 500  # the whole demo went through the broker
    spans = EXPORTER.get_finished_spans()
    assert spans
    haystacks = {
        "a Kafka record": [r.key.encode() + r.value + repr(r.headers).encode() for r in records],
        "a log line": [
            (record.getMessage() + repr(record.args)).encode() for record in caplog.records
        ],
        "a span": [
            (
                s.name + repr(dict(s.attributes or {})) + repr([e.attributes for e in s.events])
            ).encode()
            for s in spans
        ],
    }
    for where, texts in haystacks.items():
        for text in texts:
            leaked = [value for value in secrets if value.encode() in text]
            assert not leaked, f"{leaked[:3]} found in {where}"
