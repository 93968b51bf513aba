"""Errors that domain code raises and the gRPC layer maps to a status.

Domain code raises these without knowing about gRPC calls; the error mapping
(`ErrorMapping` in `bizclub_shared.grpc_server`) turns them into a status code, the
operator-facing message and, for InvalidArgument and FailedPrecondition, a
`google.rpc.BadRequest` detail naming each offending field.

Write messages an operator can act on: say what is wrong and what to do,
e.g. `InvalidArgument("checksum does not match; check the 13 digits", field="tax_id")`.
Never put personal data (names, phones, national IDs) in a message.
"""

from __future__ import annotations

from typing import ClassVar

import grpc

__all__ = [
    "AlreadyExists",
    "DomainError",
    "FailedPrecondition",
    "FieldViolations",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unavailable",
]


class DomainError(Exception):
    """A request the domain refuses, with a message for the operator.

    `message` describes the problem; `field` names the request field it is
    about (dotted path, e.g. "contact.phone"), if any. `str(err)` is the status
    message: "field: message" when a field is named.
    """

    # A rule of the domain refused the request; subclasses narrow it down.
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    @property
    def violations(self) -> list[tuple[str, str]]:
        """(field, description) pairs for a BadRequest detail."""
        return [(self.field, self.message)] if self.field else []


class InvalidArgument(DomainError):
    """The request itself is malformed, whatever the state of the system."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message, field)
        self._violations = list(violations) if violations else None

    @property
    def violations(self) -> list[tuple[str, str]]:
        if self._violations is not None:
            return list(self._violations)
        return super().violations


class FailedPrecondition(DomainError):
    """The request is well formed but the current state does not allow it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(DomainError):
    """A dependency (database, broker, another service) cannot answer now; retry later."""

    code = grpc.StatusCode.UNAVAILABLE


class FieldViolations:
    """Collects every invalid field of a request so the operator sees them all at once.

    violations = FieldViolations()
    if not ok(req.tax_id):
        violations.add("tax_id", "checksum does not match; check the 13 digits")
    violations.raise_if_any()
    """

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self._items.append((field, description))

    def check(self, condition: bool, field: str, description: str) -> None:
        """Adds the violation when `condition` is false."""
        if not condition:
            self.add(field, description)

    @property
    def violations(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def error(self) -> InvalidArgument:
        """One InvalidArgument carrying every violation; its message lists them all."""
        if not self._items:
            raise ValueError("no field violations were added")
        message = "; ".join(f"{field}: {description}" for field, description in self._items)
        if len(self._items) > 1:
            message = f"{len(self._items)} fields are invalid: {message}"
        return InvalidArgument(message, violations=self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise self.error()
