"""Training reacting to membership's events, through the real broker and a real membership.

Suspending a member (membership gRPC) cancels their places in sessions that have not
started, once, even when the MemberSuspended record is delivered twice; a freed seat
goes to the first on the waitlist. A member who leaves loses their places too. A
cluster change reaches training's member table and decides what the member may join.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub.training.v1 import events_pb2, training_pb2, training_service_pb2
from bizclub_shared.topics import MEMBERSHIP, TRAINING

from tests.conftest import Broker, MembershipFactory, RunningMembership
from tests.integration.probes import eventually
from tests.integration.training_support import (
    RunningTraining,
    TrainingFactory,
    active_member,
    in_days,
    seminar,
    stamp,
    training_factory,
)
from tests.support import read_topic, udon_thani_network

ts = training_service_pb2
tp = training_pb2
ms = membership_service_pb2


@pytest.fixture
async def start_training(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    async with training_factory(tmp_path, broker) as factory:
        yield factory


async def services(
    start_membership: MembershipFactory, start_training: TrainingFactory
) -> tuple[RunningMembership, RunningTraining]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    return membership, await start_training(membership.address)


async def place(training: RunningTraining, session: tp.Session, member_id: str) -> tp.Enrollment:
    reply = await training.stub.EnrollMember(
        ts.EnrollMemberRequest(session_id=session.session_id, member_id=member_id)
    )
    return reply.enrollment


async def roster(training: RunningTraining, session: tp.Session) -> ts.GetRosterResponse:
    return await training.stub.GetRoster(
        ts.GetRosterRequest(session_id=session.session_id, include_cancelled=True)
    )


async def test_a_suspension_cancels_future_places_once_even_when_delivered_twice(
    broker: Broker, start_membership: MembershipFactory, start_training: TrainingFactory
) -> None:
    membership, training = await services(start_membership, start_training)
    suspended = await active_member(membership, business_name_th="ร้านผ้าไหมแม่บุญ")
    next_in_line = await active_member(membership, business_name_th="กลุ่มทอผ้าฝ้ายบ้านนา")
    full = (await training.stub.ScheduleSession(seminar(capacity=1))).session
    roomy = (await training.stub.ScheduleSession(seminar(capacity=5))).session
    tomorrow = in_days(1)
    soon = (
        await training.stub.ScheduleSession(
            seminar(start_time=stamp(tomorrow), end_time=stamp(tomorrow + timedelta(hours=7)))
        )
    ).session
    for session in (full, roomy, soon):
        await place(training, session, suspended.member_id)
    assert (await place(training, full, next_in_line.member_id)).waitlist_position == 1
    # By the time the suspension arrives, one session is under way: that place stays.
    training.app.api.clock = lambda: tomorrow + timedelta(hours=1)

    await membership.stub.SuspendMember(
        ms.SuspendMemberRequest(member_id=suspended.member_id, reason="ค้างชำระค่าบำรุง")
    )

    async def both_cancelled() -> bool:
        rosters = [await roster(training, s) for s in (full, roomy)]
        return all(suspended.member_id in {e.member_id for e in r.cancelled} for r in rosters)

    await eventually(both_cancelled, what="the suspended member's future places cancelled")
    full_roster = await roster(training, full)
    [cancelled] = full_roster.cancelled
    assert cancelled.cancellation_reason == tp.CANCELLATION_REASON_MEMBER_SUSPENDED
    assert [e.member_id for e in full_roster.confirmed] == [next_in_line.member_id]
    assert list(full_roster.waitlisted) == []
    soon_roster = await roster(training, soon)
    assert [e.member_id for e in soon_roster.confirmed] == [suspended.member_id]
    member_ref = training.query(
        "SELECT status FROM training_member WHERE member_id = ?", suspended.member_id
    )
    assert member_ref == [("suspended",)]

    # The same MemberSuspended record again (a redelivery): recognised, no second effect.
    [record] = [
        r
        for r in await read_topic(
            broker.bootstrap_servers, MEMBERSHIP, keys={suspended.member_id}, expect=3
        )
        if r.headers["ce_type"] == "bizclub.membership.v1.MemberSuspended"
    ]
    [consumer] = training.app.runtime.consumers
    outcome = await consumer.handle_record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.encode(),
        value=record.value,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )
    assert outcome == "duplicate"
    assert training.count("inbox") == len(training.query("SELECT DISTINCT event_id FROM inbox"))

    await training.published()
    sessions = {full.session_id, roomy.session_id, soon.session_id}
    records = await read_topic(broker.bootstrap_servers, TRAINING, keys=sessions)
    cancellations = [
        events_pb2.EnrollmentCancelled.FromString(r.value)
        for r in records
        if r.headers["ce_type"] == "bizclub.training.v1.EnrollmentCancelled"
    ]
    assert sorted(c.session_id for c in cancellations) == sorted(
        [full.session_id, roomy.session_id]
    )
    assert {c.member_id for c in cancellations} == {suspended.member_id}
    assert {c.reason for c in cancellations} == {tp.CANCELLATION_REASON_MEMBER_SUSPENDED}
    promotions = [
        events_pb2.WaitlistPromoted.FromString(r.value)
        for r in records
        if r.headers["ce_type"] == "bizclub.training.v1.WaitlistPromoted"
    ]
    assert [(p.session_id, p.member_id) for p in promotions] == [
        (full.session_id, next_in_line.member_id)
    ]


async def test_a_member_who_leaves_loses_their_places(
    start_membership: MembershipFactory, start_training: TrainingFactory
) -> None:
    membership, training = await services(start_membership, start_training)
    seated = await active_member(membership)
    leaving = await active_member(membership, business_name_th="ร้านข้าวจี่แม่คำ")
    session = (await training.stub.ScheduleSession(seminar(capacity=1))).session
    await place(training, session, seated.member_id)
    assert (await place(training, session, leaving.member_id)).status == (
        tp.ENROLLMENT_STATUS_WAITLISTED
    )
    await membership.stub.LeaveNetwork(
        ms.LeaveNetworkRequest(member_id=leaving.member_id, reason="ย้ายกิจการไปจังหวัดอื่น")
    )

    async def gone() -> ts.GetRosterResponse | None:
        r = await roster(training, session)
        return r if r.cancelled else None

    after = await eventually(gone, what="the place of the member who left cancelled")
    [cancelled] = after.cancelled
    assert cancelled.member_id == leaving.member_id
    assert cancelled.cancellation_reason == tp.CANCELLATION_REASON_MEMBER_LEFT
    # A waitlisted place frees no seat: the seated member is untouched.
    assert [e.member_id for e in after.confirmed] == [seated.member_id]


async def test_a_cluster_change_decides_which_sessions_the_member_may_join(
    start_membership: MembershipFactory, start_training: TrainingFactory
) -> None:
    membership, training = await services(start_membership, start_training)
    member = await active_member(membership, cluster_code="textiles")
    food_only = (
        await training.stub.ScheduleSession(seminar(target_cluster_codes=["food"]))
    ).session

    async def known_as(cluster: str) -> bool:
        rows = training.query(
            "SELECT cluster_code FROM training_member WHERE member_id = ?", member.member_id
        )
        return rows == [(cluster,)]

    await eventually(lambda: known_as("textiles"), what="training learns the member")
    with pytest.raises(grpc.aio.AioRpcError, match="for the food cluster") as refused:
        await place(training, food_only, member.member_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    changed = await membership.stub.ChangeMemberCluster(
        ms.ChangeMemberClusterRequest(member_id=member.member_id, cluster_code="food")
    )
    assert changed.member.cluster_code == "food"
    await eventually(lambda: known_as("food"), what="the cluster change reaches training")
    enrolled = await place(training, food_only, member.member_id)
    assert enrolled.status == tp.ENROLLMENT_STATUS_CONFIRMED
    assert enrolled.cluster_code == "food"
    assert membership_pb2.MEMBER_STATUS_ACTIVE == changed.member.status
