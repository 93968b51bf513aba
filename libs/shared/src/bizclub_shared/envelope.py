"""The event envelope, CloudEvents style, carried in Kafka record headers.

The record value is the protobuf event itself; these headers say what it is, where
and when it happened, and which trace it belongs to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bizclub_shared.ids import new_id

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/protobuf"


class EnvelopeError(ValueError):
    """A record whose headers are not a valid envelope."""


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str  # full protobuf name, e.g. bizclub.membership.v1.MemberApproved
    source: str  # the service that emitted it
    time: datetime
    province: str
    traceparent: str | None = None

    @staticmethod
    def new(event_type: str, source: str, province: str, traceparent: str | None) -> Envelope:
        return Envelope(
            event_id=new_id(),
            event_type=event_type,
            source=source,
            time=datetime.now(UTC),
            province=province,
            traceparent=traceparent,
        )

    def to_headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_id", self.event_id.encode()),
            ("ce_type", self.event_type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", format_time(self.time).encode()),
            ("ce_specversion", SPEC_VERSION.encode()),
            ("province", self.province.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        return headers

    @staticmethod
    def from_headers(
        headers: Iterable[tuple[str, bytes]] | Sequence[tuple[str, bytes]],
    ) -> Envelope:
        values = {
            k: (v.decode() if isinstance(v, bytes | bytearray) else str(v)) for k, v in headers
        }
        missing = [k for k in ("ce_id", "ce_type", "ce_source", "ce_time") if not values.get(k)]
        if missing:
            raise EnvelopeError(f"record is missing envelope headers: {', '.join(missing)}")
        if not _is_uuid(values["ce_id"]):  # the inbox keys on it (36 characters)
            raise EnvelopeError(f"ce_id is not a UUID: {values['ce_id'][:80]!r}")
        try:
            time = datetime.fromisoformat(values["ce_time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise EnvelopeError(f"ce_time is not an RFC 3339 time: {values['ce_time']!r}") from exc
        return Envelope(
            event_id=values["ce_id"],
            event_type=values["ce_type"],
            source=values["ce_source"],
            time=time,
            province=values.get("province", ""),
            traceparent=values.get("traceparent"),
        )


def _is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and uuid.UUID(value) is not None
    except ValueError:
        return False


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
