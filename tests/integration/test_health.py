"""gRPC health tells the truth: SERVING only while the database and the broker answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from bizclub_shared.service import STOP_STEP_SECONDS
from bizclub_shared.topics import ALL_TOPICS, ensure_topics
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import Broker, MembershipFactory, RunningMembership
from tests.integration.probes import eventually

SERVING = health_pb2.HealthCheckResponse.SERVING


def serving_probe(service: RunningMembership) -> Callable[[], Awaitable[bool]]:
    """Whether the service's gRPC health says SERVING now."""
    health = health_pb2_grpc.HealthStub(service.channel)

    async def serving() -> bool:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return bool(reply.status == SERVING)

    return serving


async def test_health_follows_the_broker_down_and_back(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    if broker.process is None:
        pytest.skip("stops the broker: needs the embedded one or Kafka under deploy/kafka/kafka.sh")
    service = await start_membership()
    serving = serving_probe(service)

    async def not_serving() -> bool:
        return not await serving()

    await eventually(serving, what="SERVING at start")
    await broker.process.kill()
    await eventually(not_serving, within=30, what="NOT_SERVING without a broker")
    await broker.process.restart()
    await ensure_topics(broker.bootstrap_servers, list(ALL_TOPICS))
    await eventually(serving, within=30, what="SERVING once the broker is back")


async def test_a_service_stops_while_the_broker_is_down(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    """Stopping during a broker outage (as on SIGTERM): the service still stops, its Kafka
    clients given a bounded time each, so whatever restarts it is not left waiting."""
    if broker.process is None:
        pytest.skip("stops the broker: needs the embedded one or Kafka under deploy/kafka/kafka.sh")
    service = await start_membership()
    await eventually(serving_probe(service), what="SERVING at start")
    await broker.process.kill()
    try:  # a stop that hangs fails here with TimeoutError
        await asyncio.wait_for(service.app.stop(), 3 * STOP_STEP_SECONDS + 10)
    finally:
        await broker.process.restart()
