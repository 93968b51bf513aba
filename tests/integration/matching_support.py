"""A matching service started in the test process: its own database, the real broker.

The counterpart of conftest's `start_membership` for matching (conftest is shared, so
matching's starter lives here until it moves there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.matching.v1 import matching_service_pb2 as ms
from bizclub.matching.v1 import matching_service_pb2_grpc
from matching.app import MatchingApp, MatchingSettings

from tests.conftest import Broker
from tests.databases import database_url
from tests.integration.probes import eventually
from tests.support import client_channel


def matching_settings(tmp_path: Path, broker: Broker, **overrides: Any) -> MatchingSettings:
    values: dict[str, Any] = {
        "database_url": database_url(tmp_path, "matching"),
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_idempotence": broker.idempotence,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "relay_idle_poll_seconds": 0.1,
        "consumer_session_timeout_ms": 2000,
        "consumer_heartbeat_interval_ms": 500,
    }
    values.update(overrides)
    return MatchingSettings(**values)


@dataclass
class RunningMatching:
    app: MatchingApp
    channel: grpc.aio.Channel
    stub: matching_service_pb2_grpc.MatchingServiceStub

    async def active_offers(self, member_ids: set[str]) -> dict[str, Any]:
        """The members' active offers by member id."""
        return {o.member_id: o for o in await self.all_offers() if o.member_id in member_ids}

    async def all_offers(self) -> list[Any]:
        """Every active offer, read page by page."""
        offers: list[Any] = []
        request = ms.ListOffersRequest(active_only=True, page=common_pb2.PageRequest(page_size=500))
        while True:
            reply = await self.stub.ListOffers(request)
            offers += reply.offers
            if not reply.page.next_page_token:
                return offers
            request.page.page_token = reply.page.next_page_token

    async def offers_arrive(self, member_ids: set[str], within: float = 30.0) -> dict[str, Any]:
        """Wait until matching has an active offer for each member (from membership's events)."""

        async def all_there() -> dict[str, Any] | None:
            found = await self.active_offers(member_ids)
            return found if set(found) == member_ids else None

        found: dict[str, Any] = await eventually(
            all_there, within=within, what="offers made from membership's events"
        )
        return found


@asynccontextmanager
async def running_matching(
    tmp_path: Path, broker: Broker, **overrides: Any
) -> AsyncIterator[RunningMatching]:
    app = MatchingApp(matching_settings(tmp_path, broker, **overrides))
    await app.start()
    assert app.runtime.server is not None
    channel = client_channel(f"127.0.0.1:{app.runtime.server.port}")
    try:
        yield RunningMatching(app, channel, matching_service_pb2_grpc.MatchingServiceStub(channel))
    finally:
        await channel.close()
        await app.stop()
