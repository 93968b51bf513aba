"""New ids are UUIDs that sort in the order they were made (see bizclub_shared.ids)."""

import uuid

from bizclub_shared.ids import new_id


def test_ids_made_later_sort_after_earlier_ones() -> None:
    ids = [new_id() for _ in range(10_000)]  # many within one millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_is_a_canonical_version_7_uuid() -> None:
    made = new_id()
    parsed = uuid.UUID(made)
    assert parsed.version == 7
    assert str(parsed) == made  # 36 characters, lower case: the inbox keys on ce_id
