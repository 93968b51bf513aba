"""The inbox and the event consumer that makes reactions exactly-once in effect.

Delivery is at-least-once. A consumer records each event id it applies in the
`inbox` table in the same transaction as the effect, and skips ids it has seen. An
event whose handler keeps failing is retried a bounded number of times, then sent
to `<topic>.dlq` with the error, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from google.protobuf import symbol_database
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace
from sqlalchemy import BigInteger, select
from sqlmodel import Field, SQLModel, col

from bizclub_shared.db import DATABASE_UNAVAILABLE, UTCDateTime, utcnow
from bizclub_shared.envelope import Envelope, EnvelopeError
from bizclub_shared.telemetry import context_from_traceparent
from bizclub_shared.topics import dead_letter
from bizclub_shared.unit_of_work import UnitOfWork, Writer

log = logging.getLogger(__name__)
tracer = trace.get_tracer("bizclub.inbox")


# At most this many records are applied between offset commits, so a crash
# redelivers at most this many (the inbox skips them).
RECORDS_PER_COMMIT = 100


class InboxEntry(SQLModel, table=True):
    __tablename__ = "inbox"

    # One row per (consumer, event): two consumers in one database dedupe separately.
    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=200)
    topic: str = Field(max_length=200)
    partition: int
    offset: int = Field(sa_type=BigInteger)  # Kafka offsets are 64-bit
    received_at: datetime = Field(sa_type=UTCDateTime)


# A reaction: database work only, in the same transaction as the inbox entry.
Handler = Callable[[UnitOfWork, Any, Envelope], None]


class EventConsumer:
    """Dispatches records by their ce_type to handlers, each applied once.

    `handles(MemberSuspended)` registers a handler; `subscribe(broker, topics)`
    attaches a FastStream subscriber in the consumer group `name`.
    """

    def __init__(self, name: str, writer: Writer, *, max_attempts: int = 5) -> None:
        self.name = name
        self._writer = writer
        self._max_attempts = max_attempts
        self._handlers: dict[str, tuple[type[Message], Handler]] = {}
        self._broker: KafkaBroker | None = None
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.database_waits = 0  # attempts that met an unavailable database

    def handles(self, event_type: type[Message]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._handlers[event_type.DESCRIPTOR.full_name] = (event_type, handler)
            return handler

        return register

    def subscribe(
        self,
        broker: KafkaBroker,
        topics: list[str],
        *,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1000,
    ) -> None:
        self._broker = broker

        # Records come in batches and the offsets are committed once per batch (not one
        # OffsetCommit request per record), after every record in it is applied. A crash
        # mid-batch redelivers the batch; the inbox skips what was applied. If a record's
        # handling raises, FastStream rewinds each partition to the batch's first record
        # and nothing past it is committed. Idle, FastStream's batch loop alternates a
        # poll of batch_timeout_ms with a pause as long, so an event that arrives in a
        # quiet spell may wait up to 100 ms.
        @broker.subscriber(
            *topics,
            batch=True,
            max_records=RECORDS_PER_COMMIT,
            batch_timeout_ms=100,
            parser=_tolerate_null_headers,
            decoder=_records_not_bodies,
            group_id=self.name,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        async def on_records(message: KafkaMessage) -> None:
            records = message.raw_message
            assert isinstance(records, tuple)  # batch=True
            for record in records:
                await self.handle_record(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers or ()),
                )

    async def handle_record(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> str:
        """Apply one record; returns applied, duplicate, ignored or dead-lettered."""
        try:
            envelope = Envelope.from_headers(headers)
        except EnvelopeError as exc:
            await self._dead_letter(topic, partition, offset, key, value, headers, str(exc))
            return "dead-lettered"
        registered = self._handlers.get(envelope.event_type)
        if registered is None:
            return "ignored"  # an event this consumer does not react to
        event_cls, handler = registered
        with tracer.start_as_current_span(
            f"consume {envelope.event_type}",
            context=context_from_traceparent(envelope.traceparent),
            kind=trace.SpanKind.CONSUMER,
        ) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.destination.name", topic)
            span.set_attribute("messaging.message.id", envelope.event_id)
            span.set_attribute("messaging.consumer.group.name", self.name)
            try:
                event = event_cls.FromString(value or b"")
            except DecodeError as exc:
                await self._dead_letter(
                    topic, partition, offset, key, value, headers, f"undecodable payload: {exc}"
                )
                return "dead-lettered"

            def apply(uow: UnitOfWork) -> str:
                seen = uow.session.execute(
                    select(col(InboxEntry.event_id)).where(
                        col(InboxEntry.consumer) == self.name,
                        col(InboxEntry.event_id) == envelope.event_id,
                    )
                ).first()
                if seen is not None:
                    return "duplicate"
                uow.session.add(
                    InboxEntry(
                        consumer=self.name,
                        event_id=envelope.event_id,
                        event_type=envelope.event_type,
                        topic=topic,
                        partition=partition,
                        offset=offset,
                        received_at=utcnow(),
                    )
                )
                handler(uow, event, envelope)
                return "applied"

            delay = 0.05
            attempt = 0
            while attempt < self._max_attempts:
                try:
                    outcome = await self._writer.run(apply, f"{self.name} {event_cls.__name__}")
                except DATABASE_UNAVAILABLE as exc:
                    # Not the event's fault: wait for the database, however long, without
                    # using up the attempts that would send a good event to the DLQ. The
                    # offset is not committed meanwhile, so a crash here loses nothing.
                    self.database_waits += 1
                    log.warning(
                        "%s: database unavailable (%s); retrying in %.1fs",
                        self.name,
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                except Exception as exc:
                    attempt += 1
                    if attempt == self._max_attempts:
                        span.record_exception(exc)
                        await self._dead_letter(
                            topic,
                            partition,
                            offset,
                            key,
                            value,
                            headers,
                            f"{type(exc).__name__}: {exc}",
                        )
                        return "dead-lettered"
                    log.warning(
                        "%s: %s attempt %d failed: %s",
                        self.name,
                        envelope.event_type,
                        attempt,
                        type(exc).__name__,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                if outcome == "duplicate":
                    self.duplicates += 1
                else:
                    self.applied += 1
                span.set_attribute("bizclub.outcome", outcome)
                return outcome
        raise AssertionError("unreachable")

    async def _dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        error: str,
    ) -> None:
        if self._broker is None:
            raise RuntimeError(f"cannot dead-letter without a broker: {error}")
        dlq_headers = {k: (v or b"").decode(errors="replace") for k, v in headers}
        dlq_headers.update(
            {
                "dlq_error": error[:1000],
                "dlq_consumer": self.name,
                "dlq_topic": topic,
                "dlq_partition": str(partition),
                "dlq_offset": str(offset),
                "dlq_time": utcnow().isoformat(),
            }
        )
        await self._broker.publish(
            value or b"", topic=dead_letter(topic), key=key, headers=dlq_headers
        )
        self.dead_lettered += 1
        log.error("%s: dead-lettered %s[%d]@%d: %s", self.name, topic, partition, offset, error)


async def _tolerate_null_headers(
    records: tuple[ConsumerRecord[Any, Any], ...],
    parse: Callable[[tuple[ConsumerRecord[Any, Any], ...]], Awaitable[Any]],
) -> Any:
    """Kafka allows a header with no value; FastStream's parser would fail on it and drop
    the batch. Empty it instead, so the envelope check can dead-letter the record."""
    return await parse(tuple(_empty_null_headers(record) for record in records))


def _empty_null_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    if any(value is None for _, value in record.headers or ()):
        return dataclasses.replace(
            record, headers=tuple((key, value or b"") for key, value in record.headers)
        )
    return record


async def _records_not_bodies(message: Any, decode: Callable[[Any], Awaitable[Any]]) -> None:
    """The handler reads the raw records; decoding every body for it would be wasted."""
    return None


def message_class(full_name: str) -> type[Message]:
    """The generated class for a full protobuf name (the event's ce_type)."""
    return symbol_database.Default().GetSymbol(full_name)
