"""The shared gRPC bootstrap, through a real server on loopback and a real aio channel."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from bizclub.membership.v1 import membership_service_pb2 as pb
from bizclub.membership.v1 import membership_service_pb2_grpc as pb_grpc
from bizclub_shared import telemetry
from bizclub_shared.errors import FieldViolations, InvalidArgument, NotFound
from bizclub_shared.grpc_server import (
    INTERNAL_ERROR_MESSAGE,
    GrpcServer,
    PortUnavailableError,
    build_server,
    channel,
    field_violations,
)
from bizclub_shared.telemetry import (
    context_from_traceparent,
    current_traceparent,
    setup_tracing,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SERVICE = "bizclub.membership.v1.MembershipService"
PORT = 19390
HEALTH_PORT = 19391
TAKEN_PORT = 19392

# Trace ids the handler saw, keyed by the member id that asked: on entry (the server's
# span) and inside a span of the handler's own.
seen_on_entry: dict[str, str | None] = {}
seen_traceparents: dict[str, str | None] = {}


class _Servicer(pb_grpc.MembershipServiceServicer):
    """Only the methods the tests need; the rest keep the generated UNIMPLEMENTED default."""

    async def GetMember(
        self, request: pb.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemberResponse:
        seen_on_entry[request.member_id] = current_traceparent()
        with trace.get_tracer(__name__).start_as_current_span("load member"):
            seen_traceparents[request.member_id] = current_traceparent()
        if request.member_id == "found":
            return pb.GetMemberResponse()
        raise NotFound(f"member {request.member_id} does not exist; check the id")

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterMemberResponse:
        violations = FieldViolations()
        violations.add("tax_id", "checksum does not match; check the 13 digits")
        violations.check(bool(request.business_name_th), "business_name_th", "required")
        violations.raise_if_any()
        return pb.RegisterMemberResponse()

    async def ApproveMember(
        self, request: pb.ApproveMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApproveMemberResponse:
        raise RuntimeError("connection to db.internal:5432 refused")

    async def SuspendMember(
        self, request: pb.SuspendMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuspendMemberResponse:
        raise InvalidArgument("must be a ULID", field="member_id")


def _servicer() -> _Servicer:
    return _Servicer()  # type: ignore[abstract]  # the stubs mark every method abstract


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_tracing("test-grpc-server", exporter)
    return exporter


@pytest_asyncio.fixture(scope="module")
async def server(spans: InMemorySpanExporter) -> AsyncIterator[GrpcServer]:
    srv = build_server(
        PORT,
        [(pb_grpc.add_MembershipServiceServicer_to_server, _servicer())],
        [SERVICE],
        host="127.0.0.1",
    )
    await srv.start()
    await srv.set_serving(True)
    yield srv
    await srv.stop(grace=None)


@pytest_asyncio.fixture
async def stub(server: GrpcServer) -> AsyncIterator[pb_grpc.MembershipServiceStub]:
    async with channel(f"127.0.0.1:{server.port}") as ch:
        yield pb_grpc.MembershipServiceStub(ch)


async def test_success_passes_through(stub: pb_grpc.MembershipServiceStub) -> None:
    assert await stub.GetMember(pb.GetMemberRequest(member_id="found")) == pb.GetMemberResponse()


async def test_not_found_keeps_code_and_message(stub: pb_grpc.MembershipServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMember(pb.GetMemberRequest(member_id="m-404"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "member m-404 does not exist; check the id"
    assert field_violations(caught.value) == {}


async def test_invalid_argument_lists_every_field(stub: pb_grpc.MembershipServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RegisterMember(pb.RegisterMemberRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "2 fields are invalid: tax_id: checksum does not match; check the 13 digits; "
        "business_name_th: required"
    )
    assert field_violations(caught.value) == {
        "tax_id": "checksum does not match; check the 13 digits",
        "business_name_th": "required",
    }


async def test_single_field_error_names_the_field(stub: pb_grpc.MembershipServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SuspendMember(pb.SuspendMemberRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "member_id: must be a ULID"
    assert field_violations(caught.value) == {"member_id": "must be a ULID"}


async def test_unexpected_error_is_internal_and_logged_without_the_request(
    stub: pb_grpc.MembershipServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bizclub_shared.grpc_server"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ApproveMember(
                pb.ApproveMemberRequest(member_id="m-1", resolution="มติ 3/2568 นายสมชาย")
            )
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == INTERNAL_ERROR_MESSAGE
    assert "db.internal" not in caught.value.details()
    [record] = [r for r in caplog.records if r.name == "bizclub_shared.grpc_server"]
    assert record.exc_info is not None
    assert "ApproveMember" in record.getMessage()
    assert "สมชาย" not in caplog.text


async def test_unimplemented_method_is_untouched(stub: pb_grpc.MembershipServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LeaveNetwork(pb.LeaveNetworkRequest())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_server_span_is_recorded_and_continued_by_the_handler(
    stub: pb_grpc.MembershipServiceStub, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetMember(pb.GetMemberRequest(member_id="traced"))

    finished = spans.get_finished_spans()
    [server_span] = [s for s in finished if s.kind == trace.SpanKind.SERVER]
    [client_span] = [s for s in finished if s.kind == trace.SpanKind.CLIENT]
    [handler_span] = [s for s in finished if s.name == "load member"]
    assert server_span.name == f"/{SERVICE}/GetMember"
    assert server_span.attributes is not None
    assert server_span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # One trace from the client through the server into the handler.
    assert server_span.parent is not None and client_span.context is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert handler_span.parent is not None and server_span.context is not None
    assert handler_span.parent.span_id == server_span.context.span_id

    # The traceparent stored by a handler continues the same trace later.
    traceparent = seen_traceparents["traced"]
    assert traceparent is not None
    assert f"{server_span.context.trace_id:032x}" in traceparent
    parent = trace.get_current_span(context_from_traceparent(traceparent)).get_span_context()
    assert parent.trace_id == server_span.context.trace_id
    assert parent.span_id == handler_span.context.span_id
    assert not trace.get_current_span(context_from_traceparent(None)).get_span_context().is_valid


async def test_without_an_exporter_the_call_still_continues_the_callers_trace(
    server: GrpcServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No exporter: no span is recorded, but the handler's events must still carry the
    # caller's trace on (a cheaper path than OpenTelemetry's interceptor).
    monkeypatch.setattr(telemetry._sampler, "exporting", False)
    spans.clear()
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as plain:
        stub = pb_grpc.MembershipServiceStub(plain)
        await stub.GetMember(
            pb.GetMemberRequest(member_id="found"),
            metadata=[("traceparent", f"00-{caller_trace}-{caller_span}-01")],
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetMember(pb.GetMemberRequest(member_id="untraced"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # errors still mapped

    continued = trace.get_current_span(context_from_traceparent(seen_on_entry["found"]))
    assert f"{continued.get_span_context().trace_id:032x}" == caller_trace
    assert f"{continued.get_span_context().span_id:016x}" != caller_span  # a span of its own
    started = trace.get_current_span(context_from_traceparent(seen_on_entry["untraced"]))
    assert started.get_span_context().is_valid  # a new trace, not none
    assert f"{started.get_span_context().trace_id:032x}" != caller_trace
    assert spans.get_finished_spans() == ()


def _reflected_services(port: int) -> list[str]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return list(ProtoReflectionDescriptorDatabase(ch).get_services())


async def test_reflection_lists_the_services(server: GrpcServer) -> None:
    # The reflection client is synchronous; keep it off the loop the server runs on.
    services = await asyncio.to_thread(_reflected_services, server.port)
    assert set(services) == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_health_is_not_serving_until_the_app_says_so(spans: InMemorySpanExporter) -> None:
    srv = build_server(
        HEALTH_PORT,
        [(pb_grpc.add_MembershipServiceServicer_to_server, _servicer())],
        [SERVICE],
        host="127.0.0.1",
    )
    await srv.start()
    try:
        async with channel(f"127.0.0.1:{HEALTH_PORT}") as ch:
            health = health_pb2_grpc.HealthStub(ch)

            async def status(service: str) -> int:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                return int(reply.status)

            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            serving = health_pb2.HealthCheckResponse.SERVING
            assert [await status(""), await status(SERVICE)] == [not_serving, not_serving]
            await srv.set_serving(True)
            assert [await status(""), await status(SERVICE)] == [serving, serving]
            await srv.set_serving(False)
            assert [await status(""), await status(SERVICE)] == [not_serving, not_serving]
    finally:
        await srv.stop(grace=None)


async def test_taken_port_is_refused_with_the_port_named(server: GrpcServer) -> None:
    with pytest.raises(PortUnavailableError, match=str(server.port)):
        build_server(server.port, [], [SERVICE], host="127.0.0.1")

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", TAKEN_PORT))
        holder.listen()
        with pytest.raises(PortUnavailableError, match=str(TAKEN_PORT)):
            build_server(TAKEN_PORT, [], [SERVICE], host="127.0.0.1")


def test_setup_tracing_keeps_the_first_provider(spans: InMemorySpanExporter) -> None:
    first = setup_tracing("test-grpc-server")
    extra = InMemorySpanExporter()
    again = setup_tracing("another-service", extra)
    assert again is first is trace.get_tracer_provider()
    # The first call in the process named the resource; later names are ignored.
    assert first.resource.attributes["service.name"] != "another-service"
    setup_tracing("another-service", extra)  # the same exporter is attached once
    with trace.get_tracer(__name__).start_as_current_span("once"):
        pass
    assert [s.name for s in extra.get_finished_spans()] == ["once"]
