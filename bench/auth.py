"""The bench's token keys and the officer token every load generator sends."""

from __future__ import annotations

from bizclub_shared.auth import Caller, Role, SigningKeys
from bizclub_shared.provinces import PROVINCES

KEYS_JSON = '{"bench": "bench-only-secret-0123456789-abcdefghijklmnopqrstuvwxyz"}'
OFFICER = Caller("bench:officer", Role.PROVINCE_OFFICER, frozenset(PROVINCES))
# Long enough for any run; the service checks it on every call all the same.
TOKEN = SigningKeys.from_json(KEYS_JSON).issue(OFFICER, ttl_seconds=24 * 3600)
