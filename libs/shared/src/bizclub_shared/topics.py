"""Topic names and their creation.

One topic per area and major version (``bizclub.<area>.v1``) plus ``<topic>.dlq``
for events that keep failing. The record key is the aggregate id, so one
aggregate's events stay in order within a partition.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

log = logging.getLogger(__name__)

MEMBERSHIP = "bizclub.membership.v1"
TRAINING = "bizclub.training.v1"
MATCHING = "bizclub.matching.v1"
FEEDBACK = "bizclub.feedback.v1"

ALL_AREAS: tuple[str, ...] = (MEMBERSHIP, TRAINING, MATCHING, FEEDBACK)

DLQ_SUFFIX = ".dlq"


def dead_letter(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{DLQ_SUFFIX}"


#: Every topic the platform uses: the area topics and their dead-letter topics.
ALL_TOPICS: tuple[str, ...] = ALL_AREAS + tuple(dead_letter(t) for t in ALL_AREAS)

DEFAULT_PARTITIONS = 3

# Kafka's own rule. Checked here because Tansu accepts any name (and 0 partitions),
# and code that works on the embedded broker must also work on Apache Kafka.
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")

# Create-topic error codes: 36 (already exists) is success for us; these are
# mistakes in the request that no amount of retrying fixes. Everything else
# (e.g. 38 "replication factor larger than available brokers" while a fresh
# Apache Kafka registers itself) is retried until the deadline.
_ALREADY_EXISTS = 36
_FATAL_CODES = frozenset({17, 29, 31, 37, 39, 40, 42, 44})


class TopicSetupError(RuntimeError):
    """Topics could not be created, or did not appear in metadata in time."""


def _validate(topics: Sequence[str], partitions: int, replication_factor: int) -> list[str]:
    if isinstance(topics, str):
        # A bare string is a Sequence[str] of characters: almost surely a slip.
        raise TypeError("topics must be a list of topic names, not a string")
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if replication_factor < 1:
        raise ValueError(f"replication_factor must be at least 1, got {replication_factor}")
    wanted = list(dict.fromkeys(topics))  # de-duplicated, order kept
    for name in wanted:
        if not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise ValueError(
                f"invalid topic name {name!r}: use 1-249 of ASCII letters, digits, '.', '_', '-'"
            )
    return wanted


async def _create_missing(
    admin: AIOKafkaAdminClient,
    wanted: list[str],
    partitions: int,
    replication_factor: int,
    created: set[str],
) -> list[str]:
    """Create the topics not listed yet; returns the ones still to retry."""
    existing = set(await admin.list_topics())
    missing = [t for t in wanted if t not in existing and t not in created]
    if not missing:
        return []
    response = await admin.create_topics(
        [NewTopic(t, partitions, replication_factor) for t in missing]
    )
    retry: list[str] = []
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code == 0:
            created.add(topic)
        elif code == _ALREADY_EXISTS:
            pass  # someone else (another service starting) was first: fine
        elif code in _FATAL_CODES:
            raise TopicSetupError(
                f"cannot create topic {topic!r}: {for_code(code).__name__} ({message})"
            )
        else:
            retry.append(f"{topic}: {for_code(code).__name__} ({message})")
    return retry


def _not_ready(
    metadata: list[dict[str, Any]], wanted: list[str], partitions: int, created: set[str]
) -> list[str]:
    """Topics whose metadata does not yet show every partition with a leader."""
    by_name = {t["topic"]: t for t in metadata}
    pending: list[str] = []
    for name in wanted:
        meta = by_name.get(name)
        if meta is None or meta["error_code"] != 0:
            pending.append(f"{name}: not in metadata")
            continue
        parts = meta["partitions"]
        expected = partitions if name in created else 1
        if len(parts) < expected or any(p["error_code"] != 0 or p["leader"] < 0 for p in parts):
            pending.append(f"{name}: {len(parts)}/{expected} partitions with a leader")
    return pending


async def ensure_topics(
    bootstrap_servers: str,
    topics: Sequence[str],
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    *,
    ready_timeout: float = 30.0,
) -> None:
    """Create the missing ``topics`` and wait until metadata shows them all.

    Idempotent: topics that already exist are left as they are (a differing
    partition count is logged, not changed). Connection failures and transient
    broker errors are retried until ``ready_timeout`` seconds have passed, because
    a broker that has just started (Apache Kafka especially) fails first requests.
    Only standard admin and metadata requests are used, so this works the same on
    Tansu and Apache Kafka.
    """
    wanted = _validate(topics, partitions, replication_factor)
    if not wanted:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout
    created: set[str] = set()
    last_problem = "no answer yet"
    pending_known = False
    admin: AIOKafkaAdminClient | None = None
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TopicSetupError(
                    f"topics not ready on {bootstrap_servers} after {ready_timeout:g} s: "
                    f"{last_problem}"
                )
            try:
                async with asyncio.timeout(remaining):
                    if admin is None:
                        await _tcp_probe(bootstrap_servers)
                        admin = AIOKafkaAdminClient(
                            bootstrap_servers=bootstrap_servers,
                            request_timeout_ms=max(1000, int(min(remaining, 10.0) * 1000)),
                        )
                        await admin.start()
                    retry = await _create_missing(
                        admin, wanted, partitions, replication_factor, created
                    )
                    # All topics (no names): a metadata request naming a missing topic
                    # may auto-create it on Apache Kafka, with the wrong settings.
                    metadata = [] if retry else await admin.describe_topics()
                pending = retry or _not_ready(metadata, wanted, partitions, created)
                if not pending:
                    _warn_partition_mismatch(metadata, wanted, partitions)
                    return
                last_problem = "; ".join(pending)
                pending_known = True
            except TopicSetupError:
                raise
            except Exception as exc:  # connection lost, broker not ready, request timed out
                deadline_hit = isinstance(exc, TimeoutError) and loop.time() >= deadline
                if not (deadline_hit and pending_known):
                    # Keep what the broker last said over our own deadline cutting a
                    # request short: it tells the operator more.
                    last_problem = f"{type(exc).__name__}: {exc}"
                if admin is not None:
                    # A fresh client next round: the old one may hold a dead connection.
                    await admin.close()
                    admin = None
            await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))
    finally:
        if admin is not None:
            await admin.close()


async def _tcp_probe(bootstrap_servers: str) -> None:
    """Raise OSError unless some bootstrap address accepts a TCP connection.

    Cheap, and spares the log aiokafka's error line per refused bootstrap while
    a broker is still starting.
    """
    last: OSError = OSError(f"no address in {bootstrap_servers!r}")
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, ValueError) as exc:
            last = exc if isinstance(exc, OSError) else OSError(f"bad address {address!r}")
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise last


def _warn_partition_mismatch(
    metadata: list[dict[str, Any]], wanted: list[str], partitions: int
) -> None:
    for meta in metadata:
        if meta["topic"] in wanted and len(meta["partitions"]) != partitions:
            log.warning(
                "topic %s exists with %d partitions, not the %d asked for; left as is",
                meta["topic"],
                len(meta["partitions"]),
                partitions,
            )
