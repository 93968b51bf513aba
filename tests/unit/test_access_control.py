"""Access control as a server wraps each method with it: who gets in, and what a refused
call's request is never parsed for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from bizclub.membership.v1 import membership_pb2
from bizclub.membership.v1 import membership_service_pb2 as ms
from bizclub.membership.v1 import membership_service_pb2_grpc as pb_grpc
from bizclub_shared.auth import AccessControl, Role, current_caller, rule
from bizclub_shared.grpc_server import GrpcServer, build_server
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import CENTRAL, TEST_KEYS, officer_of, token_for

SERVICE = "bizclub.membership.v1.MembershipService"
GET_MEMBER = f"/{SERVICE}/GetMember"
NOT_A_MESSAGE = b"\xff\xff\xff"  # field 31, wire type 7: no such wire type

handled: list[str] = []  # the member ids the handler was called for


class _Servicer(pb_grpc.MembershipServiceServicer):
    async def GetMember(
        self, request: ms.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> ms.GetMemberResponse:
        caller = current_caller()
        assert caller is not None
        handled.append(request.member_id)
        return ms.GetMemberResponse(
            member=membership_pb2.Member(
                member_id=request.member_id, business_name_th=caller.subject
            )
        )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[GrpcServer]:
    handled.clear()
    srv = build_server(
        0,
        [(pb_grpc.add_MembershipServiceServicer_to_server, _Servicer())],  # type: ignore[abstract]
        [SERVICE],
        host="127.0.0.1",
        # GetMember for central only; the service's other methods are in no rule.
        wrappers=[AccessControl(TEST_KEYS, {GET_MEMBER: rule(Role.CENTRAL)})],
    )
    await srv.start()
    await srv.set_serving(True)
    yield srv
    await srv.stop(grace=None)


async def call_raw(
    server: GrpcServer, method: str, body: bytes, token: str | None
) -> grpc.aio.AioRpcError | bytes:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        try:
            return bytes(await ch.unary_unary(method)(body, metadata=metadata, timeout=10))
        except grpc.aio.AioRpcError as err:
            return err


async def test_the_caller_named_by_the_token_reaches_the_handler(server: GrpcServer) -> None:
    answer = await call_raw(
        server,
        GET_MEMBER,
        ms.GetMemberRequest(member_id="m-1").SerializeToString(),
        token_for(CENTRAL),
    )
    assert isinstance(answer, bytes)
    assert ms.GetMemberResponse.FromString(answer).member.business_name_th == CENTRAL.subject
    assert handled == ["m-1"]


async def test_a_call_without_a_token_is_refused_before_its_request_is_read(
    server: GrpcServer,
) -> None:
    answer = await call_raw(server, GET_MEMBER, NOT_A_MESSAGE, token=None)
    assert isinstance(answer, grpc.aio.AioRpcError)
    assert answer.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing bearer token" in (answer.details() or "")
    assert handled == []


async def test_a_role_the_rule_leaves_out_is_refused_before_its_request_is_read(
    server: GrpcServer,
) -> None:
    answer = await call_raw(server, GET_MEMBER, NOT_A_MESSAGE, token_for(officer_of("TH-41")))
    assert isinstance(answer, grpc.aio.AioRpcError)
    assert answer.code() == grpc.StatusCode.PERMISSION_DENIED
    assert answer.details() == "role province_officer may not call GetMember"
    assert handled == []


async def test_a_method_in_no_rule_is_refused_even_to_central(server: GrpcServer) -> None:
    answer = await call_raw(
        server,
        f"/{SERVICE}/ListMembers",
        ms.ListMembersRequest().SerializeToString(),
        token_for(CENTRAL),
    )
    assert isinstance(answer, grpc.aio.AioRpcError)
    assert answer.code() == grpc.StatusCode.PERMISSION_DENIED
    assert answer.details() == f"/{SERVICE}/ListMembers is not open to anyone"


async def test_a_request_that_is_not_the_methods_message_is_an_invalid_argument(
    server: GrpcServer,
) -> None:
    answer = await call_raw(server, GET_MEMBER, NOT_A_MESSAGE, token_for(CENTRAL))
    assert isinstance(answer, grpc.aio.AioRpcError)
    assert answer.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert answer.details() == "the request is not a valid message for GetMember"
    assert handled == []


async def test_health_answers_without_a_token(server: GrpcServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
