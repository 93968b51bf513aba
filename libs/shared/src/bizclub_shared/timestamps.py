"""Protobuf Timestamps from datetimes, for answers and events."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def to_timestamp(moment: datetime) -> Timestamp:
    """What Timestamp.FromDatetime gives (a naive datetime is taken as UTC), at under
    a third of its cost: every answer and event carries one or more."""
    since = moment - (_NAIVE_EPOCH if moment.tzinfo is None else _EPOCH)
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000)
