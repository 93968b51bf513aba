"""Capacity under concurrency, on the real broker and a real SQLite file.

200 active members ask for a 30-seat session at once, each from its own gRPC channel:
exactly 30 get a seat and 170 wait, in the order their enrolments reached the
writer; cancelling 5 seats promotes the first 5 in the queue, and the topic says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bizclub.training.v1 import events_pb2, training_pb2, training_service_pb2
from bizclub.training.v1.training_service_pb2_grpc import TrainingServiceStub
from bizclub_shared.topics import TRAINING

from tests.conftest import Broker, MembershipFactory
from tests.integration.training_support import (
    TrainingFactory,
    active_members,
    seminar,
    training_factory,
)
from tests.support import client_channel, read_topic, udon_thani_network

ts = training_service_pb2
tp = training_pb2
CONFIRMED, WAITLISTED = tp.ENROLLMENT_STATUS_CONFIRMED, tp.ENROLLMENT_STATUS_WAITLISTED
MEMBERS, SEATS = 200, 30


@pytest.fixture
async def start_training(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    async with training_factory(tmp_path, broker) as factory:
        yield factory


def event_name(ce_type: str) -> str:
    return ce_type.rsplit(".", 1)[1]


async def test_200_concurrent_enrolments_fill_30_seats_and_a_waitlist_in_arrival_order(
    broker: Broker, start_membership: MembershipFactory, start_training: TrainingFactory
) -> None:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    members = await active_members(membership, MEMBERS)
    training = await start_training(membership.address)
    session = (await training.stub.ScheduleSession(seminar(capacity=SEATS))).session
    session_id = session.session_id

    # Separate clients: one channel each, connected before the race begins.
    channels = [client_channel(training.address) for _ in range(MEMBERS)]
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        stubs = [TrainingServiceStub(c) for c in channels]

        async def enrol(i: int) -> tp.Enrollment:
            await asyncio.sleep(i * 0.0005)  # sent in a known order, barely apart
            reply = await stubs[i].EnrollMember(
                ts.EnrollMemberRequest(session_id=session_id, member_id=members[i].member_id)
            )
            return reply.enrollment

        replies = await asyncio.gather(*(enrol(i) for i in range(MEMBERS)))

        seated = [e for e in replies if e.status == CONFIRMED]
        waiting = [e for e in replies if e.status == WAITLISTED]
        assert (len(seated), len(waiting)) == (SEATS, MEMBERS - SEATS)
        assert sorted(e.waitlist_position for e in waiting) == list(range(1, MEMBERS - SEATS + 1))
        assert {e.waitlist_position for e in seated} == {0}

        # Arrival order is the order the writer wrote them (the enrolment rows' ids): the
        # first 30 written hold the seats, and the queue follows the same order.
        written = training.query(
            "SELECT member_id, status, waitlist_position FROM enrollment "
            "WHERE session_id = ? ORDER BY id",
            session_id,
        )
        assert [status for _, status, _ in written] == [CONFIRMED] * SEATS + [WAITLISTED] * (
            MEMBERS - SEATS
        )
        assert [position for *_, position in written[SEATS:]] == list(range(1, MEMBERS - SEATS + 1))
        by_position = {e.waitlist_position: e.member_id for e in waiting}
        assert [by_position[p] for p in range(1, MEMBERS - SEATS + 1)] == [
            member_id for member_id, *_ in written[SEATS:]
        ]

        roster = await training.stub.GetRoster(ts.GetRosterRequest(session_id=session_id))
        assert (roster.session.confirmed_count, roster.session.waitlisted_count) == (30, 170)
        assert [e.waitlist_position for e in roster.waitlisted] == list(range(1, 171))

        # Five seated members cancel at once, each from their own client.
        leaving = seated[:5]
        owner = {m.member_id: i for i, m in enumerate(members)}
        cancels = await asyncio.gather(
            *(
                stubs[owner[e.member_id]].CancelEnrollment(
                    ts.CancelEnrollmentRequest(session_id=session_id, member_id=e.member_id)
                )
                for e in leaving
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in channels))

    first_five = {by_position[p] for p in range(1, 6)}
    assert {c.promoted.member_id for c in cancels} == first_five
    assert {c.promoted.status for c in cancels} == {CONFIRMED}
    assert {c.enrollment.status for c in cancels} == {tp.ENROLLMENT_STATUS_CANCELLED}
    roster = await training.stub.GetRoster(ts.GetRosterRequest(session_id=session_id))
    assert len(roster.confirmed) == SEATS
    assert first_five <= {e.member_id for e in roster.confirmed}
    assert [e.waitlist_position for e in roster.waitlisted] == list(range(6, 171))

    # The topic, in the session's order (keyed by session id: one partition).
    await training.published()
    expected = 1 + MEMBERS + 2 * len(leaving)
    records = await read_topic(
        broker.bootstrap_servers, TRAINING, keys={session_id}, expect=expected
    )
    names = [event_name(r.headers["ce_type"]) for r in records]
    assert names[: 1 + MEMBERS] == (
        ["SessionScheduled"]
        + ["EnrollmentConfirmed"] * SEATS
        + ["EnrollmentWaitlisted"] * (MEMBERS - SEATS)
    )
    queued = [
        events_pb2.EnrollmentWaitlisted.FromString(r.value)
        for r in records
        if event_name(r.headers["ce_type"]) == "EnrollmentWaitlisted"
    ]
    assert [e.waitlist_position for e in queued] == list(range(1, 171))
    # Each cancellation is followed at once by the promotion it caused.
    assert names[1 + MEMBERS :] == ["EnrollmentCancelled", "WaitlistPromoted"] * len(leaving)
    promotions = [
        events_pb2.WaitlistPromoted.FromString(r.value)
        for r in records
        if event_name(r.headers["ce_type"]) == "WaitlistPromoted"
    ]
    assert [p.waitlist_position for p in promotions] == [1, 2, 3, 4, 5]
    cancelled = [
        events_pb2.EnrollmentCancelled.FromString(r.value)
        for r in records
        if event_name(r.headers["ce_type"]) == "EnrollmentCancelled"
    ]
    assert {c.member_id for c in cancelled} == {e.member_id for e in leaving}
    assert {c.previous_status for c in cancelled} == {CONFIRMED}
