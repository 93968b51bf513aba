"""The TrainingService through real gRPC, a real SQLite file, a real broker and a real
membership service.

Bad input: the right status, the offending field in the google.rpc.BadRequest
detail, nothing written. Membership down or silent: UNAVAILABLE, nothing written.
Good input: the calendar, enrolment, check-in, completion and its Thai certificate,
session cancellation, and a product-development project, with their events.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import grpc
import pytest
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2, membership_service_pb2
from bizclub.training.v1 import events_pb2, training_pb2, training_service_pb2
from bizclub_shared.grpc_server import field_violations
from bizclub_shared.topics import TRAINING
from membership.app import MembershipApp

from tests.conftest import Broker, MembershipFactory, RunningMembership, membership_settings
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
from tests.support import read_topic, registration, udon_thani_network

ts = training_service_pb2
tp = training_pb2
ms = membership_service_pb2
StatusCode = grpc.StatusCode


@pytest.fixture
async def start_training(tmp_path: Path, broker: Broker) -> AsyncIterator[TrainingFactory]:
    async with training_factory(tmp_path, broker) as factory:
        yield factory


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@dataclass
class World:
    """Udon Thani (4 clusters) and Khon Kaen networks, members in every state, a seminar."""

    membership: RunningMembership
    training: RunningTraining
    textiles: membership_pb2.Member
    food: membership_pb2.Member
    applied: membership_pb2.Member
    khon_kaen: membership_pb2.Member
    seminar: tp.Session
    food_workshop: tp.Session

    def written(self) -> tuple[int, int, int]:
        return (
            self.training.count("training_session"),
            self.training.count("enrollment"),
            self.training.count("outbox"),
        )


@pytest.fixture
async def world(start_membership: MembershipFactory, start_training: TrainingFactory) -> World:
    membership = await start_membership()
    await membership.stub.CreateNetwork(udon_thani_network())
    await membership.stub.CreateNetwork(
        ms.CreateNetworkRequest(
            province_code="TH-40",
            name_th="เครือข่าย MOC Biz Club ขอนแก่น",
            clusters=[membership_pb2.Cluster(cluster_code="silk-kk", name_th="ผ้าไหมขอนแก่น")],
        )
    )
    textiles = await active_member(membership, business_name_th="ร้านผ้าไหมแม่บุญ")
    food = await active_member(
        membership, cluster_code="food", business_name_th="วิสาหกิจชุมชนแหนมหมูบ้านเชียง"
    )
    applied = (await membership.stub.RegisterMember(registration())).member
    khon_kaen = await active_member(membership, province_code="TH-40", cluster_code="silk-kk")
    training = await start_training(membership.address)
    # Training authorises calls about a member by the province it learnt from membership's
    # events: wait until it knows all four, or an officer's call can be refused meanwhile
    # (seen on Apache Kafka, whose first group join takes longer than Tansu's).
    members = {m.member_id for m in (textiles, food, applied, khon_kaen)}

    async def all_projected() -> bool:
        known = {row[0] for row in training.query("SELECT member_id FROM training_member")}
        return members <= known

    await eventually(all_projected, what="training knowing the four members")
    first = (await training.stub.ScheduleSession(seminar())).session
    workshop = (
        await training.stub.ScheduleSession(
            seminar(
                kind=tp.SESSION_KIND_WORKSHOP,
                title_th="เวิร์กช็อปถนอมอาหารแปรรูป",
                target_cluster_codes=["food"],
            )
        )
    ).session
    return World(membership, training, textiles, food, applied, khon_kaen, first, workshop)


# --- bad input: right status, field named, nothing written ------------------------------

BadCall = tuple[Callable[[World], Awaitable[object]], grpc.StatusCode, str, str]
BAD_INPUT: dict[str, BadCall] = {
    "capacity-zero": (
        lambda w: w.training.stub.ScheduleSession(seminar(capacity=0)),
        StatusCode.INVALID_ARGUMENT,
        "capacity",
        "at least 1 seat",
    ),
    "end-before-start": (
        lambda w: w.training.stub.ScheduleSession(
            seminar(end_time=stamp(in_days(7) - timedelta(hours=1)))
        ),
        StatusCode.INVALID_ARGUMENT,
        "end_time",
        "must be after the start",
    ),
    "unknown-kind": (
        lambda w: w.training.stub.ScheduleSession(seminar(kind=42)),
        StatusCode.INVALID_ARGUMENT,
        "kind",
        "is required",
    ),
    "unreadable-local-start": (
        lambda w: w.training.stub.ScheduleSession(
            seminar(start_time=None, end_time=None, local_start="พรุ่งนี้เช้า", local_end="")
        ),
        StatusCode.INVALID_ARGUMENT,
        "local_start",
        "15/03/2569 09:00",
    ),
    "cluster-not-in-network": (
        lambda w: w.training.stub.ScheduleSession(seminar(target_cluster_codes=["pottery"])),
        StatusCode.INVALID_ARGUMENT,
        "target_cluster_codes[0]",
        "has no cluster 'pottery'",
    ),
    "province-without-network": (
        lambda w: w.training.stub.ScheduleSession(seminar(province_code="TH-50")),
        StatusCode.FAILED_PRECONDITION,
        "province_code",
        "no Biz Club network",
    ),
    "mentor-not-active": (
        lambda w: w.training.stub.ScheduleSession(
            seminar(
                kind=tp.SESSION_KIND_PEER_MENTORING,
                capacity=3,
                trainers=[
                    tp.Trainer(
                        name_th="พี่เลี้ยง", role=tp.TRAINER_ROLE_MENTOR, member_id=w.applied.member_id
                    )
                ],
            )
        ),
        StatusCode.FAILED_PRECONDITION,
        "trainers[0].member_id",
        "must be an active member",
    ),
    "non-member": (
        lambda w: w.training.stub.EnrollMember(
            ts.EnrollMemberRequest(
                session_id=w.seminar.session_id, member_id="00000000-0000-0000-0000-000000000000"
            )
        ),
        StatusCode.INVALID_ARGUMENT,
        "member_id",
        "no member with id",
    ),
    "member-not-yet-approved": (
        lambda w: w.training.stub.EnrollMember(
            ts.EnrollMemberRequest(session_id=w.seminar.session_id, member_id=w.applied.member_id)
        ),
        StatusCode.FAILED_PRECONDITION,
        "member_id",
        "only active members may enrol",
    ),
    "member-of-another-province": (
        lambda w: w.training.stub.EnrollMember(
            ts.EnrollMemberRequest(session_id=w.seminar.session_id, member_id=w.khon_kaen.member_id)
        ),
        StatusCode.FAILED_PRECONDITION,
        "member_id",
        "belongs to the TH-40 network",
    ),
    "cluster-not-targeted": (
        lambda w: w.training.stub.EnrollMember(
            ts.EnrollMemberRequest(
                session_id=w.food_workshop.session_id, member_id=w.textiles.member_id
            )
        ),
        StatusCode.FAILED_PRECONDITION,
        "member_id",
        "for the food cluster",
    ),
    "no-such-session": (
        lambda w: w.training.stub.EnrollMember(
            ts.EnrollMemberRequest(session_id="nope", member_id=w.textiles.member_id)
        ),
        StatusCode.NOT_FOUND,
        "",
        "no session with id 'nope'",
    ),
    "certificate-before-completion": (
        lambda w: w.training.stub.GetCompletionCertificate(
            ts.GetCompletionCertificateRequest(
                session_id=w.seminar.session_id, member_id=w.textiles.member_id
            )
        ),
        StatusCode.NOT_FOUND,
        "",
        "is not enrolled",
    ),
    "project-without-designer-role": (
        lambda w: w.training.stub.StartProductProject(
            ts.StartProductProjectRequest(
                member_id=w.food.member_id,
                designer=tp.Trainer(name_th="วิทยากร", role=tp.TRAINER_ROLE_SPEAKER),
                brief_th="บรรจุภัณฑ์ใหม่",
                before=tp.ProductFacts(
                    product_name_th="แหนมหมู", unit_price=common_pb2.Money(satang=3500)
                ),
            )
        ),
        StatusCode.INVALID_ARGUMENT,
        "designer.role",
        "TRAINER_ROLE_DESIGNER",
    ),
}


async def test_bad_input_is_refused_with_the_field_and_nothing_is_written(
    world: World, subtests: pytest.Subtests
) -> None:
    # One world for every case (each refusal leaves it as it was): starting one takes ~1 s.
    before = world.written()
    for case, (call, code, field, words) in BAD_INPUT.items():
        with subtests.test(case=case):
            err = await refused(call(world))
            assert err.code() == code, err.details()
            assert words in (err.details() or "")
            if field:
                assert field in field_violations(err), field_violations(err)
            assert world.written() == before


async def test_a_member_enrols_once_per_session(world: World) -> None:
    request = ts.EnrollMemberRequest(
        session_id=world.seminar.session_id, member_id=world.textiles.member_id
    )
    first = (await world.training.stub.EnrollMember(request)).enrollment
    assert first.status == tp.ENROLLMENT_STATUS_CONFIRMED
    err = await refused(world.training.stub.EnrollMember(request))
    assert err.code() == StatusCode.ALREADY_EXISTS
    assert "already has a place" in (err.details() or "")
    # After cancelling, the member may come back (a new enrolment).
    await world.training.stub.CancelEnrollment(
        ts.CancelEnrollmentRequest(
            session_id=world.seminar.session_id, member_id=world.textiles.member_id
        )
    )
    again = (await world.training.stub.EnrollMember(request)).enrollment
    assert again.status == tp.ENROLLMENT_STATUS_CONFIRMED
    assert again.enrollment_id != first.enrollment_id


# --- membership down or silent: UNAVAILABLE, nothing written -------------------------------


async def test_membership_down_answers_unavailable_and_writes_nothing(
    broker: Broker, tmp_path: Path, start_training: TrainingFactory
) -> None:
    # A membership of this test's own, so the test can stop it.
    (tmp_path / "m").mkdir()
    membership = MembershipApp(membership_settings(tmp_path / "m", broker))
    await membership.start()
    assert membership.runtime.server is not None
    address = f"127.0.0.1:{membership.runtime.server.port}"
    stopped = False
    try:
        await membership.api.CreateNetwork(udon_thani_network(), None)
        member = (await membership.api.RegisterMember(registration(), None)).member
        await membership.api.ApproveMember(
            ms.ApproveMemberRequest(member_id=member.member_id), None
        )
        training = await start_training(address)
        session = (await training.stub.ScheduleSession(seminar())).session

        await membership.stop()
        stopped = True
        before = (training.count("enrollment"), training.count("outbox"))
        err = await refused(
            training.stub.EnrollMember(
                ts.EnrollMemberRequest(session_id=session.session_id, member_id=member.member_id)
            )
        )
        assert err.code() == StatusCode.UNAVAILABLE
        assert err.details() == "membership service is unavailable; try again"
        err = await refused(training.stub.ScheduleSession(seminar()))
        assert err.code() == StatusCode.UNAVAILABLE
        assert (training.count("enrollment"), training.count("outbox")) == before
        assert training.count("training_session") == 1
    finally:
        if not stopped:
            await membership.stop()


async def test_membership_that_does_not_answer_in_time_is_unavailable(world: World) -> None:
    # A socket that accepts connections and never speaks: every call waits for its deadline.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        members = world.training.app.members
        await members.close()
        members.address, members.timeout = f"127.0.0.1:{silent.getsockname()[1]}", 0.5
        before = world.written()
        began = time.monotonic()
        err = await refused(
            world.training.stub.EnrollMember(
                ts.EnrollMemberRequest(
                    session_id=world.seminar.session_id, member_id=world.textiles.member_id
                )
            )
        )
        took = time.monotonic() - began
        await members.close()
    assert err.code() == StatusCode.UNAVAILABLE
    assert 0.4 < took < 3.0
    assert world.written() == before


# --- the calendar ----------------------------------------------------------------------


async def test_a_session_typed_in_bangkok_time_with_a_buddhist_era_year(world: World) -> None:
    start = in_days(10)  # 02:00 UTC, 09:00 in Bangkok
    local_day = f"{start.day:02d}/{start.month:02d}/{start.year + 543}"
    session = (
        await world.training.stub.ScheduleSession(
            seminar(
                start_time=None,
                end_time=None,
                local_start=f"{local_day} 09:00",
                local_end=f"{local_day} 16.00 น.",
            )
        )
    ).session
    assert session.start_time.ToDatetime(tzinfo=UTC) == start
    assert session.end_time.ToDatetime(tzinfo=UTC) == start + timedelta(hours=7)
    assert (session.local_start, session.local_end) == (f"{local_day} 09:00", f"{local_day} 16:00")
    fetched = (
        await world.training.stub.GetSession(ts.GetSessionRequest(session_id=session.session_id))
    ).session
    assert fetched == session


async def test_sessions_are_listed_by_province_cluster_and_local_dates(world: World) -> None:
    later = (
        await world.training.stub.ScheduleSession(
            seminar(
                start_time=stamp(in_days(40)),
                end_time=stamp(in_days(40) + timedelta(hours=7)),
                target_cluster_codes=["tourism"],
            )
        )
    ).session

    async def titles(**filters: object) -> list[str]:
        reply = await world.training.stub.ListSessions(ts.ListSessionsRequest(**filters))  # type: ignore[arg-type]
        return [s.session_id for s in reply.sessions]

    everything = [world.seminar.session_id, world.food_workshop.session_id, later.session_id]
    assert await titles(province_code="TH-41") == everything
    assert await titles(province_code="TH-40") == []
    # Open to food: the all-cluster seminar and the food workshop, not the tourism one.
    assert await titles(province_code="TH-41", cluster_code="food") == everything[:2]
    assert await titles(province_code="TH-41", cluster_code="tourism") == [
        world.seminar.session_id,
        later.session_id,
    ]
    assert await titles(kind=tp.SESSION_KIND_WORKSHOP) == [world.food_workshop.session_id]
    # The local day of the later session, given in พ.ศ.
    day = in_days(40)
    be = common_pb2.Date(year=day.year + 543, month=day.month, day=day.day)
    assert await titles(from_date=be, to_date=be) == [later.session_id]
    first_page = await world.training.stub.ListSessions(
        ts.ListSessionsRequest(province_code="TH-41", page=common_pb2.PageRequest(page_size=2))
    )
    second_page = await world.training.stub.ListSessions(
        ts.ListSessionsRequest(
            province_code="TH-41",
            page=common_pb2.PageRequest(page_size=2, page_token=first_page.page.next_page_token),
        )
    )
    assert [s.session_id for s in [*first_page.sessions, *second_page.sessions]] == everything
    assert second_page.page.next_page_token == ""


# --- enrolment to certificate ---------------------------------------------------------------


async def test_enrol_check_in_complete_and_the_thai_certificate(
    world: World, broker: Broker, tmp_path: Path
) -> None:
    stub = world.training.stub
    session = world.seminar
    key = ts.EnrollMemberRequest(session_id=session.session_id, member_id=world.textiles.member_id)
    enrolled = (await stub.EnrollMember(key)).enrollment
    assert enrolled.business_name_th == "ร้านผ้าไหมแม่บุญ"
    assert enrolled.cluster_code == "textiles"

    # Check-in opens two hours before the start.
    err = await refused(
        stub.RecordAttendance(
            ts.RecordAttendanceRequest(
                session_id=session.session_id, member_id=world.textiles.member_id, hours=3
            )
        )
    )
    assert err.code() == StatusCode.FAILED_PRECONDITION
    start = session.start_time.ToDatetime(tzinfo=UTC)
    world.training.app.api.clock = lambda: start + timedelta(hours=4)
    attended = (
        await stub.RecordAttendance(
            ts.RecordAttendanceRequest(
                session_id=session.session_id, member_id=world.textiles.member_id, hours=3.5
            )
        )
    ).enrollment
    assert attended.attended_hours == 3.5
    err = await refused(
        stub.CompleteEnrollment(
            ts.CompleteEnrollmentRequest(
                session_id=session.session_id, member_id=world.textiles.member_id
            )
        )
    )
    assert err.code() == StatusCode.FAILED_PRECONDITION
    assert "2.5 hours short" in (err.details() or "")
    # The check-in that reaches the threshold completes the enrolment by itself.
    completed = (
        await stub.RecordAttendance(
            ts.RecordAttendanceRequest(
                session_id=session.session_id, member_id=world.textiles.member_id
            )  # 0 hours: the rest of the session
        )
    ).enrollment
    assert completed.status == tp.ENROLLMENT_STATUS_COMPLETED
    assert completed.attended_hours == 6
    assert completed.certificate_no.startswith(f"TH-41-{start.year + 543}-")

    certificate = await stub.GetCompletionCertificate(
        ts.GetCompletionCertificateRequest(
            session_id=session.session_id, member_id=world.textiles.member_id
        )
    )
    assert certificate.pdf.startswith(b"%PDF")
    assert b"Sarabun" in certificate.pdf  # the font is embedded
    assert certificate.certificate_no == completed.certificate_no
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: apt-get install poppler-utils")
    pdf = tmp_path / certificate.file_name
    pdf.write_bytes(certificate.pdf)
    pdftotext = await asyncio.create_subprocess_exec(
        "pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await pdftotext.communicate()
    assert pdftotext.returncode == 0
    text = out.decode()
    # Compared without spaces: HarfBuzz draws SARA AM as two glyphs, read back with a space.
    flat = "".join(text.split())
    assert "ร้านผ้าไหมแม่บุญ" in flat
    assert "เกียรติบัตร" in flat and completed.certificate_no in flat

    history = await stub.ListMemberEnrollments(
        ts.ListMemberEnrollmentsRequest(member_id=world.textiles.member_id)
    )
    assert [r.session.session_id for r in history.records] == [session.session_id]
    assert history.completed_hours == 6

    await world.training.published()
    records = await read_topic(
        broker.bootstrap_servers, TRAINING, keys={session.session_id}, expect=5
    )
    assert [r.headers["ce_type"].rsplit(".", 1)[1] for r in records] == [
        "SessionScheduled",
        "EnrollmentConfirmed",
        "AttendanceRecorded",
        "AttendanceRecorded",
        "TrainingCompleted",
    ]
    assert {r.headers["ce_source"] for r in records} == {"training"}
    assert {r.headers["province"] for r in records} == {"TH-41"}
    done = events_pb2.TrainingCompleted.FromString(records[-1].value)
    assert (done.member_id, done.hours, done.certificate_no) == (
        world.textiles.member_id,
        6,
        completed.certificate_no,
    )


async def test_cancelling_a_session_cancels_every_place_in_it(world: World) -> None:
    stub = world.training.stub
    small = (await stub.ScheduleSession(seminar(capacity=1))).session
    for member in (world.textiles, world.food):
        await stub.EnrollMember(
            ts.EnrollMemberRequest(session_id=small.session_id, member_id=member.member_id)
        )
    err = await refused(stub.CancelSession(ts.CancelSessionRequest(session_id=small.session_id)))
    assert "reason" in field_violations(err)
    reply = await stub.CancelSession(
        ts.CancelSessionRequest(session_id=small.session_id, reason="วิทยากรติดภารกิจเร่งด่วน")
    )
    assert reply.session.status == tp.SESSION_STATUS_CANCELLED
    assert (reply.session.confirmed_count, reply.session.waitlisted_count) == (0, 0)
    assert sorted(e.member_id for e in reply.cancelled) == sorted(
        [world.textiles.member_id, world.food.member_id]
    )
    assert {e.cancellation_reason for e in reply.cancelled} == {
        tp.CANCELLATION_REASON_SESSION_CANCELLED
    }
    listed = await stub.ListSessions(ts.ListSessionsRequest(province_code="TH-41"))
    assert small.session_id not in [s.session_id for s in listed.sessions]


# --- product development ----------------------------------------------------------------


async def test_a_product_project_from_brief_to_the_launched_product(
    world: World, broker: Broker
) -> None:
    stub = world.training.stub
    workshop = (
        await stub.ScheduleSession(
            seminar(
                kind=tp.SESSION_KIND_PRODUCT_DEVELOPMENT,
                title_th="เวิร์กช็อปออกแบบบรรจุภัณฑ์",
                trainers=[
                    tp.Trainer(
                        name_th="ณัฐพล ศรีประเสริฐ",
                        organisation_th="ศูนย์สร้างสรรค์งานออกแบบ",
                        role=tp.TRAINER_ROLE_DESIGNER,
                    )
                ],
                capacity=10,
            )
        )
    ).session
    start = ts.StartProductProjectRequest(
        member_id=world.food.member_id,
        session_id=workshop.session_id,
        designer=tp.Trainer(name_th="ณัฐพล ศรีประเสริฐ", role=tp.TRAINER_ROLE_DESIGNER),
        brief_th="บรรจุภัณฑ์ที่ยืดอายุแหนมและวางขายในห้างได้",
        before=tp.ProductFacts(
            product_name_th="แหนมหมู",
            unit_price=common_pb2.Money(satang=3_500, currency_code="THB"),
            packaging_th="ถุงพลาสติกใส มัดยาง",
            photo_refs=["products/naem/before.jpg"],
        ),
    )

    # Training knows members from membership's events: an officer acts on one it knows.
    async def food_member_known() -> bool:
        member_id = world.food.member_id
        known = "SELECT count(*) FROM training_member WHERE member_id = ?"
        return world.training.query(known, member_id) == [(1,)]

    await eventually(food_member_known, what="training hearing of the member")
    err = await refused(stub.StartProductProject(start))  # not a participant yet
    assert "member_id" in field_violations(err)
    await stub.EnrollMember(
        ts.EnrollMemberRequest(session_id=workshop.session_id, member_id=world.food.member_id)
    )
    project = (await stub.StartProductProject(start)).project
    assert project.stage == tp.PROJECT_STAGE_BRIEF
    assert project.business_name_th == "วิสาหกิจชุมชนแหนมหมูบ้านเชียง"

    err = await refused(
        stub.AdvanceProductProject(
            ts.AdvanceProductProjectRequest(
                project_id=project.project_id, stage=tp.PROJECT_STAGE_FINAL, note_th="ข้าม"
            )
        )
    )
    assert err.code() == StatusCode.FAILED_PRECONDITION
    for stage, note in [
        (tp.PROJECT_STAGE_PROTOTYPE, "ต้นแบบถุงสุญญากาศ"),
        (tp.PROJECT_STAGE_FINAL, "กล่องกระดาษคราฟต์พร้อมฉลากสองภาษา"),
    ]:
        await stub.AdvanceProductProject(
            ts.AdvanceProductProjectRequest(
                project_id=project.project_id, stage=stage, note_th=note
            )
        )
    done = (
        await stub.CompleteProductProject(
            ts.CompleteProductProjectRequest(
                project_id=project.project_id,
                after=tp.ProductFacts(
                    product_name_th="แหนมหมูบ้านเชียง สูตรดั้งเดิม",
                    unit_price=common_pb2.Money(satang=8_900, currency_code="THB"),
                    packaging_th="ถุงสุญญากาศในกล่องกระดาษคราฟต์",
                    photo_refs=["products/naem/after.jpg"],
                ),
                outcome=tp.PROJECT_OUTCOME_LAUNCHED,
                outcome_note_th="วางขายที่ร้านของฝากสนามบินอุดรธานี",
            )
        )
    ).project
    assert done.stage == tp.PROJECT_STAGE_COMPLETED
    assert (done.before.unit_price.satang, done.after.unit_price.satang) == (3_500, 8_900)
    listed = await stub.ListProductProjects(
        ts.ListProductProjectsRequest(province_code="TH-41", stage=tp.PROJECT_STAGE_COMPLETED)
    )
    assert [p.project_id for p in listed.projects] == [project.project_id]

    records = await read_topic(
        broker.bootstrap_servers, TRAINING, keys={project.project_id}, expect=2
    )
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.training.v1.ProductProjectStarted",
        "bizclub.training.v1.ProductProjectCompleted",
    ]
    completed = events_pb2.ProductProjectCompleted.FromString(records[1].value)
    assert completed.after.unit_price.satang == 8_900
    assert completed.outcome == tp.PROJECT_OUTCOME_LAUNCHED
    # No designer or contact names on the topic.
    assert "ณัฐพล".encode() not in b"".join(r.value for r in records)
