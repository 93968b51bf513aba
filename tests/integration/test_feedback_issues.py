"""Problem reports through the real broker: handling with who did what and when, the
overdue flag, and an escalation the central ministry sees and another province's
office does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub_shared.db import utcnow
from bizclub_shared.topics import FEEDBACK

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import (
    CENTRAL_VIEW,
    RunningFeedback,
    fp,
    fs,
    office,
    running_feedback,
)
from tests.integration.training_support import active_member
from tests.support import CENTRAL, officer_of, read_topic, udon_thani_network

UDON, KHON_KAEN = office("TH-41"), office("TH-40")


@pytest.fixture
async def reporting(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[tuple[RunningFeedback, membership_pb2.Member]]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    async with running_feedback(tmp_path, broker) as feedback:
        member = await active_member(membership)
        await feedback.members_known([member.member_id])
        yield feedback, member


def report(member_id: str = "", **overrides: object) -> fs.ReportIssueRequest:
    request = fs.ReportIssueRequest(
        province_code="TH-41",
        member_id=member_id,
        reported_by="" if member_id else "officer-th41-02",
        category=fp.ISSUE_CATEGORY_REGULATION,
        severity=fp.ISSUE_SEVERITY_HIGH,
        description_th="ใบรับรองสำหรับส่งออกข้าวแปรรูปต้องออกโดยส่วนกลาง จังหวัดออกให้ไม่ได้",
    )
    for name, value in overrides.items():
        setattr(request, name, value)
    return request


Stub = Any


async def listed(stub: Stub, viewer: fp.ViewerScope, **filters: object) -> list[str]:
    reply = await stub.ListIssues(fs.ListIssuesRequest(viewer=viewer, **filters))  # type: ignore[arg-type]
    return [i.issue_id for i in reply.issues]


async def test_an_overdue_escalation_reaches_the_centre_and_not_another_province(
    broker: Broker, reporting: tuple[RunningFeedback, membership_pb2.Member]
) -> None:
    feedback, member = reporting
    # Each with their own token: Udon Thani's office, Khon Kaen's, the central ministry.
    udon = feedback.as_caller(officer_of("TH-41"))
    khon_kaen = feedback.as_caller(officer_of("TH-40"))
    central = feedback.as_caller(CENTRAL)
    issue = (await feedback.stub.ReportIssue(report(member.member_id))).issue
    fresh = (await feedback.stub.ReportIssue(report())).issue
    assert (issue.status, issue.level, issue.overdue) == (
        fp.ISSUE_STATUS_OPEN,
        fp.ISSUE_LEVEL_PROVINCE,
        False,
    )
    assert await listed(central, CENTRAL_VIEW) == []

    # Eight days on, nobody has acknowledged it.
    later = utcnow() + timedelta(days=8)
    feedback.app.api.clock = lambda: later
    after = (await feedback.stub.ReportIssue(report())).issue  # reported just now
    overdue = await listed(udon, UDON, overdue_only=True)
    assert set(overdue) == {issue.issue_id, fresh.issue_id}
    assert after.issue_id not in overdue
    # Page by page, the token still good though the clock has moved on since.
    first_page = await udon.ListIssues(
        fs.ListIssuesRequest(
            viewer=UDON, overdue_only=True, page=common_pb2.PageRequest(page_size=1)
        )
    )
    feedback.app.api.clock = lambda: later + timedelta(seconds=5)
    second_page = await udon.ListIssues(
        fs.ListIssuesRequest(
            viewer=UDON,
            overdue_only=True,
            page=common_pb2.PageRequest(page_size=1, page_token=first_page.page.next_page_token),
        )
    )
    assert [i.issue_id for i in [*first_page.issues, *second_page.issues]] == overdue
    assert second_page.page.next_page_token == ""
    await udon.EscalateIssue(
        fs.EscalateIssueRequest(
            issue_id=issue.issue_id,
            viewer=UDON,
            actor_id="officer-th41-01",
            note_th="เกินอำนาจจังหวัด ขอส่วนกลางพิจารณา",
        )
    )

    # The central operator's queue has it, flagged overdue; the Udon Thani office still
    # sees it; the Khon Kaen office sees nothing of it.
    [central_view] = (await central.ListIssues(fs.ListIssuesRequest(viewer=CENTRAL_VIEW))).issues
    assert central_view.issue_id == issue.issue_id
    assert (central_view.status, central_view.level, central_view.overdue) == (
        fp.ISSUE_STATUS_ESCALATED,
        fp.ISSUE_LEVEL_CENTRAL,
        True,
    )
    assert [(s.status, s.actor_id) for s in central_view.history] == [
        (fp.ISSUE_STATUS_OPEN, member.member_id),
        (fp.ISSUE_STATUS_ESCALATED, "officer-th41-01"),
    ]
    assert issue.issue_id in await listed(udon, UDON)
    assert await listed(khon_kaen, KHON_KAEN) == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await khon_kaen.GetIssue(fs.GetIssueRequest(issue_id=issue.issue_id, viewer=KHON_KAEN))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:  # nor may it act on it
        await khon_kaen.ResolveIssue(
            fs.ResolveIssueRequest(
                issue_id=issue.issue_id, viewer=KHON_KAEN, actor_id="x", resolution_th="ปิด"
            )
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # Nor can its token ask for another province's view, or the centre's: the policy
    # table refuses before the handler runs.
    for viewer in (UDON, CENTRAL_VIEW):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await khon_kaen.ListIssues(fs.ListIssuesRequest(viewer=viewer))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The centre does not see what is still in a province's queue.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await central.GetIssue(fs.GetIssueRequest(issue_id=fresh.issue_id, viewer=CENTRAL_VIEW))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    # Once escalated, the centre handles it: the province office can no longer resolve it.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await udon.ResolveIssue(
            fs.ResolveIssueRequest(
                issue_id=issue.issue_id, viewer=UDON, actor_id="officer-th41-01", resolution_th="x"
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    resolved = (
        await central.ResolveIssue(
            fs.ResolveIssueRequest(
                issue_id=issue.issue_id,
                viewer=CENTRAL_VIEW,
                actor_id="central-moc-01",
                resolution_th="กรมการค้าต่างประเทศมอบอำนาจให้จังหวัดออกใบรับรองแล้ว",
            )
        )
    ).issue
    assert (resolved.status, resolved.overdue) == (fp.ISSUE_STATUS_RESOLVED, False)

    await feedback.published()
    records = await read_topic(broker.bootstrap_servers, FEEDBACK, keys={issue.issue_id})
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.feedback.v1.IssueReported",
        "bizclub.feedback.v1.IssueEscalated",
        "bizclub.feedback.v1.IssueResolved",
    ]
    escalated = events_pb2.IssueEscalated.FromString(records[1].value)
    assert (escalated.province_code, escalated.overdue) == ("TH-41", True)
    assert events_pb2.IssueResolved.FromString(records[2].value).level == fp.ISSUE_LEVEL_CENTRAL


async def test_handling_in_the_province_records_each_step(
    reporting: tuple[RunningFeedback, membership_pb2.Member],
) -> None:
    feedback, member = reporting
    issue = (await feedback.stub.ReportIssue(report(member.member_id))).issue
    with pytest.raises(grpc.aio.AioRpcError) as err:  # resolving needs a resolution
        await feedback.stub.ResolveIssue(
            fs.ResolveIssueRequest(issue_id=issue.issue_id, viewer=UDON, actor_id="officer-1")
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "resolution_th" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the viewer says whose view it is
        await feedback.stub.AcknowledgeIssue(
            fs.AcknowledgeIssueRequest(issue_id=issue.issue_id, actor_id="officer-1")
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("viewer:")

    for call, request in (
        (feedback.stub.AcknowledgeIssue, fs.AcknowledgeIssueRequest),
        (feedback.stub.StartIssueWork, fs.StartIssueWorkRequest),
    ):
        await call(request(issue_id=issue.issue_id, viewer=UDON, actor_id="officer-1"))
    with pytest.raises(grpc.aio.AioRpcError) as err:  # no going back
        await feedback.stub.AcknowledgeIssue(
            fs.AcknowledgeIssueRequest(issue_id=issue.issue_id, viewer=UDON, actor_id="officer-1")
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    done = (
        await feedback.stub.ResolveIssue(
            fs.ResolveIssueRequest(
                issue_id=issue.issue_id,
                viewer=UDON,
                actor_id="officer-2",
                resolution_th="ประสานธนาคารออมสินจัดสินเชื่อดอกเบี้ยต่ำให้แล้ว",
            )
        )
    ).issue
    assert [(s.status, s.actor_id) for s in done.history] == [
        (fp.ISSUE_STATUS_OPEN, member.member_id),
        (fp.ISSUE_STATUS_ACKNOWLEDGED, "officer-1"),
        (fp.ISSUE_STATUS_IN_PROGRESS, "officer-1"),
        (fp.ISSUE_STATUS_RESOLVED, "officer-2"),
    ]
    assert done.HasField("acknowledged_at") and done.HasField("resolved_at")
    # A member reports only in their own province.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await feedback.stub.ReportIssue(report(member.member_id, province_code="TH-40"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
