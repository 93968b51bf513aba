"""gRPC load from a separate process: bizclub-load (bench/loadgen, Go), fed pre-built
unique requests (RegisterMember, SubmitMonthlyReport).

The client sends message `n % len(messages)` of a file of length-delimited serialised
requests as its n-th call, so a file with more messages than a level can send gives
every request its own tax ID; running out wraps around into ALREADY_EXISTS, which fails
the bench.

Why a client of our own rather than ghz (sessions 1-11): on this two-core machine the
client shares the cores with the service. ghz spends about 0.18 ms of CPU a call
(dynamic messages, its statistics); bizclub-load sends the bytes as they are, from one
OS thread, at about 0.08 ms. What is measured is the same: each caller has a connection
of its own and makes one call after another; a call's latency runs from before the call
to its answer; every call counts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.auth import TOKEN
from bench.payloads import monthly_reports_file, registrations_file

ROOT = Path(__file__).resolve().parent.parent
LOAD_CLIENT_SOURCE = ROOT / "bench/loadgen"
REGISTER = "/bizclub.membership.v1.MembershipService/RegisterMember"
MONTHLY_REPORT = "/bizclub.feedback.v1.FeedbackService/SubmitMonthlyReport"
HEALTH = "/grpc.health.v1.Health/Check"


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


def build_load_client() -> Path:
    """bench/loadgen built into tools/bin/bizclub-load. Go's build cache makes this about a
    second once built; the first build fetches grpc-go from the module proxy."""
    binary = ROOT / "tools/bin/bizclub-load"
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            "the bench's load client (bench/loadgen) is built with Go, and `go` is not on "
            "PATH: install Go 1.26 or later"
        )
    if not binary.exists():
        print("# building the load client (bench/loadgen) with Go (once)", flush=True)
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=LOAD_CLIENT_SOURCE, check=True)
    return binary


class Load:
    """Runs load levels against one server. Each RegisterMember level gets its own range
    of serials (so of tax IDs); Health.Check is the gRPC floor to compare with."""

    def __init__(self, client: Path, target: str, work_dir: Path, max_rps: int = 4_000) -> None:
        self._client = client
        self._target = target
        self._work_dir = work_dir
        self._max_rps = max_rps  # sizes each level's message file
        self._next_serial = 1
        self._next_report = 0
        self._health_request = work_dir / "health.bin"
        # One length-delimited empty message: the client needs at least one.
        self._health_request.write_bytes(b"\x00")

    async def register(self, concurrency: int, seconds: float) -> LevelResult:
        count = int(self._max_rps * (seconds + 2))
        data = self._work_dir / f"register-{self._next_serial}.bin"
        data.write_bytes(registrations_file(self._next_serial, count))
        self._next_serial += count
        try:
            return await self._level(REGISTER, data, concurrency, seconds)
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
            return await self._level(MONTHLY_REPORT, data, concurrency, seconds)
        finally:
            data.unlink()

    async def health(self, concurrency: int, seconds: float) -> LevelResult:
        return await self._level(HEALTH, self._health_request, concurrency, seconds)

    async def _level(
        self, method: str, data: Path, concurrency: int, seconds: float
    ) -> LevelResult:
        command = [
            str(self._client),
            f"-target={self._target}",
            f"-method={method}",
            f"-data={data}",
            # One connection per concurrent caller, as that many callers would have: the
            # kernel spreads connections (not calls) over a service's worker processes.
            f"-concurrency={concurrency}",
            f"-duration={seconds:g}s",
            "-timeout=30s",
            f"-metadata=authorization=Bearer {TOKEN}",
        ]
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bizclub-load exited {proc.returncode}: {stderr.decode()[-2000:]}")
        report = json.loads(stdout)
        return LevelResult(
            concurrency=concurrency,
            count=int(report["count"]),
            rps=float(report["rps"]),
            p50_ms=float(report["p50_ms"]),
            p99_ms=float(report["p99_ms"]),
            statuses=dict(report["statuses"]),
            errors=dict(report["errors"]),
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
