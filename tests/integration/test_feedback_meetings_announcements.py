"""Announcements with read receipts, and meetings with minutes and action items, through
the real broker with members learned from membership's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import events_pb2
from bizclub.membership.v1 import membership_pb2
from bizclub_shared.auth import Caller, Role
from bizclub_shared.topics import FEEDBACK
from google.protobuf.timestamp_pb2 import Timestamp

from tests.conftest import Broker, MembershipFactory
from tests.integration.feedback_support import RunningFeedback, fp, fs, running_feedback
from tests.integration.training_support import active_member
from tests.support import CENTRAL, read_topic, udon_thani_network


@pytest.fixture
async def network(
    tmp_path: Path, broker: Broker, start_membership: MembershipFactory
) -> AsyncIterator[tuple[RunningFeedback, list[membership_pb2.Member]]]:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    async with running_feedback(tmp_path, broker) as feedback:
        members = [
            await active_member(membership, cluster_code=cluster, business_name_th=f"ร้าน {i}")
            for i, cluster in enumerate(["food", "food", "agriculture"])
        ]
        await feedback.members_known([m.member_id for m in members])
        yield feedback, members


async def test_read_receipts_once_per_member_of_the_audience(
    broker: Broker, network: tuple[RunningFeedback, list[membership_pb2.Member]]
) -> None:
    feedback, (cook, baker, farmer) = network
    central = feedback.as_caller(CENTRAL)

    def as_member(member: membership_pb2.Member) -> Any:
        return feedback.as_caller(
            Caller(
                f"test:{member.member_id}", Role.MEMBER, frozenset({"TH-41"}), "", member.member_id
            )
        )

    with pytest.raises(grpc.aio.AioRpcError) as err:  # only the centre speaks to everyone
        await feedback.stub.PublishAnnouncement(
            fs.PublishAnnouncementRequest(title_th="นโยบาย", body_th="รายละเอียด")
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a province speaks to its own network
        await feedback.stub.PublishAnnouncement(
            fs.PublishAnnouncementRequest(
                from_province_code="TH-41", province_codes=["TH-40"], title_th="x", body_th="y"
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "province_codes" in (err.value.details() or "")
    food_news = (
        await feedback.stub.PublishAnnouncement(
            fs.PublishAnnouncementRequest(
                from_province_code="TH-41",
                province_codes=["TH-41"],
                cluster_codes=["food"],
                title_th="อบรมการขอ อย. สำหรับคลัสเตอร์อาหาร",
                body_th="รับสมัครถึงสิ้นเดือน",
            )
        )
    ).announcement
    national = (
        await central.PublishAnnouncement(
            fs.PublishAnnouncementRequest(title_th="นโยบายส่งเสริมการส่งออก", body_th="รายละเอียด")
        )
    ).announcement
    assert food_news.audience_count == 2

    for _ in range(2):  # reading twice gives one receipt
        read = await as_member(cook).MarkAnnouncementRead(
            fs.MarkAnnouncementReadRequest(
                announcement_id=food_news.announcement_id, member_id=cook.member_id
            )
        )
    assert read.announcement.read_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:  # not addressed to the farmer
        await as_member(farmer).MarkAnnouncementRead(
            fs.MarkAnnouncementReadRequest(
                announcement_id=food_news.announcement_id, member_id=farmer.member_id
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = await feedback.stub.GetAnnouncement(
        fs.GetAnnouncementRequest(announcement_id=food_news.announcement_id)
    )
    assert list(got.read_member_ids) == [cook.member_id]

    for_farmer = await feedback.stub.ListAnnouncements(
        fs.ListAnnouncementsRequest(member_id=farmer.member_id)
    )
    assert [a.announcement_id for a in for_farmer.announcements] == [national.announcement_id]
    for_cook = await feedback.stub.ListAnnouncements(
        fs.ListAnnouncementsRequest(member_id=cook.member_id)
    )
    assert {a.announcement_id for a in for_cook.announcements} == {
        national.announcement_id,
        food_news.announcement_id,
    }
    assert list(for_cook.read_announcement_ids) == [food_news.announcement_id]
    assert baker.member_id not in got.read_member_ids

    await feedback.published()
    records = await read_topic(broker.bootstrap_servers, FEEDBACK, keys={food_news.announcement_id})
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.feedback.v1.AnnouncementPublished",
        "bizclub.feedback.v1.AnnouncementRead",
    ]


async def test_a_meeting_held_with_decisions_and_action_items_closed(
    broker: Broker, network: tuple[RunningFeedback, list[membership_pb2.Member]]
) -> None:
    feedback, (cook, baker, farmer) = network
    start = Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(days=3))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await feedback.stub.ScheduleMeeting(
            fs.ScheduleMeetingRequest(
                province_code="TH-41",
                kind=fp.MEETING_KIND_INTER_CLUSTER,
                title_th="ประชุมระหว่างคลัสเตอร์",
                cluster_codes=["food"],
                start_time=start,
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cluster_codes" in (err.value.details() or "")
    meeting = (
        await feedback.stub.ScheduleMeeting(
            fs.ScheduleMeetingRequest(
                province_code="TH-41",
                kind=fp.MEETING_KIND_INTER_CLUSTER,
                title_th="ประชุมเชื่อมโยงคลัสเตอร์อาหารกับเกษตร",
                cluster_codes=["food", "agriculture"],
                start_time=start,
                agenda_th=["รวมซื้อข้าวอินทรีย์"],
                invited_member_ids=[cook.member_id, farmer.member_id],
            )
        )
    ).meeting
    today = datetime.now(UTC).date()
    due = today + timedelta(days=10)
    held = await _record(feedback, meeting.meeting_id, cook, baker, farmer, due)
    assert held.status == fp.MEETING_STATUS_HELD
    assert len(held.action_items) == 2
    item = held.action_items[0]
    assert (item.status, item.owner_member_id, item.overdue) == (
        fp.ACTION_ITEM_STATUS_OPEN,
        farmer.member_id,
        False,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # minutes are recorded once
        await _record(feedback, meeting.meeting_id, cook, baker, farmer, due)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    closed = (
        await feedback.stub.UpdateActionItem(
            fs.UpdateActionItemRequest(
                action_item_id=item.action_item_id, status=fp.ACTION_ITEM_STATUS_DONE
            )
        )
    ).action_item
    assert closed.status == fp.ACTION_ITEM_STATUS_DONE and closed.HasField("closed_at")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await feedback.stub.UpdateActionItem(
            fs.UpdateActionItemRequest(
                action_item_id=item.action_item_id, status=fp.ACTION_ITEM_STATUS_IN_PROGRESS
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Twenty days past its due date, the open item is flagged overdue.
    feedback.app.api.clock = lambda: datetime.now(UTC) + timedelta(days=30)
    again = (
        await feedback.stub.GetMeeting(fs.GetMeetingRequest(meeting_id=meeting.meeting_id))
    ).meeting
    assert [i.overdue for i in again.action_items] == [False, True]

    await feedback.published()
    records = await read_topic(broker.bootstrap_servers, FEEDBACK, keys={meeting.meeting_id})
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.feedback.v1.MeetingHeld",
        "bizclub.feedback.v1.ActionItemClosed",
    ]
    event = events_pb2.MeetingHeld.FromString(records[0].value)
    assert len(event.attendee_member_ids) == 3 and event.decision_count == 1
    assert events_pb2.ActionItemClosed.FromString(records[1].value).late is False


async def _record(
    feedback: RunningFeedback,
    meeting_id: str,
    cook: membership_pb2.Member,
    baker: membership_pb2.Member,
    farmer: membership_pb2.Member,
    due: date,
) -> fp.Meeting:
    due_on = common_pb2.Date(year=due.year, month=due.month, day=due.day)
    return (
        await feedback.stub.RecordMeetingHeld(
            fs.RecordMeetingHeldRequest(
                meeting_id=meeting_id,
                attendee_member_ids=[cook.member_id, farmer.member_id, baker.member_id],
                minutes_th="หารือการรวมซื้อข้าวอินทรีย์จากคลัสเตอร์เกษตร",
                decisions_th=["รวมซื้อข้าวเดือนละ 2 ตัน"],
                action_items=[
                    fs.NewActionItem(
                        description_th="ร่างสัญญาซื้อขายข้าวอินทรีย์",
                        owner_member_id=farmer.member_id,
                        due_on=due_on,
                    ),
                    fs.NewActionItem(
                        description_th="สำรวจราคาบรรจุภัณฑ์ร่วม",
                        owner_th="ประธานคลัสเตอร์อาหาร",
                        due_on=due_on,
                    ),
                ],
            )
        )
    ).meeting
