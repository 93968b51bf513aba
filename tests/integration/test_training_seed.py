"""The Udon Thani demo calendar `make run` seeds, on membership's seeded network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bizclub.training.v1 import training_pb2, training_service_pb2
from training import seed

from tests.conftest import Broker, MembershipFactory
from tests.integration.training_support import TrainingFactory, training_factory

ts = training_service_pb2
tp = training_pb2


@pytest.fixture
async def start_training(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    async with training_factory(tmp_path, broker) as factory:
        yield factory


async def test_the_demo_calendar_is_seeded_once(
    start_membership: MembershipFactory, start_training: TrainingFactory
) -> None:
    membership = await start_membership(seed_demo_data=True)
    training = await start_training(membership.address, seed_demo_data=True, seed_wait_seconds=30)

    sessions = (
        await training.stub.ListSessions(ts.ListSessionsRequest(province_code="TH-41"))
    ).sessions
    kinds = sorted(tp.SessionKind.Name(s.kind) for s in sessions)
    assert kinds == [
        "SESSION_KIND_BRAINSTORMING",
        "SESSION_KIND_CONSULTATION",
        "SESSION_KIND_PEER_MENTORING",
        "SESSION_KIND_PEER_MENTORING",
        "SESSION_KIND_PEER_MENTORING",
        "SESSION_KIND_PRODUCT_DEVELOPMENT",
        "SESSION_KIND_SEMINAR",
    ]
    [workshop] = [s for s in sessions if s.kind == tp.SESSION_KIND_PRODUCT_DEVELOPMENT]
    assert (workshop.confirmed_count, workshop.waitlisted_count) == (20, 4)
    assert [t.role for t in workshop.trainers] == [tp.TRAINER_ROLE_DESIGNER]
    assert all(s.local_start.split(" ")[0][-4:].startswith("25") for s in sessions)  # พ.ศ.
    mentoring = [s for s in sessions if s.kind == tp.SESSION_KIND_PEER_MENTORING]
    assert all(s.trainers[0].member_id for s in mentoring)
    projects = (
        await training.stub.ListProductProjects(
            ts.ListProductProjectsRequest(province_code="TH-41")
        )
    ).projects
    assert [(p.session_id, p.stage) for p in projects] == [
        (workshop.session_id, tp.PROJECT_STAGE_PROTOTYPE)
    ]

    # Started again on the same data: nothing is added.
    assert not await seed.seed_udon_thani(
        training.app.api, membership.address, token=training.app.runtime.service_token, wait=5
    )
    again = await training.stub.ListSessions(ts.ListSessionsRequest(province_code="TH-41"))
    assert len(again.sessions) == len(sessions)
