"""Wiring for the feedback service: `python -m feedback` runs it."""

from __future__ import annotations

import logging

from bizclub.feedback.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from bizclub_shared.service import ServiceRuntime, service_main, wait_for_signal
from bizclub_shared.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

from feedback import policy, reactions, seed
from feedback.api import FeedbackApi
from feedback.migrations import MIGRATIONS

log = logging.getLogger("feedback")
SERVICE_NAME = feedback_service_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore", populate_by_name=True)

    service_name: str = "feedback"
    grpc_port: int = 50054
    # The demo seed waits this long for membership's members to arrive as events.
    seed_wait_seconds: float = 90.0


class FeedbackApp:
    def __init__(self, settings: FeedbackSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
        self.api = FeedbackApi(self.runtime.db, self.runtime.writer)
        # Reactions read the API's clock, so a test that moves it moves both.
        self.consumer = reactions.register(self.runtime, lambda: self.api.clock())

    async def start(self) -> None:
        await self.runtime.start(
            [(feedback_service_pb2_grpc.add_FeedbackServiceServicer_to_server, self.api)],
            [SERVICE_NAME],
            policy.access_policy(self.runtime.db),
        )
        if self.settings.seed_demo_data:
            try:
                await seed.seed_demo(self.api, wait=self.settings.seed_wait_seconds)
            except TimeoutError as exc:  # serve without the demo rather than restart forever
                log.warning("feedback demo not seeded: %s", exc)
        self.runtime.report_health()
        assert self.runtime.server is not None
        log.info("feedback: gRPC on %s:%d", self.settings.grpc_host, self.runtime.server.port)

    async def stop(self) -> None:
        await self.runtime.stop()


async def serve(settings: FeedbackSettings) -> None:
    app = FeedbackApp(settings)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()


def main() -> None:
    service_main(FeedbackSettings(), MIGRATIONS, serve)
