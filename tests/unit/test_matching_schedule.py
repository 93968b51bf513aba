"""The matching-day schedule: no double-booking, requests honoured by priority, each side's
availability respected, and a withdrawal that keeps every other meeting in place.

Pure domain functions, no I/O. Examples first, then properties over generated days
(hypothesis).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import pytest
from bizclub.matching.v1 import matching_pb2 as mp
from matching import domain
from matching.domain import MeetingRequest, Party, Placement, place_requests, request_order

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BUYER, MEMBER = mp.SIDE_BUYER, mp.SIDE_MEMBER
Availability = Mapping[Party, Collection[int] | None]


def req(
    meeting_id: str, buyer: str, member: str, priority: int = 3, seq: int = 0, mutual: bool = False
) -> MeetingRequest:
    return MeetingRequest(meeting_id, seq, buyer, member, priority, mutual)


def everyone(requests: Sequence[MeetingRequest]) -> dict[Party, Collection[int] | None]:
    return {party: None for r in requests for party in r.parties}


# --- examples -------------------------------------------------------------------------------


def test_each_meeting_gets_the_earliest_slot_both_sides_are_free_and_a_table() -> None:
    requests = [
        req("a", "b1", "m1", seq=1),
        req("b", "b1", "m2", seq=2),  # b1 is busy in slot 0
        req("c", "b2", "m1", seq=3),  # m1 is busy in slot 0
        req("d", "b3", "m3", seq=4),  # both free in slot 0: the second table
    ]
    placed = place_requests(requests, {}, everyone(requests), 3, ["T1", "T2"])
    assert placed == {
        "a": Placement(0, "T1"),
        "b": Placement(1, "T1"),
        "c": Placement(1, "T2"),
        "d": Placement(0, "T2"),
    }


def test_the_higher_priority_request_gets_the_only_place() -> None:
    requests = [
        req("low", "b1", "m1", priority=4, seq=1),
        req("high", "b2", "m2", priority=1, seq=2),
    ]
    assert place_requests(requests, {}, everyone(requests), 1, ["T1"]) == {
        "high": Placement(0, "T1")
    }


def test_at_equal_priority_a_meeting_both_sides_asked_for_goes_first_then_the_earlier_request() -> (
    None
):
    requests = [
        req("first", "b1", "m1", seq=1),
        req("both", "b2", "m2", seq=3, mutual=True),
        req("second", "b3", "m3", seq=2),
    ]
    assert sorted(requests, key=request_order)[0].meeting_id == "both"
    placed = place_requests(requests, {}, everyone(requests), 2, ["T1"])
    assert placed == {"both": Placement(0, "T1"), "first": Placement(1, "T1")}


def test_each_sides_availability_is_respected() -> None:
    requests = [req("a", "b1", "m1")]
    availability: dict[Party, Collection[int] | None] = {
        (BUYER, "b1"): [1, 2, 3],
        (MEMBER, "m1"): [0, 2],
    }
    assert place_requests(requests, {}, availability, 4, ["T1"]) == {"a": Placement(2, "T1")}
    availability[(MEMBER, "m1")] = [0]
    assert place_requests(requests, {}, availability, 4, ["T1"]) == {}


def test_a_withdrawal_frees_the_places_and_waiting_requests_take_them_without_moving_others() -> (
    None
):
    requests = [
        req("x1", "bx", "m1", priority=1, seq=1),
        req("keep", "b2", "m2", priority=1, seq=2),
        req("wait", "b3", "m1", priority=2, seq=3),  # m1 is taken in the only slot by x1
    ]
    first = place_requests(requests, {}, everyone(requests), 1, ["T1", "T2"])
    assert first == {"x1": Placement(0, "T1"), "keep": Placement(0, "T2")}
    # The buyer bx withdraws: its meeting goes; the one waiting takes the free place.
    survivors = [r for r in requests if r.buyer_id != "bx"]
    kept = {k: v for k, v in first.items() if k != "x1"}
    availability = everyone(survivors)
    new = place_requests(survivors, kept, availability, 1, ["T1", "T2"])
    assert new == {"wait": Placement(0, "T1")}
    assert kept == {"keep": Placement(0, "T2")}


def test_a_withdrawn_party_is_never_placed() -> None:
    requests = [req("a", "b1", "m1")]
    assert place_requests(requests, {}, {(BUYER, "b1"): None}, 3, ["T1"]) == {}


# --- properties -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    slot_count: int
    tables: list[str]
    requests: list[MeetingRequest]
    availability: dict[Party, Collection[int] | None]


@st.composite
def days(draw: st.DrawFn) -> Day:
    slot_count = draw(st.integers(1, 6))
    tables = [f"T{i}" for i in range(draw(st.integers(1, 3)))]
    buyers = [f"b{i}" for i in range(draw(st.integers(1, 4)))]
    members = [f"m{i}" for i in range(draw(st.integers(1, 5)))]
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(buyers), st.sampled_from(members)),
            unique=True,
            max_size=len(buyers) * len(members),
        )
    )
    requests = [
        req(
            f"r{i}",
            buyer,
            member,
            priority=draw(st.integers(1, 5)),
            seq=i,
            mutual=draw(st.booleans()),
        )
        for i, (buyer, member) in enumerate(pairs)
    ]
    slots = st.none() | st.frozensets(st.integers(0, slot_count - 1))
    availability: dict[Party, Collection[int] | None] = {
        **{(BUYER, b): draw(slots) for b in buyers},
        **{(MEMBER, m): draw(slots) for m in members},
    }
    return Day(slot_count, tables, requests, availability)


def can_make(day: Day, request: MeetingRequest, slot: int) -> bool:
    return all(
        party in day.availability
        and (day.availability[party] is None or slot in day.availability[party])  # type: ignore[operator]
        for party in request.parties
    )


def assert_no_double_booking(day: Day, placed: Mapping[str, Placement]) -> None:
    by_id = {r.meeting_id: r for r in day.requests}
    people: set[tuple[Party, int]] = set()
    tables: set[tuple[int, str]] = set()
    for meeting_id, p in placed.items():
        assert 0 <= p.slot < day.slot_count and p.table in day.tables
        assert (p.slot, p.table) not in tables, f"table {p.table} double-booked in slot {p.slot}"
        tables.add((p.slot, p.table))
        for party in by_id[meeting_id].parties:
            assert (party, p.slot) not in people, f"{party} double-booked in slot {p.slot}"
            people.add((party, p.slot))
        assert can_make(day, by_id[meeting_id], p.slot), "placed where a side is not available"


def blocked(
    day: Day, request: MeetingRequest, slot: int, placed: Mapping[str, Placement], by: set[str]
) -> bool:
    """Whether meetings in `by` hold, at `slot`, a side of `request` or every table."""
    holders = [day_request for day_request in day.requests if day_request.meeting_id in by]
    at_slot = [h for h in holders if h.meeting_id in placed and placed[h.meeting_id].slot == slot]
    busy = {party for h in at_slot for party in h.parties}
    return bool(busy & set(request.parties)) or len(at_slot) >= len(day.tables)


@settings(max_examples=300, deadline=None)
@given(days())
def test_no_person_or_table_is_ever_double_booked_and_availability_holds(day: Day) -> None:
    placed = place_requests(day.requests, {}, day.availability, day.slot_count, day.tables)
    assert_no_double_booking(day, placed)


@settings(max_examples=300, deadline=None)
@given(days())
def test_requests_are_honoured_by_priority(day: Day) -> None:
    """No request waits or goes without a meeting because of a lower-priority one: every
    slot it could make, earlier than the one it got (or any, if it got none), is taken
    by meetings that come before it in priority order."""
    placed = place_requests(day.requests, {}, day.availability, day.slot_count, day.tables)
    order = sorted(day.requests, key=request_order)
    for position, request in enumerate(order):
        before = {r.meeting_id for r in order[:position]}
        got = placed.get(request.meeting_id)
        for slot in range(got.slot if got else day.slot_count):
            if can_make(day, request, slot):
                assert blocked(day, request, slot, placed, before), (
                    f"{request.meeting_id} could have had slot {slot}"
                )


@settings(max_examples=200, deadline=None)
@given(days(), st.randoms(use_true_random=False))
def test_the_schedule_does_not_depend_on_the_order_requests_are_listed(
    day: Day, rng: object
) -> None:
    shuffled = list(day.requests)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert place_requests(
        shuffled, {}, day.availability, day.slot_count, day.tables
    ) == place_requests(day.requests, {}, day.availability, day.slot_count, day.tables)


@settings(max_examples=300, deadline=None)
@given(days(), st.data())
def test_a_withdrawal_keeps_every_other_meeting_in_place_and_fills_what_it_can(
    day: Day, data: st.DataObject
) -> None:
    placed = place_requests(day.requests, {}, day.availability, day.slot_count, day.tables)
    gone: Party = data.draw(st.sampled_from(sorted(day.availability)))
    survivors = [r for r in day.requests if gone not in r.parties]
    kept = {k: v for k, v in placed.items() if k in {r.meeting_id for r in survivors}}
    availability = {p: s for p, s in day.availability.items() if p != gone}
    after = Day(day.slot_count, day.tables, survivors, availability)

    new = place_requests(survivors, kept, availability, day.slot_count, day.tables)

    assert not set(new) & set(kept), "a meeting already placed was moved"
    final = {**kept, **new}
    assert_no_double_booking(after, final)
    assert all(gone not in r.parties for r in survivors if r.meeting_id in final)
    # Only requests that had no place before are placed now.
    assert set(new) <= {r.meeting_id for r in day.requests} - set(placed)
    # Nothing is left waiting that now fits: every slot it could make is taken.
    everything = {r.meeting_id for r in survivors}
    for request in survivors:
        if request.meeting_id not in final:
            for slot in range(day.slot_count):
                if can_make(after, request, slot):
                    assert blocked(after, request, slot, final, everything)


def test_property_helpers_catch_a_double_booking() -> None:
    """The checks above can fail: a schedule with a clash does not pass them."""
    requests = [req("a", "b1", "m1"), req("b", "b1", "m2")]
    day = Day(2, ["T1", "T2"], requests, everyone(requests))
    with pytest.raises(AssertionError, match="double-booked"):
        assert_no_double_booking(day, {"a": Placement(0, "T1"), "b": Placement(0, "T2")})
    assert domain.DEFAULT_PRIORITY == 3
