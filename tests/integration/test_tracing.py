"""The trace survives the hops: gRPC call -> transaction -> outbox relay -> Kafka -> consumer.

Membership over real gRPC and a real SQLite file, a real broker, and a projection
service consuming the event; spans go to an in-memory exporter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bizclub_shared import telemetry
from bizclub_shared.telemetry import context_from_traceparent, setup_tracing
from bizclub_shared.topics import MEMBERSHIP
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import Broker, MembershipFactory
from tests.databases import database_url
from tests.integration.consumer_support import projection
from tests.integration.probes import eventually
from tests.support import read_topic, registration, udon_thani_network

# One exporter for the whole process: setup_tracing attaches an exporter once, to
# whichever provider came first (this test's or a service's started earlier).
EXPORTER = InMemorySpanExporter()

SERVER = "/bizclub.membership.v1.MembershipService/RegisterMember"
TRANSACTION = "transaction RegisterMember"
PUBLISH = f"publish {MEMBERSHIP}"
CONSUME = "consume bizclub.membership.v1.MemberRegistered"


def named(spans: list[ReadableSpan], name: str, kind: SpanKind | None = None) -> ReadableSpan:
    matching = [s for s in spans if s.name == name and kind in (None, s.kind)]
    assert len(matching) == 1, f"{name}: {len(matching)} spans in {[s.name for s in spans]}"
    return matching[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_one_register_member_call_is_one_trace_from_grpc_to_the_consumer(
    broker: Broker, start_membership: MembershipFactory, tmp_path: Path
) -> None:
    setup_tracing("test", exporter=EXPORTER)
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    async with projection(
        database_url(tmp_path, "projection"),
        "test-tracing",
        broker.bootstrap_servers,
        topics=[MEMBERSHIP],
    ) as p:
        EXPORTER.clear()
        member = (await service.stub.RegisterMember(registration())).member

        async def consumed() -> list[ReadableSpan] | None:
            spans = list(EXPORTER.get_finished_spans())
            servers = [s for s in spans if s.name == SERVER and s.kind == SpanKind.SERVER]
            if not servers:
                return None
            trace_id = servers[0].context.trace_id
            in_trace = [s for s in spans if s.context.trace_id == trace_id]
            return in_trace if any(s.name == CONSUME for s in in_trace) else None

        spans = await eventually(consumed, what="the consumer's span in the call's trace")
        [applied] = [a for a in await p.applied() if a.member_id == member.member_id]

    client = named(spans, SERVER, SpanKind.CLIENT)  # the test's own call starts the trace
    server = named(spans, SERVER, SpanKind.SERVER)
    transaction = named(spans, TRANSACTION)
    publish = named(spans, PUBLISH)
    consume = named(spans, CONSUME)
    assert server.kind == SpanKind.SERVER
    assert publish.kind == SpanKind.PRODUCER
    assert consume.kind == SpanKind.CONSUMER
    # One trace, and each hop is the child of the one before.
    assert parent_of(server) == client.context.span_id
    assert parent_of(transaction) == server.context.span_id
    assert parent_of(publish) == transaction.context.span_id
    assert parent_of(consume) == publish.context.span_id
    # The spans describe this member's event, the one the consumer applied.
    assert publish.attributes is not None and consume.attributes is not None
    assert publish.attributes["messaging.message.id"] == applied.event_id
    assert consume.attributes["messaging.message.id"] == applied.event_id
    assert consume.attributes["messaging.consumer.group.name"] == "test-tracing"
    # The consumer's own transaction (inbox row + effect) continues the same trace.
    consumer_transaction = named(spans, "transaction test-tracing MemberRegistered")
    assert parent_of(consumer_transaction) == consume.context.span_id
    # No span about this event landed in another trace.
    about_event = [
        s
        for s in EXPORTER.get_finished_spans()
        if (s.attributes or {}).get("messaging.message.id") == applied.event_id
    ]
    assert {s.context.trace_id for s in about_event} == {server.context.trace_id}
    EXPORTER.clear()  # the exporter stays attached for the session; keep it from growing


async def test_without_an_exporter_the_event_still_carries_the_callers_trace(
    broker: Broker,
    start_membership: MembershipFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing records spans (the default): the server and the relay skip building them,
    # but a consumer must still be able to tie the event to the call that caused it.
    monkeypatch.setattr(telemetry._sampler, "exporting", False)
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    token = otel_context.attach(context_from_traceparent(f"00-{caller_trace}-b7ad6b7169203331-01"))
    try:
        member = (await service.stub.RegisterMember(registration())).member
    finally:
        otel_context.detach(token)

    [record] = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={member.member_id}, expect=1
    )
    assert record.headers["ce_type"] == "bizclub.membership.v1.MemberRegistered"
    _, trace_id, span_id, _ = record.headers["traceparent"].split("-")
    assert trace_id == caller_trace
    assert span_id != "b7ad6b7169203331"  # the service's own span, within the caller's trace
