"""Apache Kafka against the embedded broker, in the same run, on the same machine.

register_c64_apache_kafka  RegisterMember req/s from bizclub-load at concurrency 64 against
                           `python -m membership` (fresh SQLite file, its relay publishing
                           to Apache Kafka, idempotent producer as deployed); baseline
                           register_c64_embedded, the same on Tansu.
projection_apache_kafka    events/s the analytics service (`python -m analytics`, fresh
                           database) applies from a backlog of membership and feedback events
                           produced to Apache Kafka beforehand, timed from the first event
                           applied to the last by its inbox entries' times; baseline
                           projection_embedded, the same on Tansu.

One broker at a time: Tansu first, then Apache Kafka (deploy/kafka/kafka.sh on its own
ports and a temporary state directory, stopped afterwards whatever happens), so neither
idles on the CPU while the other is measured. Each broker gets its projection first
(so its topics hold exactly the backlog), then the registrations. Without Java, javac or
Maven the Apache Kafka half is skipped with a `#` line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from bizclub.feedback.v1 import events_pb2 as feedback_events
from bizclub.membership.v1 import events_pb2 as membership_events
from bizclub_shared.broker import EmbeddedBroker
from bizclub_shared.envelope import Envelope
from bizclub_shared.topics import ALL_TOPICS, FEEDBACK, MEMBERSHIP, ensure_topics

from bench.cpu import process_cpu
from bench.payloads import PROVINCE, member_registered, monthly_report_submitted, traceparent
from bench.register import BenchFailed, LevelResult, Load, build_load_client, check
from bench.relay import published_ids
from bench.service import AnalyticsProcess, MembershipProcess

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"
KAFKA_TOOLS = ("java", "javac", "mvn")
PROJECTION_TIMEOUT = 180.0
# A consumer group's first join waits about session_timeout/2 on Tansu (MACHINE.md); the
# wait is not in the figure (timed from the first event applied), only in the stage's length.
CONSUMER_TIMINGS = {
    "BIZCLUB_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "BIZCLUB_CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
}

Emit = Callable[..., None]
Note = Callable[[str], None]


@dataclass(frozen=True)
class Broker:
    label: str  # the BENCH name's suffix
    bootstrap: str
    pid: int | None
    env: dict[str, str]  # the services' broker settings


@dataclass(frozen=True)
class Figures:
    register: LevelResult
    projection: float  # events/s


def missing_kafka_tools() -> list[str]:
    return [tool for tool in KAFKA_TOOLS if shutil.which(tool) is None]


@contextmanager
def apache_kafka(state_dir: Path, port: int, controller_port: int) -> Iterator[Broker]:
    """deploy/kafka/kafka.sh start on fresh data; stop on the way out, whatever happened."""
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_STATE_DIR": str(state_dir),
    }
    try:
        started = subprocess.run(
            [str(KAFKA_SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300
        )
        if started.returncode != 0:
            raise BenchFailed(f"Apache Kafka did not start:\n{started.stderr[-2000:]}")
        pid = int((state_dir / "kafka.pid").read_text())
        yield Broker(
            "apache_kafka",
            f"127.0.0.1:{port}",
            pid,
            # As deployed (deploy/compose.yaml, deploy/k8s): the relay's producer idempotent.
            {"BIZCLUB_KAFKA_IDEMPOTENCE": "true"},
        )
    finally:
        subprocess.run([str(KAFKA_SCRIPT), "stop"], env=env, capture_output=True, timeout=60)


async def register_c64(
    broker: Broker, data_dir: Path, port: int, seconds: float, warmup: float, note: Note
) -> LevelResult:
    """RegisterMember at c64 after a c16 warm-up; every committed event must reach the topic."""
    env = {**broker.env, **CONSUMER_TIMINGS}
    async with MembershipProcess(data_dir, port, broker.bootstrap, extra_env=env) as service:
        load = Load(build_load_client(), service.target, data_dir)
        check(await load.register(16, warmup), f"{broker.label} warm-up")
        await service.wait_drained()
        broker_before = process_cpu(broker.pid)
        result = await load.register(64, seconds)
        backlog = service.pending_events()
        drain = await service.wait_drained()
        note(
            f"register c64 on {broker.label}: {result.count} calls, {result.failed} failed, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; outbox backlog at end "
            f"{backlog} events, drained in {drain:.2f} s; broker CPU "
            f"{process_cpu(broker.pid) - broker_before:.1f} s"
        )
        check(result, f"register c64 on {broker.label}")
        committed = service.event_ids()
    published = await published_ids(broker.bootstrap, MEMBERSHIP, committed)
    if lost := committed - published:
        raise BenchFailed(f"{len(lost)} of {len(committed)} events not on {MEMBERSHIP}")
    return result


def backlog_records(events: int) -> list[tuple[str, str, bytes, Envelope]]:
    """(topic, key, payload, envelope): half MemberRegistered, then a MonthlyReportSubmitted
    for each of those members, as membership's and feedback's relays would publish them."""
    now = datetime.now(UTC)
    members = [str(uuid.uuid4()) for _ in range(events // 2)]
    records = []
    for topic, event_type, build in (
        (MEMBERSHIP, membership_events.MemberRegistered, member_registered),
        (FEEDBACK, feedback_events.MonthlyReportSubmitted, monthly_report_submitted),
    ):
        source = topic.split(".")[1]
        for serial, member_id in enumerate(members):
            envelope = Envelope(
                event_id=str(uuid.uuid4()),
                event_type=event_type.DESCRIPTOR.full_name,
                source=source,
                time=now,
                province=PROVINCE,
                traceparent=traceparent(),
            )
            records.append((topic, member_id, build(member_id, now, serial), envelope))
    return records


async def produce(bootstrap: str, records: list[tuple[str, str, bytes, Envelope]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=payload, key=key.encode(), headers=env.to_headers())
            for topic, key, payload, env in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def projection(broker: Broker, data_dir: Path, port: int, events: int, note: Note) -> float:
    """events/s analytics applies from a backlog of `events`, all of them projected."""
    records = backlog_records(events)
    await produce(broker.bootstrap, records)
    env = {**broker.env, **CONSUMER_TIMINGS}
    broker_before = process_cpu(broker.pid)
    async with AnalyticsProcess(data_dir, port, broker.bootstrap, extra_env=env) as analytics:
        started = time.monotonic()
        while (applied := analytics.applied()) < len(records):
            if time.monotonic() - started > PROJECTION_TIMEOUT:
                raise BenchFailed(
                    f"analytics applied {applied} of {len(records)} events on {broker.label} "
                    f"in {PROJECTION_TIMEOUT:g} s"
                )
            await asyncio.sleep(0.1)
        took = analytics.applying_seconds()
        members, reports = analytics.projected()
    if applied != len(records) or (members, reports) != (len(records) // 2, len(records) // 2):
        raise BenchFailed(
            f"{broker.label}: {applied} applied, {members} members and {reports} reports "
            f"projected of {len(records)} events"
        )
    # The first event's own time is not in the span: N - 1 intervals.
    rate = (len(records) - 1) / took
    note(
        f"projection on {broker.label}: {len(records)} events applied and projected, "
        f"the first to the last in {took:.1f} s; broker CPU "
        f"{process_cpu(broker.pid) - broker_before:.1f} s"
    )
    return rate


async def measure(
    broker: Broker,
    tmp: Path,
    port_base: int,
    seconds: float,
    warmup: float,
    events: int,
    note: Note,
) -> Figures:
    await ensure_topics(broker.bootstrap, ALL_TOPICS)
    projection_dir = tmp / f"projection-{broker.label}"
    projection_dir.mkdir()
    rate = await projection(broker, projection_dir, port_base + 2, events, note)
    register_dir = tmp / f"register-{broker.label}"
    register_dir.mkdir()
    register = await register_c64(broker, register_dir, port_base + 1, seconds, warmup, note)
    return Figures(register, rate)


async def run(
    emit: Emit,
    note: Note,
    tmp: Path,
    *,
    port_base: int,
    kafka_port: int,
    seconds: float,
    warmup: float,
    events: int,
) -> None:
    """Print the four lines (two if Apache Kafka cannot run here); BenchFailed on a failure.

    Tansu on port_base, membership on port_base + 1, analytics on port_base + 2; Apache
    Kafka on kafka_port and kafka_port + 1 (its controller).
    """
    tansu = EmbeddedBroker(port_base, log_path=tmp / "tansu-brokers.log")
    async with tansu:
        embedded = Broker("embedded", tansu.bootstrap_servers, tansu.pid, {})
        base = await measure(embedded, tmp, port_base, seconds, warmup, events, note)
    emit("register_c64_embedded", base.register.rps, "req/s")
    emit("projection_embedded", base.projection, "events/s")

    if missing := missing_kafka_tools():
        note(
            f"Apache Kafka lines skipped: {', '.join(missing)} not installed "
            "(apt-get install -y openjdk-17-jdk-headless maven)"
        )
        return
    with apache_kafka(tmp / "kafka", kafka_port, kafka_port + 1) as kafka:
        note(f"Apache Kafka on {kafka.bootstrap} (pid {kafka.pid}), state in {tmp / 'kafka'}")
        ours = await measure(kafka, tmp, port_base, seconds, warmup, events, note)
    emit(
        "register_c64_apache_kafka",
        ours.register.rps,
        "req/s",
        baseline=base.register.rps,
    )
    emit("projection_apache_kafka", ours.projection, "events/s", baseline=base.projection)
