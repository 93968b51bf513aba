"""The platform as an operator runs it: `uv run python -m bizclub_stack`, then grpcurl and kcat.

One stack per module (membership on its fixed port 50051, the embedded broker on a
free port in 19900-19999, a fresh data dir). The tests run in file order: the last
one stops the stack with SIGINT (Ctrl-C) and starts it again on the same data dir.
About 15 s in all. With KAFKA_BOOTSTRAP_SERVERS set (`make test-kafka`) the stack
uses that Apache Kafka, with the idempotent producer, as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from bizclub.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import feedback_pb2, feedback_service_pb2, feedback_service_pb2_grpc
from bizclub.membership.v1 import (
    membership_pb2,
    membership_service_pb2,
    membership_service_pb2_grpc,
)
from bizclub_stack.__main__ import SERVICES

from tests.databases import database_url, on_postgres
from tests.support import fresh_topics

ms = membership_service_pb2
ROOT = Path(__file__).resolve().parents[2]
TOPIC = "bizclub.membership.v1"
SERVICE = "bizclub.membership.v1.MembershipService"
BANNER = "MOC Biz Club platform is up"
GRPC_PORT = next(s.port for s in SERVICES if s.name == "membership")
GRPC = f"localhost:{GRPC_PORT}"
EXTERNAL_KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
ENVELOPE_HEADERS = (
    "ce_id",
    "ce_type",
    "ce_source",
    "ce_time",
    "ce_specversion",
    "province",
    "content-type",
    "traceparent",
)


def port_free(port: int) -> bool:
    """Whether a server could listen on the port as gRPC does (0.0.0.0, SO_REUSEADDR).

    SO_REUSEADDR, so connections of a stopped server lingering in TIME_WAIT do not count.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_broker_port() -> int:
    ports = list(range(19900, 20000))
    random.shuffle(ports)
    for port in ports:
        if port_free(port):
            return port
    pytest.skip("no free port in 19900-19999 for the embedded broker")


def valid_tax_id() -> str:
    body = "09" + "".join(random.choices("0123456789", k=10))
    total = sum(int(d) * w for d, w in zip(body, range(13, 1, -1), strict=True))
    return body + str((11 - total % 11) % 10)


