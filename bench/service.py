"""A service as its own process, on a fresh SQLite file: membership, feedback, analytics."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import grpc
from bizclub.membership.v1 import membership_service_pb2_grpc
from bizclub_shared.grpc_server import channel as authorised_channel
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.auth import KEYS_JSON, TOKEN
from bench.payloads import network_request

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT, DRAIN_TIMEOUT, STOP_TIMEOUT = 60.0, 60.0, 15.0


class ServiceProcess:
    """`python -m <module>` (the service `name` by default) with its env, SERVING before
    use; stopped with SIGTERM."""

    def __init__(
        self,
        name: str,
        env_prefix: str,
        data_dir: Path,
        port: int,
        bootstrap_servers: str,
        *,
        module: str = "",
        profile_to: Path | None = None,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.name = name
        self.port = port
        self.target = f"127.0.0.1:{port}"
        self.db_path = data_dir / f"{name}.db"
        self.log_path = data_dir / f"{name}.log"
        self._env = {
            **os.environ,
            f"{env_prefix}GRPC_HOST": "127.0.0.1",
            f"{env_prefix}GRPC_PORT": str(port),
            f"{env_prefix}DATABASE_URL": f"sqlite:///{self.db_path}",
            f"{env_prefix}SEED_DEMO_DATA": "false",
            # The profiler writes one file: profile one process.
            f"{env_prefix}WORKERS": str(1 if profile_to else workers),
            # As deployed on a machine of its own: a worker per core, each on its core.
            f"{env_prefix}PIN_WORKERS": "true",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "BIZCLUB_LOG_LEVEL": "WARNING",
            "BIZCLUB_AUTH_KEYS": KEYS_JSON,
            **(extra_env or {}),
        }
        module = module or name
        if profile_to is not None:
            module = "bench.profile_membership"
            self._env["BENCH_PROFILE_OUT"] = str(profile_to)
        self._command = [sys.executable, "-m", module]
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        self._log = self.log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            *self._command,
            env=self._env,
            cwd=ROOT,  # so `-m bench.profile_membership` resolves
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        async with grpc.aio.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                if self._proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited at start:\n" + _tail(self.log_path))
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not SERVING after {START_TIMEOUT:g} s")
                await asyncio.sleep(0.2)

    def _query(self, sql: str) -> list[tuple[object, ...]]:
        # Read-only, from this process: WAL lets it read while the service writes.
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def _count(self, sql: str) -> int:
        value = self._query(sql)[0][0]
        assert isinstance(value, int)
        return value

    def event_ids(self) -> set[str]:
        """Every event the service has committed to its outbox."""
        return {str(row[0]) for row in self._query("SELECT event_id FROM outbox")}

    def pending_events(self) -> int:
        """Outbox rows not yet published."""
        return self._count("SELECT count(*) FROM outbox WHERE sent_at IS NULL")

    async def wait_drained(self) -> float:
        """Seconds until the relay has published every committed event."""
        started = time.monotonic()
        while self.pending_events():
            if time.monotonic() - started > DRAIN_TIMEOUT:
                raise RuntimeError(f"outbox not drained after {DRAIN_TIMEOUT:g} s")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class MembershipProcess(ServiceProcess):
    """`python -m membership` (or the cProfile hook, or with access control off), with
    the Udon Thani network made."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        bootstrap_servers: str,
        *,
        profile_to: Path | None = None,
        without_auth: bool = False,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__(
            "membership",
            "MEMBERSHIP_",
            data_dir,
            port,
            bootstrap_servers,
            module="bench.membership_without_auth" if without_auth else "",
            profile_to=profile_to,
            extra_env=extra_env,
            workers=workers,
        )

    async def start(self) -> None:
        await super().start()
        async with authorised_channel(self.target, token=lambda: TOKEN) as authorised:
            stub = membership_service_pb2_grpc.MembershipServiceStub(authorised)
            await stub.CreateNetwork(network_request(), timeout=10.0)

    def member_count(self) -> int:
        return self._count("SELECT count(*) FROM member")

    def member_ids(self, limit: int) -> list[str]:
        return [str(r[0]) for r in self._query(f"SELECT member_id FROM member LIMIT {limit}")]


class FeedbackProcess(ServiceProcess):
    """`python -m feedback`: it learns members from membership's topic."""

    def __init__(
        self, data_dir: Path, port: int, bootstrap_servers: str, *, workers: int = 1
    ) -> None:
        super().__init__(
            "feedback", "FEEDBACK_", data_dir, port, bootstrap_servers, workers=workers
        )

    def members(self, status: str = "") -> int:
        where = f" WHERE status = '{status}'" if status else ""
        return self._count(f"SELECT count(*) FROM feedback_member{where}")

    def report_count(self) -> int:
        return self._count("SELECT count(*) FROM feedback_monthly_report")


class AnalyticsProcess(ServiceProcess):
    """`python -m analytics`: one consumer group ("analytics") over every area's topic."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        bootstrap_servers: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            "analytics", "ANALYTICS_", data_dir, port, bootstrap_servers, extra_env=extra_env
        )

    def applied(self) -> int:
        """Events the consumer has applied: one inbox entry each, written with its effect."""
        return self._count("SELECT count(*) FROM inbox WHERE consumer = 'analytics'")

    def applying_seconds(self) -> float:
        """From the first event applied to the last, by the inbox entries' times."""
        first, last = self._query(
            "SELECT min(received_at), max(received_at) FROM inbox WHERE consumer = 'analytics'"
        )[0]
        return (
            datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))
        ).total_seconds()

    def projected(self) -> tuple[int, int]:
        """(members, monthly reports) in the projection."""
        return (
            self._count("SELECT count(*) FROM analytics_member"),
            self._count("SELECT count(*) FROM analytics_monthly_report"),
        )


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
