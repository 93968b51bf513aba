"""Helpers for tests: valid requests, and reading what reached a topic."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection
from dataclasses import dataclass

import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub_shared.auth import Caller, Role, SigningKeys
from bizclub_shared.envelope import Envelope
from bizclub_shared.grpc_server import channel
from bizclub_shared.provinces import PROVINCES
from bizclub_shared.topics import ALL_TOPICS, ensure_topics

_serial = itertools.count(1)

# The suite's token keys: tests/conftest.py exports them as BIZCLUB_AUTH_KEYS, so every
# service a test starts (in process or as a subprocess) checks tokens signed with them.
TEST_AUTH_KEYS_JSON = '{"test-2026": "test-only-secret-0123456789-abcdefghijklmnopqrstuvwxyz"}'
TEST_KEYS = SigningKeys.from_json(TEST_AUTH_KEYS_JSON)

# Most tests act as a province officer of every province: allowed every officer call
# and shown contact data, so they test the behaviour, not the access rules.
OFFICER_EVERYWHERE = Caller("test:officer", Role.PROVINCE_OFFICER, frozenset(PROVINCES))
CENTRAL = Caller("test:central", Role.CENTRAL)


def officer_of(*provinces: str) -> Caller:
    return Caller(
        f"test:officer-{'-'.join(provinces)}", Role.PROVINCE_OFFICER, frozenset(provinces)
    )


def token_for(caller: Caller = OFFICER_EVERYWHERE) -> str:
    return TEST_KEYS.issue(caller, ttl_seconds=3600)


def auth_metadata(caller: Caller = OFFICER_EVERYWHERE) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_for(caller)}"),)


def client_channel(address: str, caller: Caller = OFFICER_EVERYWHERE) -> grpc.aio.Channel:
    """A channel whose calls carry `caller`'s token (a fresh one per call)."""
    return channel(address, token=lambda: token_for(caller))


def thai_id(prefix: str) -> str:
    """A 13-digit ID with a valid checksum: 12 digits of prefix/serial, then the check digit."""
    body = (prefix + str(next(_serial)).zfill(12))[-12:]
    total = sum(int(d) * w for d, w in zip(body, range(13, 1, -1), strict=True))
    return body + str((11 - total % 11) % 10)


