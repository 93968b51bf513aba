"""Wiring for the matching service: `python -m matching` runs it."""

from __future__ import annotations

import logging

from bizclub.matching.v1 import matching_service_pb2, matching_service_pb2_grpc
from bizclub_shared.service import ServiceRuntime, service_main, wait_for_signal
from bizclub_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

from matching import policy, reactions, seed
from matching.api import MatchingApi
from matching.migrations import MIGRATIONS

log = logging.getLogger("matching")
SERVICE_NAME = matching_service_pb2.DESCRIPTOR.services_by_name["MatchingService"].full_name


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore", populate_by_name=True)

    service_name: str = "matching"
    grpc_port: int = 50053
    # The demo seed waits this long for membership's members to arrive as events.
    seed_wait_seconds: float = 90.0


class MatchingApp:
    def __init__(self, settings: MatchingSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
        self.api = MatchingApi(self.runtime.db, self.runtime.writer)
        self.consumer = reactions.register(self.runtime)

    async def start(self) -> None:
        await self.runtime.start(
            [(matching_service_pb2_grpc.add_MatchingServiceServicer_to_server, self.api)],
            [SERVICE_NAME],
            policy.access_policy(self.runtime.db),
        )
        await self.api.load_index()
        if self.settings.seed_demo_data:
            await seed.seed_demo(self.api, self.runtime.db, wait=self.settings.seed_wait_seconds)
        self.runtime.report_health()
        assert self.runtime.server is not None
        log.info("matching: gRPC on %s:%d", self.settings.grpc_host, self.runtime.server.port)

    async def stop(self) -> None:
        await self.runtime.stop()


async def serve(settings: MatchingSettings) -> None:
    app = MatchingApp(settings)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()


def main() -> None:
    service_main(MatchingSettings(), MIGRATIONS, serve)
