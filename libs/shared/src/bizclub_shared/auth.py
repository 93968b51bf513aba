"""Identity and access: signed tokens, the caller, and one policy table per service.

Every gRPC call carries `authorization: Bearer <JWT>` naming the operator, their
role and provinces. `AccessControl` verifies it and asks the service's
policy table whether this caller may make this call on what the request touches,
before any handler runs. Handlers read the caller (`current_caller()`) only to
narrow lists and searches to the caller's scope and to mask personal data.

Keys are HMAC secrets named by key id (`kid`), from settings: several may be
accepted at once, one signs. Rotation: add the new key, sign with it, drop the old
one after the longest token lifetime has passed.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import grpc
import jwt
from sqlalchemy import bindparam, literal, select

from bizclub_shared.db import Database
from bizclub_shared.provinces import is_province

__all__ = [
    "ALGORITHM",
    "CENTRAL",
    "EVERYONE",
    "LEAD",
    "MEMBER",
    "OFFICER",
    "READERS",
    "SERVICE",
    "AccessPolicy",
    "Caller",
    "Role",
    "Rule",
    "SigningKeys",
    "Target",
    "TargetLookup",
    "TokenError",
    "bearer_metadata",
    "current_call",
    "current_caller",
    "province_of_request",
    "rule",
    "visible_cluster",
    "visible_provinces",
]

ALGORITHM = "HS256"
MAX_SUBJECT = 200  # the audit_record.subject column
ISSUER = "bizclub"
# Public: health and reflection answer anyone (load balancers, grpcurl list).
PUBLIC_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class Role(StrEnum):
    CENTRAL = "central"  # ministry operator: reads every province, writes policy
    PROVINCE_OFFICER = "province_officer"  # reads and writes their provinces
    CLUSTER_LEAD = "cluster_lead"  # reads their cluster in their province
    MEMBER = "member"  # reads and edits their own record and answers
    SERVICE = "service"  # another service of the platform


@dataclass(frozen=True)
class Caller:
    subject: str
    role: Role
    provinces: frozenset[str] = frozenset()
    cluster: str = ""  # the cluster code a cluster lead leads
    member_id: str = ""  # the member a member token speaks for

    @property
    def nationwide(self) -> bool:
        return self.role in (Role.CENTRAL, Role.SERVICE)

    def sees_province(self, province: str) -> bool:
        return self.nationwide or province in self.provinces

    def province_scope(self) -> frozenset[str] | None:
        """The provinces a list should be narrowed to; None means every province."""
        return None if self.nationwide else self.provinces

    def may_see_contacts_of(self, province: str, member_id: str) -> bool:
        """PDPA: contact data only for those whose work needs it."""
        if self.role is Role.PROVINCE_OFFICER:
            return province in self.provinces
        return self.role is Role.MEMBER and member_id == self.member_id


@dataclass(frozen=True)
class Target:
    """Whose data a request touches, as far as access is concerned."""

    province: str
    cluster: str = ""
    member_id: str = ""


# Reads what a request touches (from the request itself or the service's store).
# None: it touches nothing that exists, and the handler answers NOT_FOUND.
Resolver = Callable[[Any], Awaitable[Target | list[Target] | None]]


@dataclass(frozen=True)
class Rule:
    """Who may make one call. `target=None`: the call is not about one province's
    data (a list or search, narrowed by the handler to the caller's scope)."""

    roles: frozenset[Role]
    target: Resolver | None = None

    def allows(self, caller: Caller, target: Target | list[Target] | None) -> bool:
        if caller.role not in self.roles:
            return False
        if isinstance(target, list):  # every one of them must be in scope
            return all(self.allows(caller, t) for t in target)
        if caller.nationwide or target is None:
            return True
        if caller.role is Role.PROVINCE_OFFICER:
            return target.province in caller.provinces
        if caller.role is Role.CLUSTER_LEAD:
            return target.province in caller.provinces and target.cluster in ("", caller.cluster)
        if caller.role is Role.MEMBER:
            return bool(target.member_id) and target.member_id == caller.member_id
        return False


def rule(*roles: Role, target: Resolver | None = None) -> Rule:
    return Rule(frozenset(roles), target)


# Short names for the policy tables.
CENTRAL, OFFICER, LEAD, MEMBER, SERVICE = (
    Role.CENTRAL,
    Role.PROVINCE_OFFICER,
    Role.CLUSTER_LEAD,
    Role.MEMBER,
    Role.SERVICE,
)
EVERYONE = (CENTRAL, OFFICER, LEAD, MEMBER, SERVICE)
READERS = (CENTRAL, OFFICER, LEAD, SERVICE)


async def province_of_request(request: Any) -> Target:
    """The province a request names in its `province_code` (creates, province lists)."""
    return Target(request.province_code.strip())


# The policy table: full method name ("/pkg.Service/Method") -> Rule. A method
# missing from it is refused (fail closed), and a test checks none is missing.
AccessPolicy = Mapping[str, Rule]


class TokenError(Exception):
    """The token is missing, expired, badly signed or malformed (UNAUTHENTICATED)."""


@dataclass
class SigningKeys:
    """HMAC secrets by key id; `signing_key_id` names the one new tokens use."""

    keys: dict[str, str]
    signing_key_id: str = ""
    leeway_seconds: float = 30.0
    # Tokens already verified, with their expiry: a client sends the same token on
    # every call, and checking the signature each time would cost more than the call.
    _verified: OrderedDict[str, tuple[Caller, float]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _verified_max: int = field(default=4096, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError(
                "no token keys configured: set BIZCLUB_AUTH_KEYS to a JSON object of "
                'key id -> secret, e.g. {"2026-11": "<at least 32 random characters>"}'
            )
        for kid, secret in self.keys.items():
            if len(secret) < 32:
                raise ValueError(f"token key {kid!r} is shorter than 32 characters")
        if not self.signing_key_id:
            self.signing_key_id = sorted(self.keys)[-1]
        if self.signing_key_id not in self.keys:
            raise ValueError(f"signing key id {self.signing_key_id!r} is not in BIZCLUB_AUTH_KEYS")

    @classmethod
    def from_json(cls, keys_json: str, signing_key_id: str = "") -> SigningKeys:
        try:
            keys = json.loads(keys_json) if keys_json else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"BIZCLUB_AUTH_KEYS is not valid JSON: {err}") from err
        if not isinstance(keys, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
        ):
            raise ValueError("BIZCLUB_AUTH_KEYS must be a JSON object of key id -> secret")
        return cls(keys, signing_key_id)

    def issue(self, caller: Caller, *, ttl_seconds: float = 3600) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": caller.subject,
            "role": caller.role.value,
            "provinces": sorted(caller.provinces),
            "iat": now,
            "exp": now + int(ttl_seconds),
        }
        if caller.cluster:
            claims["cluster"] = caller.cluster
        if caller.member_id:
            claims["member_id"] = caller.member_id
        return jwt.encode(
            claims,
            self.keys[self.signing_key_id],
            algorithm=ALGORITHM,
            headers={"kid": self.signing_key_id},
        )

    def verify(self, token: str) -> Caller:
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached[1] + self.leeway_seconds:
                return cached[0]
            del self._verified[token]
            raise TokenError("token has expired; ask for a new one")
        caller, expires = self._verify_signature(token)
        self._verified[token] = (caller, expires)
        if len(self._verified) > self._verified_max:
            self._verified.popitem(last=False)
        return caller

    def _verify_signature(self, token: str) -> tuple[Caller, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as err:
            raise TokenError(f"malformed token: {err}") from err
        if not isinstance(kid, str) or kid not in self.keys:
            raise TokenError("token signed with an unknown key id")
        try:
            claims = jwt.decode(
                token,
                self.keys[kid],
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise TokenError("token has expired; ask for a new one") from err
        except jwt.PyJWTError as err:
            raise TokenError(f"invalid token: {err}") from err
        return _caller_from_claims(claims), float(claims["exp"])


def _caller_from_claims(claims: dict[str, Any]) -> Caller:
    try:
        role = Role(str(claims.get("role")))
    except ValueError as err:
        raise TokenError(f"token names an unknown role {claims.get('role')!r}") from err
    provinces = claims.get("provinces", [])
    if not isinstance(provinces, list) or not all(
        isinstance(p, str) and is_province(p) for p in provinces
    ):
        raise TokenError("token's provinces must be a list of province codes (e.g. TH-41)")
    cluster, member_id = claims.get("cluster", ""), claims.get("member_id", "")
    if not isinstance(cluster, str) or not isinstance(member_id, str):
        raise TokenError("token's cluster and member_id must be strings")
    if role in (Role.PROVINCE_OFFICER, Role.CLUSTER_LEAD, Role.MEMBER) and not provinces:
        raise TokenError(f"a {role.value} token must name its provinces")
    if role is Role.CLUSTER_LEAD and not cluster:
        raise TokenError("a cluster_lead token must name its cluster")
    if role is Role.MEMBER and not member_id:
        raise TokenError("a member token must name its member_id")
    subject = str(claims["sub"])
    if not subject or len(subject) > MAX_SUBJECT:
        # The audit trail records it with every write, in the same transaction as the
        # write's batch; PostgreSQL would refuse a longer one and fail the whole batch.
        raise TokenError(f"token's sub must be 1-{MAX_SUBJECT} characters")
    return Caller(subject, role, frozenset(provinces), cluster, member_id)


@dataclass(frozen=True)
class CallContext:
    caller: Caller
    method: str
    target: Target | list[Target] | None = None

    @property
    def province(self) -> str:
        """The province whose data the call touches ("" when not one province's)."""
        targets = self.target if isinstance(self.target, list) else [self.target]
        return next((t.province for t in targets if t is not None), "")


_current: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "bizclub_call", default=None
)


def current_call() -> CallContext | None:
    """The authenticated call being handled, or None outside a gRPC call (seed, reactions)."""
    return _current.get()


def current_caller() -> Caller | None:
    call = _current.get()
    return call.caller if call else None


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class AccessControl:
    """Authenticates every call and applies the service's policy table before the handler
    (a `bizclub_shared.grpc_server.MethodWrapper`).

    No or bad token: UNAUTHENTICATED. A method not in the table, a role not listed
    for it, or a target outside the caller's provinces/cluster/record:
    PERMISSION_DENIED. A refused call's request is not parsed. The handler then runs
    with `current_call()` set.
    """

    def __init__(self, keys: SigningKeys, policy: AccessPolicy) -> None:
        self._keys = keys
        self._policy = policy

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if method.startswith(PUBLIC_SERVICES):
            return handler
        if handler.request_streaming or handler.response_streaming:
            return _deny_handler(grpc.StatusCode.UNIMPLEMENTED, "streaming calls are not served")
        keys = self._keys
        access_rule = self._policy.get(method)
        if access_rule is None:

            async def closed(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                await _authenticate(keys, context)
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED, f"{method} is not open to anyone"
                )

            return grpc.unary_unary_rpc_method_handler(closed)
        rule = access_rule
        behavior = handler.unary_unary
        parse = handler.request_deserializer

        async def checked(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            caller = await _authenticate(keys, context)
            if caller.role not in rule.roles:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"role {caller.role.value} may not call {method.rsplit('/', 1)[-1]}",
                )
            try:
                request = parse(raw) if parse is not None else raw
            except Exception:  # as grpcio would have answered, had it parsed the request
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the request is not a valid message for {method.rsplit('/', 1)[-1]}",
                )
            target = await rule.target(request) if rule.target else None
            if not rule.allows(caller, target):
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{caller.subject} ({caller.role.value}) may not act on this data: "
                    "it is outside the provinces, cluster or record the token names",
                )
            reset = _current.set(CallContext(caller, method, target))
            try:
                return await behavior(request, context)
            finally:
                _current.reset(reset)

        # The request reaches `checked` as bytes: it is parsed only once the call is let in.
        return grpc.unary_unary_rpc_method_handler(
            checked, response_serializer=handler.response_serializer
        )


