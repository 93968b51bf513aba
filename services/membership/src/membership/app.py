"""Wiring for the membership service: `python -m membership` runs it."""

from __future__ import annotations

import logging

from bizclub.membership.v1 import membership_service_pb2, membership_service_pb2_grpc
from bizclub_shared.service import ServiceRuntime, service_main, wait_for_signal
from bizclub_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

from membership import policy, reactions, seed
from membership.api import MembershipApi
from membership.migrations import MIGRATIONS

log = logging.getLogger("membership")
SERVICE_NAME = membership_service_pb2.DESCRIPTOR.services_by_name["MembershipService"].full_name


class MembershipSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEMBERSHIP_", extra="ignore", populate_by_name=True
    )

    service_name: str = "membership"
    grpc_port: int = 50051


class MembershipApp:
    def __init__(self, settings: MembershipSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
        self.api = MembershipApi(self.runtime.db, self.runtime.writer)
        reactions.register(self.runtime)

    async def start(self) -> None:
        await self.runtime.start(
            [(membership_service_pb2_grpc.add_MembershipServiceServicer_to_server, self.api)],
            [SERVICE_NAME],
            policy.access_policy(self.runtime.db),
        )
        if self.settings.seed_demo_data:
            await seed.seed_udon_thani(self.api)
        self.runtime.report_health()
        assert self.runtime.server is not None
        log.info("membership: gRPC on %s:%d", self.settings.grpc_host, self.runtime.server.port)

    async def stop(self) -> None:
        await self.runtime.stop()


async def serve(settings: MembershipSettings) -> None:
    app = MembershipApp(settings)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()


def main() -> None:
    service_main(MembershipSettings(), MIGRATIONS, serve)
