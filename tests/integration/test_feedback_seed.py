"""The Udon Thani feedback demo `make run` seeds, on membership's seeded members."""

from __future__ import annotations

from pathlib import Path

from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from feedback import seed

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import CENTRAL_VIEW, fp, fs, office, running_feedback
from tests.support import CENTRAL

ms = membership_service_pb2


async def test_the_demo_is_seeded_once_with_growing_revenue(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> None:
    membership = await start_membership(seed_demo_data=True)
    active = (
        await membership.stub.ListMembers(
            ms.ListMembersRequest(province_code="TH-41", status=membership_pb2.MEMBER_STATUS_ACTIVE)
        )
    ).members
    async with running_feedback(
        tmp_path, broker, seed_demo_data=True, seed_wait_seconds=60
    ) as feedback:
        reports = feedback.count("feedback_monthly_report")
        members = feedback.query("SELECT count(*) FROM feedback_member WHERE status = 'active'")
        assert reports == 6 * members[0][0] and members[0][0] >= 170
        history = (
            await feedback.stub.ListMonthlyReports(
                fs.ListMonthlyReportsRequest(member_id=active[0].member_id)
            )
        ).reports
        months = sorted(history, key=lambda r: (r.month.year, r.month.month))
        revenue = [r.figures.revenue.satang for r in months]
        assert len(revenue) == 6 and revenue == sorted(revenue) and revenue[-1] > revenue[0]
        assert 6_000_000 <= revenue[0] < 10_000_000
        assert feedback.count("feedback_monthly_revision") == reports + 1  # one correction
        mine = await feedback.stub.ListIssues(fs.ListIssuesRequest(viewer=office("TH-41")))
        assert sorted(fp.IssueStatus.Name(i.status) for i in mine.issues) == [
            "ISSUE_STATUS_ACKNOWLEDGED",
            "ISSUE_STATUS_ESCALATED",
            "ISSUE_STATUS_IN_PROGRESS",
            "ISSUE_STATUS_OPEN",
            "ISSUE_STATUS_RESOLVED",
        ]
        central = await feedback.as_caller(CENTRAL).ListIssues(
            fs.ListIssuesRequest(viewer=CENTRAL_VIEW)
        )
        assert len(central.issues) == 1
        meetings = (
            await feedback.stub.ListMeetings(fs.ListMeetingsRequest(province_code="TH-41"))
        ).meetings
        assert sorted(len(m.action_items) for m in meetings) == [0, 3]

        # Started again on the same data: nothing is added.
        await seed.seed_demo(feedback.app.api, wait=5)
        assert feedback.count("feedback_monthly_report") == reports
