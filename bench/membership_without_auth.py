"""The membership service with access control off: the baseline of `register_auth_c64`.

Only for the bench, never deployed. The access check is swapped, from outside,
for one that trusts every call as the bench's officer without reading the token or
the policy table, so the audit trail is still written: the difference between the
two figures is what checking tokens and policy costs.
"""

from __future__ import annotations

from typing import Any

import grpc
from bizclub_shared import auth, service
from membership.app import main

from bench.auth import OFFICER


class TrustingAccess:
    def __init__(self, keys: Any, policy: Any) -> None:
        pass

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary

        async def trusted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            auth._current.set(auth.CallContext(OFFICER, method))
            return await behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(
            trusted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


service.AccessControl = TrustingAccess  # type: ignore[misc, assignment, unused-ignore]

if __name__ == "__main__":
    main()
