"""Wiring for the training service: `python -m training` runs it."""

from __future__ import annotations

import logging

from bizclub.training.v1 import training_service_pb2, training_service_pb2_grpc
from bizclub_shared.service import ServiceRuntime, service_main, wait_for_signal
from bizclub_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

from training import policy, reactions, seed
from training.api import TrainingApi
from training.members import MembershipClient
from training.migrations import MIGRATIONS

log = logging.getLogger("training")
SERVICE_NAME = training_service_pb2.DESCRIPTOR.services_by_name["TrainingService"].full_name


class TrainingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore", populate_by_name=True)

    service_name: str = "training"
    grpc_port: int = 50052
    # Where membership answers GetMember and GetNetwork, and how long training waits for it.
    membership_address: str = "127.0.0.1:50051"
    membership_timeout_seconds: float = 2.0
    # How long the demo seed waits for membership (and its seed) to be up.
    seed_wait_seconds: float = 180.0


class TrainingApp:
    def __init__(self, settings: TrainingSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
        self.members = MembershipClient(
            settings.membership_address,
            settings.membership_timeout_seconds,
            token=self.runtime.service_token,
        )
        self.api = TrainingApi(self.runtime.db, self.runtime.writer, self.members)
        # Reactions read the API's clock, so a test that moves it moves both.
        reactions.register(self.runtime, lambda: self.api.clock())

    async def start(self) -> None:
        await self.runtime.start(
            [(training_service_pb2_grpc.add_TrainingServiceServicer_to_server, self.api)],
            [SERVICE_NAME],
            policy.access_policy(self.runtime.db, self.members),
        )
        if self.settings.seed_demo_data:
            try:
                await seed.seed_udon_thani(
                    self.api,
                    self.settings.membership_address,
                    token=self.runtime.service_token,
                    wait=self.settings.seed_wait_seconds,
                )
            except TimeoutError as exc:  # serve without the demo rather than restart forever
                log.warning("training demo not seeded: %s", exc)
        self.runtime.report_health()
        assert self.runtime.server is not None
        log.info(
            "training: gRPC on %s:%d, membership at %s",
            self.settings.grpc_host,
            self.runtime.server.port,
            self.settings.membership_address,
        )

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.members.close()


async def serve(settings: TrainingSettings) -> None:
    app = TrainingApp(settings)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()


def main() -> None:
    service_main(TrainingSettings(), MIGRATIONS, serve)