def registration(**overrides: object) -> membership_service_pb2.RegisterMemberRequest:
    request = membership_service_pb2.RegisterMemberRequest(
        province_code="TH-41",
        cluster_code="textiles",
        business_name_th="กลุ่มทอผ้าไหมบ้านเชียง",
        business_name_en="Ban Chiang Silk Weavers",
        tax_id=thai_id("09"),
        enterprise_type=membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
        products=["ผ้าไหมทอมือ", "ผ้าฝ้ายย้อมคราม"],
        sales_channels=[common_pb2.SALES_CHANNEL_LOCAL_MARKET],
        baseline_monthly_revenue=common_pb2.Money(satang=8_000_000, currency_code="THB"),
        contact=membership_pb2.Contact(
            full_name="บุญมี ศรีสุข",
            phone="0812345678",
            email="boonmee@example.co.th",
            national_id=thai_id("3"),
        ),
    )
    for name, value in overrides.items():
        if isinstance(value, list):
            request.ClearField(name)  # type: ignore[arg-type]
            getattr(request, name).extend(value)
        elif hasattr(value, "CopyFrom"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


def udon_thani_network() -> membership_service_pb2.CreateNetworkRequest:
    return membership_service_pb2.CreateNetworkRequest(
        province_code="TH-41",
        name_th="เครือข่าย MOC Biz Club อุดรธานี",
        name_en="MOC Biz Club Udon Thani",
        clusters=[
            membership_pb2.Cluster(cluster_code="textiles", name_th="ผ้าและเครื่องแต่งกาย"),
            membership_pb2.Cluster(cluster_code="food", name_th="อาหารและเครื่องดื่ม"),
            membership_pb2.Cluster(cluster_code="agriculture", name_th="เกษตรและเกษตรแปรรูป"),
            membership_pb2.Cluster(cluster_code="tourism", name_th="ท่องเที่ยวชุมชน"),
        ],
    )


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: dict[str, str]

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_headers([(k, v.encode()) for k, v in self.headers.items()])


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    keys: Collection[str] | None = None,
    expect: int | None = None,
    within: float = 20.0,
) -> list[Record]:
    """Every record of the topic from the beginning (only `keys`, if given).

    With `expect`, keeps reading until that many matching records arrived or the
    deadline passed; without it, reads up to the current end of every partition.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        # Ask for the topic by name: Apache Kafka's first metadata answer lists no topics
        # (Tansu's lists them all). Not by stopping and starting a fresh consumer:
        # aiokafka 0.14 raises CancelledError from a group-less consumer stopped at once.
        await consumer._client.add_topic(topic)
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Record] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for m in messages:
                    key = (m.key or b"").decode()
                    if keys is not None and key not in keys:
                        continue
                    records.append(
                        Record(
                            topic=m.topic,
                            partition=m.partition,
                            offset=m.offset,
                            key=key,
                            value=m.value or b"",
                            headers={k: v.decode() for k, v in (m.headers or ())},
                        )
                    )
            if expect is not None:
                if len(records) >= expect:
                    break
            elif not batch:
                # Tansu can report an end offset short of what it holds, so only an
                # empty fetch at or past the reported end counts as the end.
                ends = await consumer.end_offsets(partitions)
                if all(
                    await asyncio.gather(*(_at_end(consumer, tp, ends[tp]) for tp in partitions))
                ):
                    break
        return records
    finally:
        await consumer.stop()


async def end_offsets_total(bootstrap_servers: str, topic: str) -> int:
    """The sum of the topic's end offsets: its record count on Apache Kafka."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.add_topic(topic)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
    return await consumer.position(tp) >= end


@dataclass(frozen=True)
class BatchProducer:
    """Who wrote a record batch, as the broker stores it: producer id -1 for a plain producer."""

    producer_id: int
    producer_epoch: int
    base_sequence: int


async def batch_producer(bootstrap_servers: str, record: Record) -> BatchProducer:
    """The producer id and sequence of the stored batch that holds `record`.

    Consumers do not show these, so this sends a Fetch itself and reads the batch header.
    An idempotent producer's batches carry the id the broker gave it and a sequence.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        client = consumer._client
        await client.add_topic(record.topic)
        leader = client.cluster.leader_for_partition(TopicPartition(record.topic, record.partition))
        request = FetchRequest(
            500, 1, 1 << 20, 0, [(record.topic, [(record.partition, record.offset, 1 << 20)])]
        )
        response = await client.send(leader, request)
        [(_, [(_, error_code, _, *partition_data)])] = response.topics
        assert error_code == 0, f"fetch failed with error code {error_code}"
        batches = MemoryRecords(partition_data[-1])
        while (batch := batches.next_batch()) is not None:
            if any(r.offset == record.offset for r in batch):
                return BatchProducer(batch.producer_id, batch.producer_epoch, batch.base_sequence)
        raise AssertionError(f"no batch holds offset {record.offset} of {record.topic}")
    finally:
        await consumer.stop()


async def fresh_topics(bootstrap_servers: str, *, within: float = 60.0) -> None:
    """Delete the platform's topics and create them again, empty.

    On a Kafka shared by the whole suite (`make test-kafka`), earlier tests' records and
    their groups' committed offsets would otherwise reach the next test's services (a
    seed that waits for "the" demo members, a count over whole topics); deleting a topic
    drops both. Each test then starts from empty topics, as it does on its own Tansu.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        doomed = set(await admin.list_topics()) & set(ALL_TOPICS)
        if doomed:
            await admin.delete_topics(sorted(doomed), timeout_ms=int(within * 1000))
            deadline = time.monotonic() + within
            while left := set(await admin.list_topics()) & doomed:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"topics {sorted(left)} still listed {within:g} s after deletion"
                    )
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    await ensure_topics(bootstrap_servers, list(ALL_TOPICS), ready_timeout=within)
