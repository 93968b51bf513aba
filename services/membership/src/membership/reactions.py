"""Membership's reactions to other services' events.

Membership is the source of truth for members and reacts to no other area's
events yet; when it does (e.g. an erasure request relayed by feedback), the
handlers go here, registered on `runtime.consumer("membership")`.
"""

from __future__ import annotations

from bizclub_shared.service import ServiceRuntime


def register(runtime: ServiceRuntime) -> None:
    """Attach membership's consumers to the runtime (none yet)."""
    del runtime
