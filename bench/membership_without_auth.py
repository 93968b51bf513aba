"""The membership service with access control off: the baseline of `register_auth_c64`.

Only for the bench, never deployed. The access interceptor is swapped, from outside,
for one that trusts every call as the bench's officer without reading the token or
the policy table, so the audit trail is still written: the difference between the
two figures is what checking tokens and policy costs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from bizclub_shared import auth, service
from membership.app import main

from bench.auth import OFFICER


class TrustingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: Any, policy: Any) -> None:
        pass

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behavior, method = handler.unary_unary, handler_call_details.method

        async def trusted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            auth._current.set(auth.CallContext(OFFICER, method))
            return await behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            trusted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


service.AccessInterceptor = TrustingInterceptor  # type: ignore[misc, unused-ignore]

if __name__ == "__main__":
    main()