async def _authenticate(keys: SigningKeys, context: grpc.aio.ServicerContext) -> Caller:
    """The caller the call's bearer token names; else the call ends UNAUTHENTICATED."""
    header: str | bytes = ""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            header = value
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing bearer token: send metadata 'authorization: Bearer <token>'",
        )
    try:
        return keys.verify(token.strip())
    except TokenError as err:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(err))
        raise  # abort raised already; this line is never reached


def _deny_handler(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(deny)


@dataclass
class ServiceToken:
    """This service's own token for calling the others, re-issued before it expires."""

    keys: SigningKeys
    service_name: str
    ttl_seconds: float = 3600
    _token: str = field(default="", init=False)
    _expires: float = field(default=0.0, init=False)

    def __call__(self) -> str:
        now = time.time()
        if now > self._expires - self.ttl_seconds / 4:
            caller = Caller(f"service:{self.service_name}", Role.SERVICE)
            self._token = self.keys.issue(caller, ttl_seconds=self.ttl_seconds)
            self._expires = now + self.ttl_seconds
        return self._token


def visible_provinces(requested: str = "") -> list[str] | None:
    """The provinces a list or search may return for the current caller.

    None: every province (central, services, and in-process calls such as the seed).
    An empty list: nothing (the caller asked for a province outside their scope:
    the list comes back empty rather than failing).
    """
    caller = current_caller()
    if caller is None or caller.nationwide:
        return [requested] if requested else None
    if requested:
        return [requested] if requested in caller.provinces else []
    return sorted(caller.provinces)


def visible_cluster(requested: str = "") -> str | None:
    """The cluster filter for the current caller: a cluster lead sees only their own.
    None: nothing is visible (a lead asking for another cluster)."""
    caller = current_caller()
    if caller is None or caller.role is not Role.CLUSTER_LEAD:
        return requested
    return caller.cluster if requested in ("", caller.cluster) else None


class TargetLookup:
    """Reads the Target of the row whose `key_column` equals a key, from the given
    columns (SQLAlchemy column expressions). Built once per policy: an access check
    runs it on every call, and building the statement cost more than the read."""

    def __init__(
        self,
        db: Database,
        key_column: Any,
        *,
        province: Any,
        cluster: Any = None,
        member: Any = None,
    ) -> None:
        self._db = db
        self._statement = (
            select(
                province,
                cluster if cluster is not None else literal(""),
                member if member is not None else literal(""),
            )
            .where(key_column == bindparam("key"))
            .limit(1)
        )

    async def __call__(self, key: str) -> Target | None:
        """None when there is no such row."""
        row = await self._db.read_row(self._statement, {"key": key.strip()})
        if row is None:
            return None
        province_code, cluster_code, member_id = row
        return Target(province_code, cluster_code, member_id)
