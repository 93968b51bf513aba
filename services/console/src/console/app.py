"""Wiring: settings, the gRPC channels to the services, the web app, `python -m console`.

The console holds no data and decides no access: every page is read from the
services' gRPC APIs with the signed-in operator's own token, so each service's
policy decides what the operator sees. The token lives in the session cookie
(signed, HTTP-only); the console reads its claims only to choose what to show first.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn
from bizclub.analytics.v1 import analytics_service_pb2_grpc
from bizclub.membership.v1 import membership_service_pb2_grpc
from bizclub_shared.grpc_server import channel
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import views

log = logging.getLogger("bizclub.console")
HERE = Path(__file__).parent


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    membership_address: str = "127.0.0.1:50051"
    analytics_address: str = "127.0.0.1:50055"
    # Signs the session cookie. Empty: a random one per start (sessions end on restart).
    session_secret: str = ""
    session_max_age_seconds: int = 8 * 3600
    # Local demo only: a sign-in button per demo role, tokens signed with BIZCLUB_AUTH_KEYS.
    demo_login: bool = False
    auth_keys: str = Field(
        default="", validation_alias=AliasChoices("BIZCLUB_AUTH_KEYS", "auth_keys")
    )
    auth_signing_key_id: str = Field(
        default="",
        validation_alias=AliasChoices("BIZCLUB_AUTH_SIGNING_KEY_ID", "auth_signing_key_id"),
    )
    # How often an open dashboard asks for fresh figures.
    refresh_seconds: float = 5.0
    call_timeout_seconds: float = 5.0
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("BIZCLUB_LOG_LEVEL", "log_level")
    )


@dataclass
class Backends:
    """One channel per service for the whole app; each call carries the operator's token."""

    membership: membership_service_pb2_grpc.MembershipServiceStub
    analytics: analytics_service_pb2_grpc.AnalyticsServiceStub
    channels: list[grpc.aio.Channel]
    timeout: float


def build_app(settings: ConsoleSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        membership = channel(settings.membership_address)
        analytics = channel(settings.analytics_address)
        app.state.backends = Backends(
            membership_service_pb2_grpc.MembershipServiceStub(membership),
            analytics_service_pb2_grpc.AnalyticsServiceStub(analytics),
            [membership, analytics],
            settings.call_timeout_seconds,
        )
        try:
            yield
        finally:
            for chan in app.state.backends.channels:
                await chan.close()

    app = Starlette(
        routes=[
            Route("/", views.home),
            Route("/healthz", views.healthz),
            Route("/login", views.login, methods=["GET", "POST"]),
            Route("/logout", views.logout, methods=["POST"]),
            Route("/lang/{lang}", views.switch_language),
            Route("/national", views.national),
            Route("/province/{province}", views.dashboard),
            Route("/province/{province}/live", views.dashboard_live),
            Route("/province/{province}/members", views.member_list),
            Route("/members/{member_id}", views.member_history),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.session_secret or secrets.token_urlsafe(32),
                session_cookie="bizclub_console",
                max_age=settings.session_max_age_seconds,
                same_site="lax",
            )
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def main() -> None:
    settings = ConsoleSettings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log.info("operator console at http://%s:%d", settings.http_host, settings.http_port)
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
