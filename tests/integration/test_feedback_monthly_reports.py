"""Monthly reports through the real broker: one per member per month, bad figures refused
with nothing written, and a correction that keeps the earlier figure and says both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub_shared.topics import FEEDBACK

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import (
    RunningFeedback,
    figures,
    fp,
    fs,
    month_of,
    running_feedback,
)
from tests.integration.training_support import active_member
from tests.support import read_topic, udon_thani_network


@pytest.fixture
async def reporting(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[tuple[RunningFeedback, membership_pb2.Member]]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    async with running_feedback(tmp_path, broker) as feedback:
        member = await active_member(membership, cluster_code="food")
        await feedback.members_known([member.member_id])
        yield feedback, member


async def refused(
    feedback: RunningFeedback, request: fs.SubmitMonthlyReportRequest, code: grpc.StatusCode
) -> str:
    reports, outbox = feedback.count("feedback_monthly_report"), feedback.count("outbox")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await feedback.stub.SubmitMonthlyReport(request)
    assert err.value.code() == code, err.value.details()
    assert feedback.count("feedback_monthly_report") == reports
    assert feedback.count("outbox") == outbox
    return err.value.details() or ""


async def test_bad_reports_are_refused_and_write_nothing(
    reporting: tuple[RunningFeedback, membership_pb2.Member],
) -> None:
    feedback, member = reporting
    today = feedback.app.api.today()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    ok = fs.SubmitMonthlyReportRequest(
        member_id=member.member_id, month=month_of(today), figures=figures(85_000)
    )
    future = fs.SubmitMonthlyReportRequest()
    future.CopyFrom(ok)
    future.month.CopyFrom(month_of(next_month))
    details = await refused(feedback, future, grpc.StatusCode.INVALID_ARGUMENT)
    assert details.startswith("month:") and "has not begun" in details

    negative = fs.SubmitMonthlyReportRequest()
    negative.CopyFrom(ok)
    negative.figures.revenue.satang = -100
    details = await refused(feedback, negative, grpc.StatusCode.INVALID_ARGUMENT)
    assert "figures.revenue.satang: cannot be negative" in details

    stranger = fs.SubmitMonthlyReportRequest()
    stranger.CopyFrom(ok)
    stranger.member_id = "not-a-member"
    details = await refused(feedback, stranger, grpc.StatusCode.FAILED_PRECONDITION)
    assert details.startswith("member_id:")

    unknown_channel = fs.SubmitMonthlyReportRequest()
    unknown_channel.CopyFrom(ok)
    unknown_channel.figures.sales_channels.append(99)  # type: ignore[arg-type]
    details = await refused(feedback, unknown_channel, grpc.StatusCode.INVALID_ARGUMENT)
    assert "figures.sales_channels[1]" in details

    submitted = (await feedback.stub.SubmitMonthlyReport(ok)).report
    assert (submitted.revision, submitted.figures.revenue.satang) == (1, 8_500_000)
    assert submitted.province_code == "TH-41" and submitted.cluster_code == "food"
    # One report per member per month; a Buddhist-era year names the same month.
    again = fs.SubmitMonthlyReportRequest()
    again.CopyFrom(ok)
    again.month.year = today.year + 543
    details = await refused(feedback, again, grpc.StatusCode.ALREADY_EXISTS)
    assert "ReviseMonthlyReport" in details


async def test_a_revision_keeps_the_earlier_figure_and_emits_both(
    broker: Broker, reporting: tuple[RunningFeedback, membership_pb2.Member]
) -> None:
    feedback, member = reporting
    today = feedback.app.api.today()
    last_month = today.replace(day=1) - timedelta(days=1)
    await feedback.stub.SubmitMonthlyReport(
        fs.SubmitMonthlyReportRequest(
            member_id=member.member_id, month=month_of(last_month), figures=figures(80_000)
        )
    )
    corrected = figures(
        95_500,
        common_pb2.SALES_CHANNEL_LOCAL_MARKET,
        common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
        employees=5,
    )
    revised = await feedback.stub.ReviseMonthlyReport(
        fs.ReviseMonthlyReportRequest(
            member_id=member.member_id,
            month=month_of(last_month),
            figures=corrected,
            reason_th="ลืมรวมยอดขายออนไลน์",
        )
    )
    assert revised.report.revision == 2
    assert revised.report.figures.revenue.satang == 9_550_000
    assert revised.previous.figures.revenue.satang == 8_000_000

    # The earlier figure stays retrievable, with when and why each came.
    report = (
        await feedback.stub.GetMonthlyReport(
            fs.GetMonthlyReportRequest(member_id=member.member_id, month=month_of(last_month))
        )
    ).report
    assert [(r.revision, r.figures.revenue.satang, r.reason_th) for r in report.revisions] == [
        (1, 8_000_000, ""),
        (2, 9_550_000, "ลืมรวมยอดขายออนไลน์"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a revision must change something
        await feedback.stub.ReviseMonthlyReport(
            fs.ReviseMonthlyReportRequest(
                member_id=member.member_id,
                month=month_of(last_month),
                figures=corrected,
                reason_th="ส่งซ้ำ",
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    await feedback.published()
    records = await read_topic(broker.bootstrap_servers, FEEDBACK, keys={member.member_id})
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.feedback.v1.MonthlyReportSubmitted",
        "bizclub.feedback.v1.MonthlyReportRevised",
    ]
    assert records[1].headers["province"] == "TH-41"
    event = events_pb2.MonthlyReportRevised.FromString(records[1].value)
    assert event.revision == 2
    assert (event.previous.revenue.satang, event.current.revenue.satang) == (8_000_000, 9_550_000)
    assert list(event.current.sales_channels) == [
        common_pb2.SALES_CHANNEL_LOCAL_MARKET,
        common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    ]
    assert event.month == fp.ReportMonth(year=last_month.year, month=last_month.month)
