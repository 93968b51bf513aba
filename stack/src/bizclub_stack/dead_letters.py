"""`bizclub dlq list|replay`: the events consumers gave up on, and sending them again.

A consumer that keeps failing on a record publishes it to `<topic>.dlq` with the
envelope it had and `dlq_*` headers saying why (bizclub_shared.inbox). `list` shows
them; `replay` publishes the chosen ones to their original topic as they first were
(same key, value and envelope, so the same `ce_id`). Every consumer's inbox skips an
event id it has applied, so a replay changes only the consumer that had failed, and
replaying twice does no harm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bizclub_shared.topics import ALL_AREAS, DLQ_SUFFIX, dead_letter


@dataclass(frozen=True)
class DeadLetter:
    dlq_topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return (value or b"").decode(errors="replace")
        return ""

    @property
    def position(self) -> str:
        """How an operator names it: `<partition>:<offset>` within its dlq topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def original_topic(self) -> str:
        return self.header("dlq_topic") or self.dlq_topic.removesuffix(DLQ_SUFFIX)

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The record's own headers (the envelope), without the dead-letter ones."""
        return [(k, v or b"") for k, v in self.headers if not k.startswith("dlq_")]

    def summary(self) -> dict[str, str]:
        return {
            "dlq": f"{self.dlq_topic} {self.position}",
            "topic": self.original_topic,
            "from": f"{self.header('dlq_partition')}:{self.header('dlq_offset')}",
            "consumer": self.header("dlq_consumer"),
            "type": self.header("ce_type"),
            "id": self.header("ce_id"),
            "province": self.header("province"),
            "key": self.key.decode(errors="replace"),
            "at": self.header("dlq_time"),
            "error": self.header("dlq_error"),
        }


def dlq_topic_of(name: str) -> str:
    return name if name.endswith(DLQ_SUFFIX) else dead_letter(name)


async def read_dead_letters(
    bootstrap_servers: str, dlq_topic: str, *, within: float = 15.0
) -> list[DeadLetter]:
    """Every record of the dead-letter topic, from the beginning to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(dlq_topic, p)
            for p in sorted(consumer.partitions_for_topic(dlq_topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[DeadLetter] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for messages in batch.values():
                records += [
                    DeadLetter(
                        m.topic,
                        m.partition,
                        m.offset,
                        m.key or b"",
                        m.value or b"",
                        tuple((k, v or b"") for k, v in (m.headers or ())),
                    )
                    for m in messages
                ]
            # Only an empty fetch at or past the reported end counts as the end (Tansu
            # can report an end offset short of what it holds).
            if not batch and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                break
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def replay(bootstrap_servers: str, letters: list[DeadLetter], *, idempotence: bool) -> None:
    """Publish each to its original topic as it first was, in order, acks=all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=idempotence
    )
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.original_topic,
                letter.value,
                key=letter.key or None,
                headers=letter.replay_headers(),
            )
    finally:
        await producer.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="the broker (default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    actions = parser.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="show dead letters with their errors")
    listing.add_argument(
        "--topic",
        action="append",
        default=[],
        help="an area topic or its .dlq (repeat; default: every area)",
    )
    listing.add_argument("--consumer", default="", help="only those this consumer gave up on")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    again = actions.add_parser("replay", help="publish dead letters to their original topic")
    again.add_argument("--topic", required=True, help="the area topic, e.g. bizclub.membership.v1")
    again.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="PARTITION:OFFSET",
        help="a dead letter by its place in the .dlq topic, as `list` shows it (repeat)",
    )
    again.add_argument("--consumer", default="", help="every one this consumer gave up on")
    again.add_argument("--all", action="store_true", help="every dead letter of the topic")
    again.add_argument("--dry-run", action="store_true", help="show what would be replayed")


def run(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap_servers
    if args.dlq_command == "list":
        topics = [dlq_topic_of(t) for t in args.topic] or [dead_letter(t) for t in ALL_AREAS]
        letters: list[DeadLetter] = []
        for topic in topics:
            letters += asyncio.run(read_dead_letters(bootstrap, topic))
        if args.consumer:
            letters = [d for d in letters if d.header("dlq_consumer") == args.consumer]
        for letter in letters:
            if args.json:
                print(json.dumps(letter.summary(), ensure_ascii=False))
            else:
                s = letter.summary()
                print(
                    f"{s['dlq']}  {s['type']} id={s['id']} key={s['key']} "
                    f"consumer={s['consumer']} from={s['topic']} {s['from']} at={s['at']}\n"
                    f"    error: {s['error']}"
                )
        print(f"{len(letters)} dead letters", file=sys.stderr)
        return 0
    if not (args.at or args.consumer or args.all):
        sys.exit("bizclub: dlq replay needs --at PARTITION:OFFSET, --consumer NAME or --all")
    topic = dlq_topic_of(args.topic)
    letters = asyncio.run(read_dead_letters(bootstrap, topic))
    chosen = letters
    if args.at:
        wanted = set(args.at)
        chosen = [d for d in chosen if d.position in wanted]
        missing = wanted - {d.position for d in chosen}
        if missing:
            sys.exit(f"bizclub: no dead letter at {', '.join(sorted(missing))} in {topic}")
    if args.consumer:
        chosen = [d for d in chosen if d.header("dlq_consumer") == args.consumer]
    for letter in chosen:
        s = letter.summary()
        verb = "would replay" if args.dry_run else "replaying"
        print(f"{verb} {s['dlq']} -> {s['topic']}  {s['type']} id={s['id']} key={s['key']}")
    if not args.dry_run and chosen:
        idempotence = os.environ.get("BIZCLUB_KAFKA_IDEMPOTENCE", "false").lower() == "true"
        asyncio.run(replay(bootstrap, chosen, idempotence=idempotence))
    print(
        f"{len(chosen)} dead letters {'to replay' if args.dry_run else 'replayed'}",
        file=sys.stderr,
    )
    return 0
