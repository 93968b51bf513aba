"""One service process, wired the same way for every service.

`ServiceRuntime` owns the database engine, the group-commit writer, the outbox
relay, the Kafka consumers and the gRPC server; a service's `app` module builds
one with its own migrations and servicers. Start brings the database to the
service's newest migration before anything reads or writes it. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from bizclub.audit.v1 import audit_service_pb2_grpc
from faststream.kafka import KafkaBroker

from bizclub_shared import migrations as schema
from bizclub_shared.audit import AUDIT_SERVICE_NAME, AuditApi
from bizclub_shared.auth import (
    AccessControl,
    AccessPolicy,
    Role,
    ServiceToken,
    SigningKeys,
    rule,
)
from bizclub_shared.db import Database
from bizclub_shared.grpc_server import GrpcServer, ServicerRegistration, build_server
from bizclub_shared.inbox import EventConsumer
from bizclub_shared.migrations import Migrations
from bizclub_shared.outbox import OutboxRelay
from bizclub_shared.settings import ServiceSettings
from bizclub_shared.telemetry import export_to_collector, setup_tracing
from bizclub_shared.thai_text import warm_up
from bizclub_shared.unit_of_work import Writer
from bizclub_shared.workers import pin_to_one_cpu, supervise

log = logging.getLogger(__name__)
STOP_STEP_SECONDS = 10.0
Settings = TypeVar("Settings", bound=ServiceSettings)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, migrations: Migrations) -> None:
        self.settings = settings
        self.migrations = migrations
        # Refuse to start without token keys: a service that cannot check callers must not serve.
        self.keys = SigningKeys.from_json(settings.auth_keys, settings.auth_signing_key_id)
        # This service's token for calling the others.
        self.service_token = ServiceToken(self.keys, settings.service_name)
        export_to_collector(setup_tracing(settings.service_name))
        self.db = Database(
            settings.resolved_database_url(),
            lock_timeout=settings.database_lock_timeout_seconds,
        )
        self.writer = Writer(self.db, settings.service_name)
        self.relay = OutboxRelay(
            self.db,
            self.writer,
            settings.kafka_bootstrap_servers,
            idempotence=settings.kafka_idempotence,
            batch_size=settings.relay_batch_size,
            idle_poll_seconds=settings.relay_idle_poll_seconds,
        )
        self.writer.on_commit = self.relay.notify
        self.kafka = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=settings.service_name,
            logger=logging.getLogger(f"{settings.service_name}.kafka"),
        )
        self.consumers: list[EventConsumer] = []
        self.server: GrpcServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def consumer(self, name: str) -> EventConsumer:
        """A consumer group of this service, applied through this service's inbox."""
        consumer = EventConsumer(
            name, self.writer, max_attempts=self.settings.consumer_max_attempts
        )
        self.consumers.append(consumer)
        return consumer

    async def start(
        self,
        servicers: Sequence[ServicerRegistration],
        service_names: Sequence[str],
        policy: AccessPolicy,
    ) -> None:
        """`policy`: who may call each of the servicers' methods (see bizclub_shared.auth)."""
        await asyncio.to_thread(self.migrations.upgrade, self.settings.resolved_database_url())
        warm_up()  # every service segments Thai text; load the dictionary before serving
        await self.writer.start()
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.consumers:
            await self._start_kafka()
        audit_policy = {
            f"/{AUDIT_SERVICE_NAME}/ListAuditRecords": rule(Role.CENTRAL),
        }
        self.server = build_server(
            self.settings.grpc_port,
            [
                *servicers,
                (audit_service_pb2_grpc.add_AuditServiceServicer_to_server, AuditApi(self.db)),
            ],
            [*service_names, AUDIT_SERVICE_NAME],
            host=self.settings.grpc_host,
            wrappers=[AccessControl(self.keys, {**policy, **audit_policy})],
            options=[("grpc.max_receive_message_length", self.settings.grpc_max_request_bytes)],
            share_port=self.settings.worker_index is not None,
        )
        await self.server.start()

    def report_health(self) -> None:
        """Start answering health checks: call once start-up work (e.g. seeding) is done."""
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))

    async def _start_kafka(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.kafka.start()
                return
            except Exception as exc:  # broker not up yet: the service waits for it
                log.warning(
                    "cannot reach Kafka at %s (%s); retrying",
                    self.settings.kafka_bootstrap_servers,
                    exc,
                )
                with contextlib.suppress(Exception):
                    await self.kafka.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _watch_health(self) -> None:
        # SERVING only while the database and the broker both answer.
        while True:
            serving = await self.db.ping() and await self.relay.broker_reachable()
            if self.server is not None and self.server.serving != serving:
                await self.server.set_serving(serving)
                log.info("health: %s", "SERVING" if serving else "NOT_SERVING")
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.set_serving(False)
            await self.server.stop(grace=3.0)
        for task in self._tasks:
            task.cancel()
        await stop_within(asyncio.gather(*self._tasks, return_exceptions=True), "background tasks")
        self._tasks.clear()
        # Every step with the broker is bounded: a service must stop even when the
        # broker has gone (a consumer's leave-group or a producer's flush can wait on it).
        if self.consumers:
            await stop_within(self.kafka.stop(), "the Kafka consumers")
        # Publish what is already committed before going, if the broker is there.
        await stop_within(self.relay.publish_pending(), "publishing the outbox", seconds=3.0)
        await stop_within(self.relay.close(), "the outbox relay")
        await self.writer.stop()
        self.db.close()


async def stop_within(
    step: Awaitable[Any], what: str, *, seconds: float = STOP_STEP_SECONDS
) -> None:
    """One step of stopping, given at most `seconds`. A step still running then is
    cancelled and left behind, not waited for (as `asyncio.wait_for` would): an aiokafka
    client stopping against a dead broker can keep retrying through its cancellation."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("stopping: %s did not finish in %g s; left behind", what, seconds)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("stopping: %s failed: %s", what, task.exception())


async def wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# The collector's thresholds in a service process: young collections every 10,000
# allocations rather than 700 (a service allocates many short-lived objects per call).
GC_THRESHOLDS = (10_000, 20, 50)


def service_main(
    settings: Settings,
    migrations: Migrations,
    serve: Callable[[Settings], Coroutine[Any, Any, None]],
) -> None:
    """`python -m <service>`: a migration command (`migrate`, ...), else the service, in
    this process or, with workers > 1, in worker processes this one supervises."""
    if sys.argv[1:2] and sys.argv[1] in schema.COMMANDS:
        schema.cli(migrations, settings.resolved_database_url(), sys.argv[1:])
        return
    configure_logging(settings.log_level, settings.service_name, settings.worker_index)
    if settings.workers > 1 and settings.worker_index is None:
        sys.exit(supervise(settings, migrations))
    if settings.pin_workers and settings.worker_index is not None:
        cpu = pin_to_one_cpu(settings.worker_index)
        logging.getLogger(settings.service_name).info("pinned to CPU %d", cpu)
    # Process-wide, so here and not in ServiceRuntime (tests run many in one process).
    # What is loaded now (modules, the Thai dictionary) lives as long as the process: out
    # of the collector's sight, a full collection no longer walks it (a pause of tens of
    # ms in whichever request it hits), and young collections run less often. Together
    # they took RegisterMember's p99 at c64 from 165 to 85 ms.
    warm_up()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    run_on_event_loop(serve(settings), settings)


def run_on_event_loop(main: Coroutine[Any, Any, None], settings: ServiceSettings) -> None:
    """Run `main` to its end on the loop `settings.event_loop` names."""
    log = logging.getLogger(settings.service_name)
    if settings.event_loop == "asyncio":
        log.info("event loop: asyncio")
        asyncio.run(main)
        return
    try:
        import uvloop
    except ImportError:
        main.close()
        prefix = type(settings).model_config.get("env_prefix", "").upper()
        raise SystemExit(
            f"{settings.service_name}: uvloop is not installed (it does not build on "
            f"Windows); set {prefix}EVENT_LOOP=asyncio"
        ) from None
    log.info("event loop: uvloop %s", uvloop.__version__)
    uvloop.run(main)


def configure_logging(level: str, service_name: str, worker_index: int | None = None) -> None:
    worker = "" if worker_index is None else f" [worker {worker_index}]"
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s{worker} %(name)s: %(message)s",
    )
    # aiokafka is chatty at INFO about every (re)connect, and FastStream (the
    # service's Kafka logger) logs every record consumed: keep their warnings only.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger(f"{service_name}.kafka").setLevel(logging.WARNING)
