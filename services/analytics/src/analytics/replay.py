"""Rebuilding the projections from the start of the topics into a fresh generation.

A rebuild first opens a new generation (state building): from that commit on, the live
consumer applies every event to it as well as to the generation served. It then reads
every area's topic from the beginning with its own consumer (manual assignment, no
group, nothing committed) up to the end it finds, applying each record to the new
generation only, with its progress (records read of the total there were at the start)
in the generation's row. Records the live consumer applied before the generation opened
are all behind that end, so the rebuild reads them; records after it reach the new
generation through the live consumer; records both see are applied twice, which the
projections' natural keys make harmless. Then one transaction swaps the generations,
and the old one's rows are deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from bizclub_shared.db import Database, utcnow
from bizclub_shared.envelope import Envelope, EnvelopeError
from bizclub_shared.errors import FailedPrecondition
from bizclub_shared.service import stop_within
from bizclub_shared.topics import ALL_AREAS
from bizclub_shared.unit_of_work import UnitOfWork, Writer
from google.protobuf.message import DecodeError, Message
from sqlalchemy import update
from sqlmodel import col

from analytics import reactions, store

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Decoded:
    event: Message
    envelope: Envelope


def decode(record: ConsumerRecord[bytes, bytes]) -> Decoded | None:
    """The record's event, or None for what the projections skip (as the live consumer
    does: unknown types are ignored; a broken record went to the dead-letter topic)."""
    try:
        envelope = Envelope.from_headers([(k, v or b"") for k, v in (record.headers or ())])
    except EnvelopeError:
        return None
    registered = reactions.PROJECTIONS.get(envelope.event_type)
    if registered is None:
        return None
    try:
        return Decoded(registered[0].FromString(record.value or b""), envelope)
    except DecodeError:
        return None


class Rebuilder:
    def __init__(self, db: Database, writer: Writer, bootstrap_servers: str) -> None:
        self._db = db
        self._writer = writer
        self._bootstrap = bootstrap_servers
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> int:
        """Open a new generation and start filling it; returns its number."""
        if self.running:
            raise FailedPrecondition("a rebuild is already running; watch GetRebuildStatus")

        def open_generation(uow: UnitOfWork) -> int:
            if uow.session.query(store.GenerationRow).filter_by(state=store.BUILDING).count():
                raise FailedPrecondition("a rebuild is already running; watch GetRebuildStatus")
            latest = store.latest_generation(uow.session)
            number = (latest.generation if latest else 0) + 1
            uow.session.add(
                store.GenerationRow(
                    generation=number, state=store.BUILDING, started_at=utcnow(), rebuilt=True
                )
            )
            return number

        number = await self._writer.run(open_generation, "analytics open generation")
        self._task = asyncio.create_task(self._rebuild(number), name=f"rebuild-{number}")
        return number

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            # Its consumer may be stopping against a broker that has gone: bounded.
            await stop_within(self._task, "the projection rebuild")

    async def drop_stale(self) -> None:
        """Delete the rows of retired and failed generations."""
        stale = await self._db.read(store.stale_generations)
        for number in stale:
            await self._writer.run(self._dropper(number), f"analytics drop generation {number}")

    @staticmethod
    def _dropper(number: int) -> Callable[[UnitOfWork], None]:
        def drop(uow: UnitOfWork) -> None:
            store.drop_generation(uow.session, number)

        return drop

    async def _rebuild(self, number: int) -> None:
        try:
            await self._read_topics(number)
            await self._writer.run(lambda uow: self._swap(uow, number), "analytics swap")
            log.info("analytics: generation %d rebuilt and now served", number)
        except asyncio.CancelledError:
            await self._fail(number, "the rebuild was stopped")
            raise
        except Exception as exc:
            log.exception("analytics: rebuild of generation %d failed", number)
            await self._fail(number, f"{type(exc).__name__}: {exc}")
        await self.drop_stale()

    async def _read_topics(self, number: int) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            # Ask for each topic by name: Apache Kafka's first metadata answer to a
            # group-less consumer lists no topics (aiokafka has no public call for this).
            for topic in ALL_AREAS:
                await consumer._client.add_topic(topic)
            partitions = [
                TopicPartition(topic, p)
                for topic in ALL_AREAS
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            total = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
            await self._writer.run(
                lambda uow: self._progress(uow, number, 0, total), "analytics rebuild progress"
            )
            opened = await self._db.read(lambda session: store.generation(session, number))
            assert opened is not None
            opened_ms = int(opened.started_at.timestamp() * 1000)
            read, fresh, pending = 0, set(), set(partitions)
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=300, max_records=BATCH)
                records = [r for rs in batch.values() for r in rs]
                for tp, rs in batch.items():
                    if any(r.timestamp >= opened_ms for r in rs):
                        fresh.add(tp)
                if records:
                    read += len(records)
                    decoded = [d for d in map(decode, records) if d is not None]
                    await self._writer.run(
                        self._applier(number, decoded, read, max(total, read)),
                        "analytics rebuild batch",
                    )
                # Tansu can report an end offset short of what it holds, so only an empty
                # fetch at or past the end it reports counts as the end.
                latest = None if records else await consumer.end_offsets(list(pending))
                for tp in list(pending):
                    position = await consumer.position(tp)
                    if position < ends[tp]:
                        continue
                    # Past a record sent after the generation opened: the live consumer
                    # brings the rest, so a busy topic does not keep the rebuild chasing it.
                    if tp in fresh or (latest is not None and position >= latest[tp]):
                        pending.discard(tp)
            await self._writer.run(
                lambda uow: self._progress(uow, number, read, max(total, read)),
                "analytics rebuild progress",
            )
        finally:
            await consumer.stop()

    def _applier(
        self, number: int, decoded: list[Decoded], read: int, total: int
    ) -> Callable[[UnitOfWork], None]:
        def apply(uow: UnitOfWork) -> None:
            for d in decoded:
                reactions.apply(uow.session, [number], d.event, d.envelope)
            self._progress(uow, number, read, total)

        return apply

    @staticmethod
    def _progress(uow: UnitOfWork, number: int, read: int, total: int) -> None:
        uow.session.execute(
            update(store.GenerationRow)
            .where(col(store.GenerationRow.generation) == number)
            .values(records_read=read, records_total=total)
        )

    @staticmethod
    def _swap(uow: UnitOfWork, number: int) -> None:
        row = store.generation(uow.session, number)
        if row is None or row.state != store.BUILDING:
            raise RuntimeError(f"generation {number} is no longer being built")
        now = utcnow()
        uow.session.execute(
            update(store.GenerationRow)
            .where(col(store.GenerationRow.state) == store.ACTIVE)
            .values(state=store.RETIRED)
        )
        row.state, row.finished_at = store.ACTIVE, now

    async def _fail(self, number: int, error: str) -> None:
        def mark(uow: UnitOfWork) -> None:
            row = store.generation(uow.session, number)
            if row is not None and row.state == store.BUILDING:
                row.state, row.finished_at, row.error = store.FAILED, utcnow(), error[:1000]

        try:
            await self._writer.run(mark, "analytics rebuild failed")
        except Exception:  # shutting down: the next start marks it failed
            log.warning("analytics: could not mark generation %d failed", number)
