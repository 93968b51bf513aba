"""Shared fixtures: a real broker and real databases.

The broker is the embedded Tansu (a fresh one per test: it starts in milliseconds)
unless KAFKA_BOOTSTRAP_SERVERS points at a running Apache Kafka, which is then
shared; tests only look at the records of the members they create. `make test-kafka`
also sets BIZCLUB_TEST_KAFKA_SCRIPT to deploy/kafka/kafka.sh, so the outage tests can
kill and start that Kafka as they do Tansu.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import pytest
from bizclub.membership.v1 import membership_service_pb2_grpc
from bizclub_shared.broker import EmbeddedBroker
from bizclub_shared.topics import ALL_TOPICS, ensure_topics
from membership.app import MembershipApp, MembershipSettings

from tests.databases import database_url
from tests.support import TEST_AUTH_KEYS_JSON, client_channel, fresh_topics

EXTERNAL_KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_SCRIPT = os.environ.get("BIZCLUB_TEST_KAFKA_SCRIPT")
# Every service started by a test, in this process or as a subprocess, checks tokens
# signed with the suite's keys (tests/support.py issues them).
os.environ["BIZCLUB_AUTH_KEYS"] = TEST_AUTH_KEYS_JSON
os.environ.pop("BIZCLUB_AUTH_SIGNING_KEY_ID", None)


class BrokerProcess(Protocol):
    """What an outage test does to the broker: crash it, and start it again."""

    async def kill(self) -> None: ...
    async def restart(self) -> None: ...


class KafkaScript:
    """The Apache Kafka run by deploy/kafka/kafka.sh: SIGKILL it, start it on the same data."""

    def __init__(self, script: str) -> None:
        self.script = script

    async def _run(self, command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            self.script,
            command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, f"{self.script} {command}: {output.decode()[-3000:]}"

    async def kill(self) -> None:
        await self._run("kill")

    async def restart(self) -> None:
        await self._run("start")  # waits until the broker answers the Admin API


@dataclass
class Broker:
    bootstrap_servers: str
    embedded: EmbeddedBroker | None  # None when the suite runs against external Kafka
    # What can be killed and restarted: the embedded Tansu, or Kafka under kafka.sh.
    process: BrokerProcess | None

    @property
    def idempotence(self) -> bool:
        """Apache Kafka takes the idempotent producer; Tansu's memory storage does not."""
        return self.embedded is None


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    if EXTERNAL_KAFKA:
        await fresh_topics(EXTERNAL_KAFKA)
        yield Broker(EXTERNAL_KAFKA, None, KafkaScript(KAFKA_SCRIPT) if KAFKA_SCRIPT else None)
        return
    embedded = EmbeddedBroker(port=0, log_path=tmp_path / "broker.log")
    await embedded.start()
    try:
        await ensure_topics(embedded.bootstrap_servers, list(ALL_TOPICS))
        yield Broker(embedded.bootstrap_servers, embedded, embedded)
    finally:
        await embedded.stop()


def membership_settings(tmp_path: Path, broker: Broker, **overrides: Any) -> MembershipSettings:
    values: dict[str, Any] = {
        "database_url": database_url(tmp_path, "membership"),
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "kafka_idempotence": broker.idempotence,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "relay_idle_poll_seconds": 0.1,
        "consumer_session_timeout_ms": 2000,
        "consumer_heartbeat_interval_ms": 500,
    }
    values.update(overrides)
    return MembershipSettings(**values)


@dataclass
class RunningMembership:
    app: MembershipApp
    channel: grpc.aio.Channel
    stub: membership_service_pb2_grpc.MembershipServiceStub

    @property
    def address(self) -> str:
        assert self.app.runtime.server is not None
        return f"127.0.0.1:{self.app.runtime.server.port}"


MembershipFactory = Callable[..., Any]


@pytest.fixture
async def start_membership(tmp_path: Path, broker: Broker) -> AsyncIterator[MembershipFactory]:
    """Start a membership service in this process (real database, real broker)."""
    running: list[RunningMembership] = []

    async def start(**overrides: Any) -> RunningMembership:
        app = MembershipApp(membership_settings(tmp_path, broker, **overrides))
        await app.start()
        assert app.runtime.server is not None
        channel = client_channel(f"127.0.0.1:{app.runtime.server.port}")
        service = RunningMembership(
            app, channel, membership_service_pb2_grpc.MembershipServiceStub(channel)
        )
        running.append(service)
        return service

    yield start
    for service in reversed(running):
        await service.channel.close()
        await service.app.stop()
