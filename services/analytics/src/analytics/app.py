"""Wiring for the analytics service: `python -m analytics` runs it."""

from __future__ import annotations

import asyncio
import logging

from bizclub.analytics.v1 import analytics_service_pb2_grpc
from bizclub_shared.db import utcnow
from bizclub_shared.service import ServiceRuntime, service_main, wait_for_signal
from bizclub_shared.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from analytics import policy, reactions, store
from analytics.api import AnalyticsApi
from analytics.migrations import MIGRATIONS
from analytics.replay import Rebuilder

log = logging.getLogger("analytics")


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ANALYTICS_", extra="ignore", populate_by_name=True
    )

    service_name: str = "analytics"
    grpc_port: int = 50055
    # One process (and one pod): a rebuild of the projections runs in the process that
    # started it, and start-up drops what a crashed rebuild left.
    workers: int = Field(default=1, ge=1, le=1)


class AnalyticsApp:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
        self.rebuilder = Rebuilder(
            self.runtime.db, self.runtime.writer, settings.kafka_bootstrap_servers
        )
        self.api = AnalyticsApi(self.runtime.db, self.rebuilder)
        reactions.register(self.runtime)

    async def start(self) -> None:
        # A generation to apply events to before the consumer reads the first one.
        db = self.runtime.db
        await asyncio.to_thread(MIGRATIONS.upgrade, self.settings.resolved_database_url())
        with db.write_sessions() as session, session.begin():
            store.ensure_active_generation(session, utcnow())
        await self.runtime.start(
            [(analytics_service_pb2_grpc.add_AnalyticsServiceServicer_to_server, self.api)],
            [policy.SERVICE_NAME],
            policy.access_policy(self.runtime.db),
        )
        await self.rebuilder.drop_stale()  # what a crash mid-rebuild left
        self.runtime.report_health()
        assert self.runtime.server is not None
        log.info("analytics: gRPC on %s:%d", self.settings.grpc_host, self.runtime.server.port)

    async def stop(self) -> None:
        await self.rebuilder.stop()
        await self.runtime.stop()


async def serve(settings: AnalyticsSettings) -> None:
    app = AnalyticsApp(settings)
    try:
        await app.start()
        await wait_for_signal()
    finally:
        await app.stop()


def main() -> None:
    service_main(AnalyticsSettings(), MIGRATIONS, serve)
