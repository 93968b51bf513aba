"""Surveys through the real broker: members learned from membership's events, one answer
each, bad answers refused with nothing written, results with the response rate, and a
member who leaves stops receiving surveys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from bizclub.feedback.v1 import events_pb2
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub_shared.topics import FEEDBACK

from tests.conftest import Broker, MembershipFactory, RunningMembership
from tests.integration.feedback_support import (
    RunningFeedback,
    fp,
    fs,
    province_survey,
    running_feedback,
)
from tests.integration.probes import eventually
from tests.integration.training_support import active_member
from tests.support import read_topic, udon_thani_network

ms = membership_service_pb2


@pytest.fixture
async def services(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[tuple[RunningMembership, RunningFeedback]]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    async with running_feedback(tmp_path, broker) as feedback:
        yield membership, feedback


async def members(membership: RunningMembership, count: int) -> list[membership_pb2.Member]:
    return [
        await active_member(membership, business_name_th=f"กลุ่มทอผ้าบ้านดอน {i}") for i in range(count)
    ]


def rating(value: int) -> fp.SurveyAnswerItem:
    return fp.SurveyAnswerItem(question_id="overall", rating=value)


async def refused(call: object, code: grpc.StatusCode, field: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    details = err.value.details() or ""
    assert field in details
    return details


async def test_one_answer_per_member_and_bad_answers_write_nothing(
    broker: Broker, services: tuple[RunningMembership, RunningFeedback]
) -> None:
    membership, feedback = services
    asked = await members(membership, 3)
    await feedback.members_known([m.member_id for m in asked])
    today = feedback.app.api.today()
    survey = (await feedback.stub.CreateSurvey(province_survey(today + timedelta(days=14)))).survey
    assert survey.recipient_count >= 3
    first = asked[0].member_id

    answered = await feedback.stub.AnswerSurvey(
        fs.AnswerSurveyRequest(
            survey_id=survey.survey_id,
            member_id=first,
            answers=[
                rating(5),
                fp.SurveyAnswerItem(question_id="channel", choice_index=0),
                fp.SurveyAnswerItem(question_id="comment", text_th="  อยากได้อบรมเรื่องบรรจุภัณฑ์  "),
            ],
        )
    )
    assert answered.member_id == first
    answers_before = feedback.count("feedback_survey_answer")
    outbox_before = feedback.count("outbox")

    # A second answer from the same member.
    await refused(
        feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(survey_id=survey.survey_id, member_id=first, answers=[rating(1)])
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "member_id",
    )
    # A rating of 7.
    details = await refused(
        feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id, member_id=asked[1].member_id, answers=[rating(7)]
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "answers[0].rating",
    )
    assert "1 to 5" in details
    # Someone who is no member of any network.
    await refused(
        feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id, member_id="no-such-member", answers=[rating(4)]
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "member_id",
    )
    # A required question left out.
    await refused(
        feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id,
                member_id=asked[1].member_id,
                answers=[fp.SurveyAnswerItem(question_id="orders", number=12)],
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'overall' is required",
    )
    assert feedback.count("feedback_survey_answer") == answers_before
    assert feedback.count("outbox") == outbox_before

    # A member approved after the survey went out was not addressed by it.
    outsider = await active_member(membership, cluster_code="food")
    await feedback.members_known([outsider.member_id])
    await refused(
        feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=survey.survey_id, member_id=outsider.member_id, answers=[rating(4)]
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "not addressed",
    )

    await feedback.stub.AnswerSurvey(
        fs.AnswerSurveyRequest(
            survey_id=survey.survey_id,
            member_id=asked[1].member_id,
            answers=[rating(3), fp.SurveyAnswerItem(question_id="orders", number=40)],
        )
    )
    results = await feedback.stub.GetSurveyResults(
        fs.GetSurveyResultsRequest(survey_id=survey.survey_id)
    )
    assert results.survey.response_count == 2
    assert results.response_rate == pytest.approx(2 / results.survey.recipient_count)
    overall, channel, orders, comment = results.questions
    assert list(overall.rating_counts) == [0, 0, 1, 0, 1]
    assert overall.average == pytest.approx(4.0)
    assert list(channel.option_counts) == [1, 0, 0]
    assert (orders.answered, orders.number_sum) == (1, 40)
    assert list(comment.texts_th) == ["อยากได้อบรมเรื่องบรรจุภัณฑ์"]

    await feedback.published()
    records = await read_topic(broker.bootstrap_servers, FEEDBACK, keys={survey.survey_id})
    types = [r.headers["ce_type"] for r in records]
    assert types == [
        "bizclub.feedback.v1.SurveyPublished",
        "bizclub.feedback.v1.SurveyAnswered",
        "bizclub.feedback.v1.SurveyAnswered",
    ]
    first_answer = events_pb2.SurveyAnswered.FromString(records[1].value)
    assert (first_answer.member_id, first_answer.average_rating) == (first, 5.0)


async def test_a_member_who_leaves_stops_receiving_surveys(
    services: tuple[RunningMembership, RunningFeedback],
) -> None:
    membership, feedback = services
    staying, leaving = await members(membership, 2)
    await feedback.members_known([staying.member_id, leaving.member_id])
    today = feedback.app.api.today()
    before = (await feedback.stub.CreateSurvey(province_survey(today + timedelta(days=7)))).survey

    await membership.stub.LeaveNetwork(
        ms.LeaveNetworkRequest(member_id=leaving.member_id, reason="เลิกกิจการ")
    )
    await feedback.members_known([leaving.member_id], status="left")

    async def addressed_to(member_id: str) -> set[str]:
        reply = await feedback.stub.ListSurveys(fs.ListSurveysRequest(member_id=member_id))
        return {s.survey_id for s in reply.surveys}

    assert await addressed_to(leaving.member_id) == set()
    assert before.survey_id in await addressed_to(staying.member_id)
    after = (await feedback.stub.CreateSurvey(province_survey(today + timedelta(days=7)))).survey
    assert after.survey_id not in await addressed_to(leaving.member_id)
    assert (
        await feedback.stub.GetSurvey(fs.GetSurveyRequest(survey_id=before.survey_id))
    ).survey.recipient_count == before.recipient_count - 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await feedback.stub.AnswerSurvey(
            fs.AnswerSurveyRequest(
                survey_id=before.survey_id, member_id=leaving.member_id, answers=[rating(4)]
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "has left" in (err.value.details() or "")

    async def rate_counts_only_staying() -> bool:
        results = await feedback.stub.GetSurveyResults(
            fs.GetSurveyResultsRequest(survey_id=after.survey_id)
        )
        return results.survey.recipient_count == after.recipient_count

    await eventually(rate_counts_only_staying, what="the survey's recipients")
