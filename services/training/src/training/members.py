"""Asking membership about a member or a network, over gRPC, with a deadline.

Called before a write operation, never inside one (the writer holds the database's
write lock). When membership cannot answer in time the caller gets UNAVAILABLE
and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC

import grpc
from bizclub.membership.v1 import (
    membership_pb2,
    membership_service_pb2,
    membership_service_pb2_grpc,
)
from bizclub_shared.errors import FailedPrecondition, InvalidArgument, Unavailable
from bizclub_shared.grpc_server import channel

from training import domain

log = logging.getLogger(__name__)
ms = membership_service_pb2
UNAVAILABLE_MESSAGE = "membership service is unavailable; try again"
# Codes that mean "membership could not answer now", as opposed to "it said no".
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}


def status_name(status: int) -> str:
    name = membership_pb2.MemberStatus.Name(membership_pb2.MemberStatus.ValueType(status))
    return name.removeprefix("MEMBER_STATUS_").lower()


class MembershipClient:
    """One channel to membership for the service's lifetime; opened on first use."""

    def __init__(self, address: str, timeout_seconds: float, *, token: Callable[[], str]) -> None:
        self.address = address
        self.timeout = timeout_seconds
        self._token = token  # this service's own token
        self._channel: grpc.aio.Channel | None = None
        self._stub: membership_service_pb2_grpc.MembershipServiceStub | None = None

    def stub(self) -> membership_service_pb2_grpc.MembershipServiceStub:
        if self._stub is None:
            self._channel = channel(self.address, token=self._token)
            self._stub = membership_service_pb2_grpc.MembershipServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel, self._stub = None, None

    def _unavailable(self, err: grpc.aio.AioRpcError, call: str) -> Unavailable:
        log.warning("membership %s at %s failed: %s", call, self.address, err.code().name)
        return Unavailable(UNAVAILABLE_MESSAGE)

    async def member(self, member_id: str, field: str = "member_id") -> domain.MemberFacts:
        """The member as membership knows them now; INVALID_ARGUMENT if it does not."""
        try:
            reply = await self.stub().GetMember(
                ms.GetMemberRequest(member_id=member_id), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise InvalidArgument(
                    f"no member with id {member_id!r} in membership", field=field
                ) from None
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument("is not a valid member id", field=field) from None
            if err.code() in _TRANSIENT:
                raise self._unavailable(err, "GetMember") from None
            raise
        member = reply.member
        return domain.MemberFacts(
            member_id=member.member_id,
            province_code=member.province_code,
            cluster_code=member.cluster_code,
            business_name_th=member.business_name_th,
            active=member.status == membership_pb2.MEMBER_STATUS_ACTIVE,
            status_name=status_name(member.status),
            updated_at=member.updated_at.ToDatetime(tzinfo=UTC)
            if member.HasField("updated_at")
            else None,
        )

    async def network_clusters(self, province_code: str) -> set[str]:
        """The cluster codes of a province's network; FAILED_PRECONDITION if it has none."""
        try:
            reply = await self.stub().GetNetwork(
                ms.GetNetworkRequest(province_code=province_code), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise FailedPrecondition(
                    f"{province_code} has no Biz Club network yet; membership sets it up first",
                    field="province_code",
                ) from None
            if err.code() in _TRANSIENT:
                raise self._unavailable(err, "GetNetwork") from None
            raise
        return {c.cluster_code for c in reply.network.clusters}
