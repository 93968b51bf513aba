"""On Apache Kafka the outbox relay publishes with the idempotent producer.

With `enable.idempotence` the broker gives the producer an id and drops a batch it
retries after a lost acknowledgement, instead of writing it twice. The proof is in
what the broker stores: each batch header carries the producer id and a sequence
number (a plain producer's batches carry producer id -1). Tansu's memory storage rejects
aiokafka's InitProducerId, so there the relay runs without it (BIZCLUB_KAFKA_IDEMPOTENCE
off) and the inbox alone removes repeats.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from bizclub_shared.topics import MEMBERSHIP, ensure_topics

from tests.conftest import Broker, MembershipFactory
from tests.support import (
    batch_producer,
    read_topic,
    registration,
    udon_thani_network,
)


async def test_the_relay_writes_idempotent_batches_on_apache_kafka(
    broker: Broker, start_membership: MembershipFactory
) -> None:
    if broker.embedded is not None:
        pytest.skip("Tansu rejects the idempotent producer; run with `make test-kafka`")
    service = await start_membership()
    assert service.app.runtime.settings.kafka_idempotence
    await service.stub.CreateNetwork(udon_thani_network())
    member = (await service.stub.RegisterMember(registration())).member

    [record] = await read_topic(
        broker.bootstrap_servers, MEMBERSHIP, keys={member.member_id}, expect=1
    )
    written = await batch_producer(broker.bootstrap_servers, record)
    assert written.producer_id >= 0, written
    assert written.producer_epoch >= 0, written
    assert written.base_sequence >= 0, written

    # The same probe on a plain producer's record (on a topic of its own, so no service
    # consumes it): no id, no sequence.
    topic = f"bizclub.test{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(broker.bootstrap_servers, [topic])
    plain = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, acks="all", enable_idempotence=False
    )
    await plain.start()
    try:
        sent = await plain.send_and_wait(topic, b"probe", key=b"probe")
    finally:
        await plain.stop()
    [probe] = await read_topic(broker.bootstrap_servers, topic, expect=1)
    assert (probe.partition, probe.offset) == (sent.partition, sent.offset)
    plain_batch = await batch_producer(broker.bootstrap_servers, probe)
    # aiokafka leaves the sequence at 0 rather than -1 for a plain batch; the id tells.
    assert (plain_batch.producer_id, plain_batch.producer_epoch) == (-1, -1), plain_batch
