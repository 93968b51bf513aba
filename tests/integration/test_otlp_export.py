"""With OTEL_EXPORTER_OTLP_ENDPOINT set, a service sends its spans to the collector.

`python -m membership` as deployed (deploy/compose.yaml, deploy/k8s), pointed at a
stand-in OpenTelemetry collector: an OTLP/gRPC TraceService in the test that keeps
what it receives. One call's server, transaction and publish spans arrive, in one
trace, from the service named membership.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from bizclub.membership.v1 import membership_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.conftest import Broker
from tests.databases import database_url
from tests.integration.probes import eventually, free_port
from tests.integration.test_crash_recovery import connect, membership_process
from tests.support import udon_thani_network


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.received: list[tuple[str, trace_pb2.Span]] = []  # (service.name, span)

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.received.append((attributes.get("service.name", ""), span))
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, int]]:
    servicer = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


async def test_a_call_reaches_the_collector_as_one_trace(
    broker: Broker, collector: tuple[Collector, int], tmp_path: Path
) -> None:
    servicer, collector_port = collector
    grpc_port = free_port(19800, 19899)
    log_path = tmp_path / "membership.log"
    with membership_process(
        database_url(tmp_path, "membership"),
        grpc_port,
        broker.bootstrap_servers,
        log_path,
        idempotence=broker.idempotence,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: the batch goes out soon, for the test
        },
    ) as process:
        channel = await connect(process, grpc_port, log_path)
        try:
            stub = membership_service_pb2_grpc.MembershipServiceStub(channel)
            await stub.CreateNetwork(udon_thani_network(), timeout=10)

            async def one_trace() -> dict[str, trace_pb2.Span] | None:
                spans = {span.name: span for _, span in servicer.received}
                server = spans.get("/bizclub.membership.v1.MembershipService/CreateNetwork")
                publish = spans.get("publish bizclub.membership.v1")
                if server is None or publish is None:
                    return None
                return spans

            spans = await eventually(one_trace, within=20, what="the call's spans at the collector")
        finally:
            await channel.close()
            await asyncio.to_thread(process.terminate)
    server = spans["/bizclub.membership.v1.MembershipService/CreateNetwork"]
    publish = spans["publish bizclub.membership.v1"]
    assert publish.trace_id == server.trace_id
    assert {name for name, _ in servicer.received} == {"membership"}
