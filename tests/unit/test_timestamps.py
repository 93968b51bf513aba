"""to_timestamp: the Timestamp every answer and event carries, as FromDatetime gives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bizclub_shared.timestamps import to_timestamp
from google.protobuf.timestamp_pb2 import Timestamp

BANGKOK = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 27, 10, 30, 5, 123456, tzinfo=UTC),
        datetime(2026, 11, 27, 17, 30, 5, 999999, tzinfo=BANGKOK),
        datetime(2026, 11, 27, 10, 30, 5),  # naive: taken as UTC
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch
        datetime(1957, 5, 1, tzinfo=BANGKOK),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_same_as_protobufs_own_conversion(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment)
    assert to_timestamp(moment) == expected


def test_a_bangkok_time_is_the_same_instant_in_utc() -> None:
    stamp = to_timestamp(datetime(2026, 1, 1, 7, 0, tzinfo=BANGKOK))
    assert stamp.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert stamp.nanos == 0
