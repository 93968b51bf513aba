"""Checks every service runs on request fields, collecting violations an operator can act on.

Each `check_*`/`clean_*` adds to a FieldViolations (so a request reports every bad
field at once) and returns the cleaned value; `require_id` raises straight away.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from bizclub.common.v1 import common_pb2

from bizclub_shared.errors import FieldViolations, InvalidArgument
from bizclub_shared.provinces import is_province
from bizclub_shared.thai_text import (
    has_control_characters,
    normalize,
    thai_id_checksum_ok,
    to_common_era_year,
)


def clean_text(
    violations: FieldViolations,
    field_name: str,
    value: str,
    *,
    required: bool,
    limit: int,
    multiline: bool = False,
) -> str:
    """Normalised text, or a violation saying what to fix."""
    if multiline:
        # Keep the paragraphs of a description; normalise each line.
        text = "\n".join(normalize(line) for line in value.splitlines()).strip()
    else:
        text = normalize(value)
    if has_control_characters(value, allow_line_breaks=multiline):
        violations.add(field_name, "contains control characters; type it again as plain text")
    elif required and not text:
        violations.add(field_name, "is required and cannot be blank")
    elif len(text) > limit:
        violations.add(field_name, f"is longer than {limit} characters")
    return text


def check_province(violations: FieldViolations, field_name: str, code: str) -> None:
    if not code:
        violations.add(field_name, "is required, e.g. TH-41 for Udon Thani")
    elif not is_province(code):
        violations.add(field_name, f"{code!r} is not an ISO 3166-2:TH province code (e.g. TH-41)")


def check_thai_id(
    violations: FieldViolations, field_name: str, value: str, *, required: bool
) -> str:
    """A 13-digit Thai national or juristic ID (dashes and spaces allowed), checksum checked."""
    digits = value.replace("-", "").replace(" ", "")
    if not digits:
        if required:
            violations.add(field_name, "is required: the 13-digit ID")
        return ""
    if not (len(digits) == 13 and digits.isascii() and digits.isdigit()):
        violations.add(field_name, "must be 13 digits")
    elif not thai_id_checksum_ok(digits):
        violations.add(field_name, "checksum does not match; check the 13 digits")
    return digits


def check_money(violations: FieldViolations, field_name: str, money: common_pb2.Money) -> int:
    """Baht in satang, never negative; returns the satang."""
    if money.currency_code not in ("", "THB"):
        violations.add(f"{field_name}.currency_code", "must be THB")
    if money.satang < 0:
        violations.add(f"{field_name}.satang", "cannot be negative")
    return money.satang


def to_common_era(
    value: common_pb2.Date, violations: FieldViolations, field_name: str
) -> date | None:
    """A proto Date to a date; years of 2400 or more are Buddhist era (พ.ศ.)."""
    try:
        return date(to_common_era_year(value.year), value.month, value.day)
    except ValueError:
        violations.add(field_name, "is not a valid date (year, month, day; พ.ศ. years accepted)")
        return None


def check_enums(
    violations: FieldViolations,
    field_name: str,
    values: Iterable[int],
    known: Collection[int],
    what: str,
) -> list[int]:
    """Known, non-zero enum values, de-duplicated in order."""
    result: list[int] = []
    for i, value in enumerate(values):
        if value == 0 or value not in known:
            violations.add(f"{field_name}[{i}]", f"is not a known {what}")
        elif value not in result:
            result.append(value)
    return result


def require_id(value: str, field_name: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidArgument("is required", field=field_name)
    if len(value) > 64:
        raise InvalidArgument("is not a valid id", field=field_name)
    return value
