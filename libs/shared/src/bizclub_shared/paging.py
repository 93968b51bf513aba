"""Cursor paging: opaque page tokens that carry where the next page starts.

A token holds the sort key of the last row served and the filters it was issued
for; a token from other filters, or one this service did not issue, is refused
with INVALID_ARGUMENT on `page.page_token`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from bizclub_shared.errors import InvalidArgument

MAX_PAGE = 500
DEFAULT_PAGE = 50
SortKey = list[str | int]


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)


def encode_cursor(after: SortKey, filters: str) -> str:
    raw = json.dumps({"after": after, "filters": filters}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, filters: str, shape: tuple[type, ...]) -> SortKey | None:
    """The sort key after which the page starts; None for the first page.

    `shape` is the type of each part of the key, as the caller's encode_cursor wrote it.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after, same = data["after"], data["filters"] == filters
        # Only what encode_cursor writes: strings and integers a database column can hold.
        if (
            not isinstance(after, list)
            or len(after) != len(shape)
            or not all(
                isinstance(a, t) and type(a) is not bool for a, t in zip(after, shape, strict=True)
            )
            or not all(-(2**63) <= a < 2**63 for a in after if isinstance(a, int))
        ):
            raise ValueError("cursor has the wrong shape")
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument(
            "is not a token this service issued; pass next_page_token from the previous "
            "response unchanged, or leave it empty for the first page",
            field="page.page_token",
        ) from None
    if not same:
        raise InvalidArgument(
            "was issued for different filters; start again with an empty page_token",
            field="page.page_token",
        )
    return after


def rows_after(columns: Sequence[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the ascending order of `columns` (keyset paging):
    (c1 > v1) OR (c1 = v1 AND c2 > v2) OR ... Each comparison binds through its
    column's type, so datetimes and the like compare as the column stores them."""
    clauses = []
    for i, column in enumerate(columns):
        equal_before = [columns[j] == values[j] for j in range(i)]
        clauses.append(and_(*equal_before, column > values[i]))
    return or_(*clauses)
