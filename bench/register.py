"""gRPC load from a separate process: ghz, fed pre-built unique requests (RegisterMember,
SubmitMonthlyReport).

ghz sends message `RequestNumber % len(messages)` of a length-delimited binary file,
so a file with more messages than a level can send gives every request its own
tax ID; running out wraps around into ALREADY_EXISTS, which fails the bench.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bizclub.feedback.v1 import feedback_service_pb2
from bizclub.membership.v1 import membership_service_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2

from bench.auth import TOKEN
from bench.payloads import monthly_reports_file, registrations_file

ROOT = Path(__file__).resolve().parent.parent
GHZ_VERSION = "v0.93.0"
REGISTER = "bizclub.membership.v1.MembershipService.RegisterMember"
MONTHLY_REPORT = "bizclub.feedback.v1.FeedbackService.SubmitMonthlyReport"
HEALTH = "grpc.health.v1.Health.Check"


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    count: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]

    @property
    def failed(self) -> int:
        return self.count - self.statuses.get("OK", 0)


def find_ghz() -> Path:
    """ghz from $BENCH_GHZ, tools/bin or PATH; else `go install` it into tools/bin."""
    for candidate in (
        os.environ.get("BENCH_GHZ"),
        str(ROOT / "tools/bin/ghz"),
        shutil.which("ghz"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("ghz not found and no Go to install it; set BENCH_GHZ")
    print(f"# installing ghz {GHZ_VERSION} into tools/bin (once; about a minute)", flush=True)
    subprocess.run(
        [go, "install", f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}"],
        env={**os.environ, "GOBIN": str(ROOT / "tools/bin")},
        check=True,
    )
    return ROOT / "tools/bin/ghz"


def protoset(*files: FileDescriptor) -> bytes:
    """A FileDescriptorSet of `files` and their imports, from the generated modules."""
    seen: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        seen[file.name] = proto

    for file in files:
        add(file)
    return descriptor_pb2.FileDescriptorSet(file=list(seen.values())).SerializeToString()


class Load:
    """Runs ghz levels against one server. Each RegisterMember level gets its own range
    of serials (so of tax IDs); Health.Check is the gRPC floor to compare with."""

    def __init__(self, ghz: Path, target: str, work_dir: Path, max_rps: int = 4_000) -> None:
        self._ghz = ghz
        self._target = target
        self._work_dir = work_dir
        self._max_rps = max_rps  # sizes each level's message file
        self._next_serial = 1
        self._next_report = 0
        self._protoset = work_dir / "bench.protoset"
        self._protoset.write_bytes(
            protoset(
                membership_service_pb2.DESCRIPTOR,
                feedback_service_pb2.DESCRIPTOR,
                health_pb2.DESCRIPTOR,
            )
        )
        self._health_request = work_dir / "health.bin"
        # One length-delimited empty message: ghz needs at least one.
        self._health_request.write_bytes(b"\x00")

    async def register(self, concurrency: int, seconds: float) -> LevelResult:
        count = int(self._max_rps * (seconds + 2))
        data = self._work_dir / f"register-{self._next_serial}.bin"
        data.write_bytes(registrations_file(self._next_serial, count))
        self._next_serial += count
        try:
            return await self._ghz_level(REGISTER, data, concurrency, seconds)
        finally:
            data.unlink()

    async def monthly_reports(
        self, member_ids: list[str], concurrency: int, seconds: float
    ) -> LevelResult:
        """SubmitMonthlyReport at one level; every request a new (member, month)."""
        count = int(self._max_rps * (seconds + 2))
        data = self._work_dir / f"reports-{self._next_report}.bin"
        data.write_bytes(
            monthly_reports_file(member_ids, self._next_report, count, datetime.now(UTC))
        )
        self._next_report += count
        try:
            return await self._ghz_level(MONTHLY_REPORT, data, concurrency, seconds)
        finally:
            data.unlink()

    async def health(self, concurrency: int, seconds: float) -> LevelResult:
        return await self._ghz_level(HEALTH, self._health_request, concurrency, seconds)

    async def _ghz_level(
        self, method: str, data: Path, concurrency: int, seconds: float
    ) -> LevelResult:
        command = [
            str(self._ghz),
            "--insecure",
            f"--metadata={json.dumps({'authorization': f'Bearer {TOKEN}'})}",
            f"--protoset={self._protoset}",
            f"--call={method}",
            f"--binary-file={data}",
            f"--concurrency={concurrency}",
            # One connection per concurrent caller, as that many callers would have: the
            # kernel spreads connections (not calls) over a service's worker processes.
            f"--connections={concurrency}",
            f"--duration={seconds:g}s",
            "--duration-stop=wait",
            "--timeout=30s",
            "--format=json",
            self._target,
        ]
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await proc.communicate()
        if proc.returncode not in (0, 1):  # 1: some calls failed; counted below
            raise RuntimeError(f"ghz exited {proc.returncode}: {stderr.decode()[-2000:]}")
        report = json.loads(stdout)
        latency = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"] or []}
        return LevelResult(
            concurrency=concurrency,
            count=int(report["count"]),
            rps=float(report["rps"]),
            p50_ms=latency.get(50, float("nan")),
            p99_ms=latency.get(99, float("nan")),
            statuses=dict(report["statusCodeDistribution"] or {}),
            errors=dict(report["errorDistribution"] or {}),
        )


class BenchFailed(RuntimeError):
    pass


def check(result: LevelResult, label: str) -> None:
    if result.failed or result.errors:
        for status, n in result.statuses.items():
            print(f"# {label}: {n} x {status}", flush=True)
        for error, n in result.errors.items():
            print(f"# {label}: {n} x {error}", flush=True)
        raise BenchFailed(f"{label}: {result.failed} of {result.count} calls failed")
    if result.count == 0:
        raise BenchFailed(f"{label}: no calls completed")