@dataclass
class Stack:
    data_dir: Path
    broker_port: int
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    _up: threading.Event = field(default_factory=threading.Event)
    started_in: float = 0.0

    @property
    def bootstrap(self) -> str:
        return EXTERNAL_KAFKA or f"127.0.0.1:{self.broker_port}"

    def start(self) -> None:
        if not port_free(GRPC_PORT):
            pytest.skip(
                f"port {GRPC_PORT} is busy (membership's fixed gRPC port in bizclub_stack "
                "SERVICES); stop whatever listens there to run the end-to-end tests"
            )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MEMBERSHIP_", "BIZCLUB_")) and k != "KAFKA_BOOTSTRAP_SERVERS"
        }
        env["PYTHONUNBUFFERED"] = "1"
        if on_postgres():  # each service on its own database of the test server
            for service in SERVICES:
                env[f"{service.env_prefix}DATABASE_URL"] = database_url(self.data_dir, service.name)
        if EXTERNAL_KAFKA:
            asyncio.run(fresh_topics(EXTERNAL_KAFKA))  # not the earlier tests' records
            env["KAFKA_BOOTSTRAP_SERVERS"] = EXTERNAL_KAFKA
            env["BIZCLUB_KAFKA_IDEMPOTENCE"] = "true"
        self.output, self._up = [], threading.Event()
        began = time.monotonic()
        # Its own process group, so SIGINT can go to the whole group as Ctrl-C does.
        self.process = subprocess.Popen(
            [
                "uv",
                "run",
                "--frozen",
                "python",
                "-m",
                "bizclub_stack",
                "--data-dir",
                str(self.data_dir),
                "--broker-port",
                str(self.broker_port),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._up.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the stack did not come up:\n{self.log_tail()}")
        self.started_in = time.monotonic() - began

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line.rstrip("\n"))
            if BANNER in line:
                self._up.set()

    def interrupt(self) -> int | None:
        """Ctrl-C: SIGINT to the stack's process group; its exit code, or None if it hangs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def token(self, *args: str) -> str:
        """A token from the operator's CLI (`bizclub token`), signed with this stack's keys."""
        done = subprocess.run(
            ["uv", "run", "--frozen", "bizclub", "--data-dir", str(self.data_dir), "token", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("BIZCLUB_")},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def log_tail(self) -> str:
        logs = self.data_dir / "logs" / "membership.log"
        service_log = logs.read_text(errors="replace")[-3000:] if logs.exists() else ""
        return "\n".join(self.output[-40:]) + "\n--- membership.log ---\n" + service_log


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("stack") / "var", free_broker_port())
    running.start()
    try:
        yield running
    finally:
        running.kill()


Stub = membership_service_pb2_grpc.MembershipServiceStub


@pytest.fixture(scope="module")
def officer_token(stack: Stack) -> str:
    return stack.token("--role", "province_officer", "--province", "TH-41")


class _Bearer(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._metadata]
        return continuation(_CallDetails(details.method, details.timeout, metadata), request)


@dataclass
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: list[tuple[str, str]]
    credentials: Any = None
    wait_for_ready: bool | None = None
    compression: Any = None


@pytest.fixture(scope="module")
def stub(stack: Stack, officer_token: str) -> Iterator[Stub]:
    with grpc.insecure_channel(f"127.0.0.1:{GRPC_PORT}") as plain:
        channel = grpc.intercept_channel(plain, _Bearer(officer_token))
        yield membership_service_pb2_grpc.MembershipServiceStub(channel)


@pytest.fixture(scope="module")
def grpcurl() -> str:
    if shutil.which("go") is None and not (ROOT / "tools/bin/grpcurl").exists():
        pytest.skip("grpcurl is not installed and Go is not available to build it")
    done = subprocess.run(
        [str(ROOT / "tools/install-grpcurl.sh")], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        pytest.skip(f"tools/install-grpcurl.sh could not install grpcurl: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def kcat() -> str:
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed (apt-get install -y kcat); tools/kcat wraps it")
    return str(ROOT / "tools/kcat")


def run(*command: str, stdin: bytes | None = None, timeout: float = 30) -> bytes:
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def call(grpcurl: str, method: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    args = [grpcurl, "-plaintext"]
    if token:
        args += ["-H", f"authorization: Bearer {token}"]
    if body is not None:
        args += ["-d", json.dumps(body, ensure_ascii=False)]
    return json.loads(run(*args, GRPC, method))


def all_members(stub: Stub, **filters: Any) -> tuple[list[membership_pb2.Member], int]:
    members: list[membership_pb2.Member] = []
    token, pages = "", 0
    while True:
        reply = stub.ListMembers(
            ms.ListMembersRequest(
                page=common_pb2.PageRequest(page_size=37, page_token=token), **filters
            ),
            timeout=10,
        )
        members.extend(reply.members)
        pages += 1
        token = reply.page.next_page_token
        if not token:
            return members, pages


# What the tests learn and later ones check (module order is the scenario order).
SCENARIO: dict[str, Any] = {}


# --- (e) the seed ---------------------------------------------------------------------------


def test_the_udon_thani_demo_network_is_seeded(stack: Stack, stub: Stub) -> None:
    members, pages = all_members(stub, province_code="TH-41")
    assert pages == 6  # 200 members, 37 a page
    ids = [m.member_id for m in members]
    assert len(ids) == len(set(ids)) == 200
    by_cluster: dict[str, int] = {}
    for member in members:
        by_cluster[member.cluster_code] = by_cluster.get(member.cluster_code, 0) + 1
    assert by_cluster == {"textiles": 50, "food": 50, "agriculture": 50, "tourism": 50}
    statuses = {
        name: len(all_members(stub, province_code="TH-41", status=value)[0])
        for name, value in membership_pb2.MemberStatus.items()
        if value
    }
    assert statuses == {
        "MEMBER_STATUS_APPLIED": 20,
        "MEMBER_STATUS_ACTIVE": 178,
        "MEMBER_STATUS_SUSPENDED": 1,
        "MEMBER_STATUS_LEFT": 1,
    }

    network = stub.GetNetwork(ms.GetNetworkRequest(province_code="TH-41"), timeout=10)
    assert network.network.name_en == "MOC Biz Club Udon Thani"
    assert len(network.network.clusters) == 4
    # The seeded committee sits now: a two-year term from this January, eight seats.
    committee = sorted(
        (membership_pb2.CommitteeRole.Name(a.role), a.cluster_code) for a in network.committee
    )
    assert committee == [
        ("COMMITTEE_ROLE_CHAIR", ""),
        ("COMMITTEE_ROLE_CLUSTER_LEAD", "agriculture"),
        ("COMMITTEE_ROLE_CLUSTER_LEAD", "food"),
        ("COMMITTEE_ROLE_CLUSTER_LEAD", "textiles"),
        ("COMMITTEE_ROLE_CLUSTER_LEAD", "tourism"),
        ("COMMITTEE_ROLE_SECRETARY", ""),
        ("COMMITTEE_ROLE_TREASURER", ""),
        ("COMMITTEE_ROLE_VICE_CHAIR", ""),
    ]
    assert {a.term_start.year for a in network.committee} == {datetime.now(UTC).year}
    mentoring = stub.ListMentorships(ms.ListMentorshipsRequest(province_code="TH-41"), timeout=10)
    assert len(mentoring.mentorships) == 12


def test_feedback_is_seeded_with_growing_monthly_reports_and_open_problems(
    stack: Stack, stub: Stub, officer_token: str
) -> None:
    port = next(s.port for s in SERVICES if s.name == "feedback")
    active, _ = all_members(stub, province_code="TH-41", status=membership_pb2.MEMBER_STATUS_ACTIVE)
    fs = feedback_service_pb2
    central_token = stack.token("--role", "central")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
        channel = grpc.intercept_channel(plain, _Bearer(officer_token))
        feedback = feedback_service_pb2_grpc.FeedbackServiceStub(channel)
        centre = feedback_service_pb2_grpc.FeedbackServiceStub(
            grpc.intercept_channel(plain, _Bearer(central_token))
        )
        reports = feedback.ListMonthlyReports(
            fs.ListMonthlyReportsRequest(member_id=active[0].member_id), timeout=10
        ).reports
        revenue = [
            r.figures.revenue.satang
            for r in sorted(reports, key=lambda r: (r.month.year, r.month.month))
        ]
        assert len(revenue) == 6 and revenue[-1] > revenue[0]
        assert 4_000_000 <= revenue[0] <= 12_000_000  # around the 80,000 THB baseline
        issues = feedback.ListIssues(
            fs.ListIssuesRequest(viewer=feedback_pb2.ViewerScope(province_code="TH-41")),
            timeout=10,
        ).issues
        assert len(issues) == 5
        central = centre.ListIssues(
            fs.ListIssuesRequest(viewer=feedback_pb2.ViewerScope(central=True)), timeout=10
        ).issues
        assert [i.category for i in central] == [feedback_pb2.ISSUE_CATEGORY_REGULATION]
        meetings = feedback.ListMeetings(
            fs.ListMeetingsRequest(province_code="TH-41"), timeout=10
        ).meetings
        assert {m.status for m in meetings} == {
            feedback_pb2.MEETING_STATUS_SCHEDULED,
            feedback_pb2.MEETING_STATUS_HELD,
        }


def test_analytics_shows_udon_thanis_members_and_revenue_against_baseline(
    stack: Stack, stub: Stub, officer_token: str
) -> None:
    port = next(s.port for s in SERVICES if s.name == "analytics")
    members, _ = all_members(stub, province_code="TH-41")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
        analytics = analytics_service_pb2_grpc.AnalyticsServiceStub(
            grpc.intercept_channel(plain, _Bearer(officer_token))
        )
        request = analytics_service_pb2.GetIndicatorsRequest(
            scope=analytics_service_pb2.Scope(province_code="TH-41")
        )
        # It reads the other services' topics as they seed: wait until it has caught up.
        deadline = time.monotonic() + 120
        while True:
            indicators = analytics.GetIndicators(request, timeout=10).indicators
            caught_up = indicators.members.total == len(members)
            if caught_up and indicators.revenue.reports and indicators.training.sessions:
                break
            assert time.monotonic() < deadline, f"analytics did not catch up: {indicators}"
            time.sleep(0.5)
    revenue = indicators.revenue
    assert revenue.members_grew > 0
    assert revenue.average_latest_revenue.satang > revenue.average_baseline.satang


# --- (a) grpcurl: reflection and health -----------------------------------------------------


def test_grpcurl_lists_the_services_and_health_says_serving(stack: Stack, grpcurl: str) -> None:
    services = run(grpcurl, "-plaintext", GRPC, "list").decode().split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert call(grpcurl, "grpc.health.v1.Health/Check") == {"status": "SERVING"}
    assert call(grpcurl, "grpc.health.v1.Health/Check", {"service": SERVICE}) == {
        "status": "SERVING"
    }
    described = run(grpcurl, "-plaintext", GRPC, "describe", SERVICE).decode()
    assert "rpc RegisterMember" in described and "rpc ListMembers" in described


# --- (b) register and approve with JSON -----------------------------------------------------


def test_register_then_approve_with_grpcurl(stack: Stack, grpcurl: str, officer_token: str) -> None:
    tax_id = valid_tax_id()
    registered = call(
        grpcurl,
        f"{SERVICE}/RegisterMember",
        {
            "province_code": "TH-41",
            "cluster_code": "food",
            "business_name_th": "ร้านข้าวจี่แม่คำ",
            "business_name_en": "Mae Kham Khao Chi",
            "tax_id": tax_id,
            "enterprise_type": "ENTERPRISE_TYPE_SME",
            "products": ["ข้าวจี่"],
            "sales_channels": ["SALES_CHANNEL_LOCAL_MARKET"],
            "baseline_monthly_revenue": {"satang": "5000000", "currency_code": "THB"},
            "contact": {"full_name": "คำ ดีงาม", "phone": "081-234-5678"},
        },
        officer_token,
    )["member"]
    assert registered["status"] == "MEMBER_STATUS_APPLIED"
    assert registered["tax_id"] == tax_id
    member_id = registered["member_id"]

    approved = call(
        grpcurl,
        f"{SERVICE}/ApproveMember",
        {"member_id": member_id, "resolution": "มติคณะกรรมการ 2/2569"},
        officer_token,
    )["member"]
    assert approved["status"] == "MEMBER_STATUS_ACTIVE"
    assert approved["approved_at"]

    # A bad request through grpcurl: the status and the field in the BadRequest detail.
    done = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-H",
            f"authorization: Bearer {officer_token}",
            "-format-error",
            "-d",
            json.dumps({"member_id": member_id}),
            GRPC,
            f"{SERVICE}/ApproveMember",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    error = json.loads(done.stderr)
    assert error["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert error["message"].startswith("member_id: cannot approve a member who is active")
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in detail["field_violations"]] == ["member_id"]
    SCENARIO["member_id"] = member_id


def test_grpcurl_without_a_token_or_from_another_province_is_refused(
    stack: Stack, grpcurl: str, officer_token: str
) -> None:
    if "member_id" not in SCENARIO:
        pytest.skip("needs the member registered through grpcurl (test_register_then_approve)")
    khon_kaen = stack.token("--role", "province_officer", "--province", "TH-40")
    for token, code in (
        ("", grpc.StatusCode.UNAUTHENTICATED),
        ("not-a-token", grpc.StatusCode.UNAUTHENTICATED),
        (khon_kaen, grpc.StatusCode.PERMISSION_DENIED),
    ):
        args = [grpcurl, "-plaintext", "-format-error"]
        if token:
            args += ["-H", f"authorization: Bearer {token}"]
        done = subprocess.run(
            [
                *args,
                "-d",
                json.dumps({"member_id": SCENARIO["member_id"]}),
                GRPC,
                f"{SERVICE}/GetMember",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode != 0, done.stdout
        assert json.loads(done.stderr)["code"] == code.value[0]
    # The province's own officer reads it, contact included.
    member = call(
        grpcurl, f"{SERVICE}/GetMember", {"member_id": SCENARIO["member_id"]}, officer_token
    )
    assert member["member"]["contact"]["full_name"] == "คำ ดีงาม"


# --- (c) kcat: the events and their envelope -------------------------------------------------


@dataclass(frozen=True)
class KcatRecord:
    partition: int
    offset: int
    headers: dict[str, str]


def records_of(kcat: str, stack: Stack, key: str, count: int) -> list[KcatRecord]:
    """(partition, offset, headers) of the key's records, waiting for the relay to publish them."""
    deadline = time.monotonic() + 20
    while True:
        out = run(
            kcat, "-C", "-b", stack.bootstrap, "-t", TOPIC, "-e", "-q", "-f", "%p\t%o\t%k\t%h\n"
        ).decode()
        found = []
        for line in out.splitlines():
            partition, offset, record_key, headers = line.split("\t", 3)
            if record_key == key:
                pairs = (h.split("=", 1) for h in headers.split(","))
                found.append(KcatRecord(int(partition), int(offset), {k: v for k, v in pairs}))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_kcat_shows_both_events_with_the_envelope(stack: Stack, kcat: str) -> None:
    member_id = SCENARIO.get("member_id")
    if member_id is None:
        pytest.skip("needs the member registered through grpcurl (test_register_then_approve)")
    records = records_of(kcat, stack, str(member_id), 2)
    assert [r.headers["ce_type"] for r in records] == [
        "bizclub.membership.v1.MemberRegistered",
        "bizclub.membership.v1.MemberApproved",
    ]
    for record in records:
        headers = record.headers
        assert set(ENVELOPE_HEADERS) <= set(headers), headers
        assert headers["ce_source"] == "membership"
        assert headers["ce_specversion"] == "1.0"
        assert headers["province"] == "TH-41"
        assert headers["content-type"] == "application/protobuf"
        assert headers["traceparent"].startswith("00-") and len(headers["traceparent"]) == 55
        assert headers["ce_time"].endswith("Z") and headers["ce_time"][:4].isdigit()
        assert len(headers["ce_id"]) == 36
    assert records[0].partition == records[1].partition  # one key, one partition
    assert records[0].offset < records[1].offset
    SCENARIO["records"] = records


# --- (d) the value decodes with protoc ------------------------------------------------------


def test_the_event_value_decodes_with_protoc(stack: Stack, kcat: str) -> None:
    records = SCENARIO.get("records")
    if records is None:
        pytest.skip("needs the records found by test_kcat_shows_both_events_with_the_envelope")
    decoded = {}
    for record, event_type in zip(records, ["MemberRegistered", "MemberApproved"], strict=True):
        value = run(
            kcat,
            "-C",
            "-b",
            stack.bootstrap,
            "-t",
            TOPIC,
            "-p",
            str(record.partition),
            "-o",
            str(record.offset),
            "-c",
            "1",
            "-e",
            "-q",
            "-f",
            "%s",
        )
        decoded[event_type] = run(
            str(ROOT / "tools/decode-event.sh"),
            f"bizclub.membership.v1.{event_type}",
            stdin=value,
            timeout=60,
        ).decode()
    registered = decoded["MemberRegistered"]
    assert f'member_id: "{SCENARIO["member_id"]}"' in registered
    assert 'business_name_th: "ร้านข้าวจี่แม่คำ"' in registered  # Thai as text, not escapes
    assert "enterprise_type: ENTERPRISE_TYPE_SME" in registered
    assert "satang: 5000000" in registered
    # No contact data on the event.
    assert "คำ ดีงาม" not in registered and "0812345678" not in registered
    assert 'resolution: "มติคณะกรรมการ 2/2569"' in decoded["MemberApproved"]


# --- (f) Ctrl-C, then start again on the same data ------------------------------------------


def test_sigint_stops_cleanly_and_a_restart_keeps_the_members(stack: Stack, stub: Stub) -> None:
    before, _ = all_members(stub)
    committee = len(stub.GetNetwork(ms.GetNetworkRequest(province_code="TH-41")).committee)

    began = time.monotonic()
    code = stack.interrupt()
    stopped_in = time.monotonic() - began
    assert code is not None, f"still running {STOP_TIMEOUT:.0f} s after SIGINT\n{stack.log_tail()}"
    assert code in (0, -signal.SIGINT), f"exit code {code}\n{stack.log_tail()}"
    assert any("stopping" in line for line in stack.output)
    # Everything it started has gone: the ports are free again, the process group is empty.
    deadline = time.monotonic() + 5
    # An external Kafka is not the stack's to stop.
    while not (port_free(GRPC_PORT) and (EXTERNAL_KAFKA or port_free(stack.broker_port))):
        assert time.monotonic() < deadline, "a port is still held after the stack stopped"
        time.sleep(0.1)
    with pytest.raises(ProcessLookupError):
        os.killpg(stack.process.pid, 0)  # type: ignore[union-attr]

    stack.start()
    after, _ = all_members(stub)
    assert sorted(m.member_id for m in after) == sorted(m.member_id for m in before)
    assert len(after) == len(before) >= 200
    assert len(stub.GetNetwork(ms.GetNetworkRequest(province_code="TH-41")).committee) == (
        committee
    )
    member_id = SCENARIO.get("member_id")
    if member_id is not None:
        kept = stub.GetMember(ms.GetMemberRequest(member_id=str(member_id))).member
        assert kept.status == membership_pb2.MEMBER_STATUS_ACTIVE
    service_log = (stack.data_dir / "logs" / "membership.log").read_text()
    assert service_log.count("seeded the Udon Thani network") == 1
    print(f"exit {code}; stopped in {stopped_in:.1f} s; restarted in {stack.started_in:.1f} s")
