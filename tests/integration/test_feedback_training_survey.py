"""A training's completion, through training's events on the real broker, gives its
satisfaction survey to exactly its participants, once: membership, training and
feedback all running, nothing mocked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from bizclub.feedback.v1 import events_pb2
from bizclub.training.v1 import training_service_pb2
from bizclub_shared.topics import FEEDBACK, TRAINING

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import RunningFeedback, fp, fs, running_feedback
from tests.integration.probes import eventually
from tests.integration.training_support import (
    TrainingFactory,
    active_member,
    seminar,
    training_factory,
)
from tests.support import read_topic, udon_thani_network

ts = training_service_pb2


@pytest.fixture
async def start_training(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    async with training_factory(tmp_path, broker) as factory:
        yield factory


async def surveys_of(feedback: RunningFeedback, member_id: str) -> list[fp.Survey]:
    reply = await feedback.stub.ListSurveys(fs.ListSurveysRequest(member_id=member_id))
    return list(reply.surveys)


async def test_completion_gives_the_satisfaction_survey_to_exactly_the_participants_once(
    tmp_path: Path,
    broker: Broker,
    start_membership: MembershipFactory,
    start_training: TrainingFactory,
) -> None:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    training = await start_training(membership.address)
    async with running_feedback(tmp_path, broker) as feedback:
        first, second, late, absent = [
            await active_member(membership, business_name_th=f"ร้านผ้าไหมบ้านเชียง {i}")
            for i in range(4)
        ]
        session = (await training.stub.ScheduleSession(seminar(capacity=10))).session
        for member in (first, second, late, absent):
            await training.stub.EnrollMember(
                ts.EnrollMemberRequest(session_id=session.session_id, member_id=member.member_id)
            )
        # The session is under way: check-in is open.
        under_way = session.start_time.ToDatetime(tzinfo=UTC) + timedelta(hours=1)
        training.app.api.clock = lambda: under_way
        for member, hours in ((first, 6), (second, 6), (late, 2), (absent, 0.5)):
            await training.stub.RecordAttendance(
                ts.RecordAttendanceRequest(
                    session_id=session.session_id, member_id=member.member_id, hours=hours
                )
            )

        async def survey_reached_both() -> fp.Survey | None:
            found = await surveys_of(feedback, second.member_id)
            mine = await surveys_of(feedback, first.member_id)
            if found and mine and found[0].recipient_count == 2:
                return found[0]
            return None

        survey = await eventually(survey_reached_both, what="the satisfaction survey")
        assert survey.session_id == session.session_id
        assert survey.audience == fp.SURVEY_AUDIENCE_TRAINING_SESSION
        assert survey.title_th.endswith(session.title_th)
        assert [q.type for q in survey.questions][:2] == [fp.QUESTION_TYPE_RATING] * 2
        assert await surveys_of(feedback, late.member_id) == []
        assert await surveys_of(feedback, absent.member_id) == []

        # A participant who completes later joins the same survey; no second one appears.
        await training.stub.RecordAttendance(
            ts.RecordAttendanceRequest(
                session_id=session.session_id, member_id=late.member_id, hours=4
            )
        )

        async def late_joined() -> bool:
            return [s.survey_id for s in await surveys_of(feedback, late.member_id)] == [
                survey.survey_id
            ]

        await eventually(late_joined, what="the later participant added to the survey")

        # The same completion again (a redelivery), and once more under a new event id
        # (e.g. replayed from the dead-letter topic): still one survey, the same people.
        await training.published()
        records = await read_topic(broker.bootstrap_servers, TRAINING, keys={session.session_id})
        completed = [
            r for r in records if r.headers["ce_type"] == "bizclub.training.v1.TrainingCompleted"
        ]
        assert len(completed) == 3
        [consumer] = feedback.app.runtime.consumers
        record = completed[0]
        for event_id in (record.headers["ce_id"], str(uuid.uuid4())):
            headers = {**record.headers, "ce_id": event_id}
            await consumer.handle_record(
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key.encode(),
                value=record.value,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        assert feedback.count("feedback_survey") == 1
        got = await feedback.stub.GetSurvey(fs.GetSurveyRequest(survey_id=survey.survey_id))
        assert got.survey.recipient_count == 3
        assert await surveys_of(feedback, absent.member_id) == []

        await feedback.published()
        published = [
            events_pb2.SurveyPublished.FromString(r.value)
            for r in await read_topic(broker.bootstrap_servers, FEEDBACK)
            if r.headers["ce_type"] == "bizclub.feedback.v1.SurveyPublished"
        ]
        assert [(p.survey_id, p.session_id) for p in published] == [
            (survey.survey_id, session.session_id)
        ]

        # A participant answers it.
        await feedback.members_known([first.member_id])
        await feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id,
                member_id=first.member_id,
                answers=[
                    fp.SurveyAnswerItem(question_id="overall", rating=5),
                    fp.SurveyAnswerItem(question_id="speaker", rating=4),
                    fp.SurveyAnswerItem(question_id="apply", choice_index=0),
                ],
            )
        )
        results = await feedback.stub.GetSurveyResults(
            fs.GetSurveyResultsRequest(survey_id=survey.survey_id)
        )
        assert results.response_rate == pytest.approx(1 / 3)
