"""`python -m bench.soak`: mixed traffic across every service for a while, from this process.

The stack runs as subprocesses (membership, training, matching, feedback, analytics:
`python -m <service>` each, on fresh SQLite files, the embedded Tansu broker or KAFKA_BOOTSTRAP_SERVERS)
and this process drives them over gRPC with an officer token: members registered and
approved (their events reach every other service's consumers), buyers registered, and
reads on every service. Every few seconds it samples each service's RSS.

After the load it waits until every consumer group has committed up to the end of
every partition it reads (committed offsets against end offsets, from the broker).

BENCH lines: soak_requests, soak_errors, soak_peak_rss_<service> (MB),
soak_rss_growth_<service> (the last third's peak over the middle third's),
soak_lag_drain (s). Exit status 1 on any error, memory growth past --max-growth,
or lag not back to zero within --drain-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from bizclub.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from bizclub.common.v1 import common_pb2
from bizclub.feedback.v1 import feedback_service_pb2, feedback_service_pb2_grpc
from bizclub.matching.v1 import matching_pb2, matching_service_pb2, matching_service_pb2_grpc
from bizclub.membership.v1 import membership_service_pb2, membership_service_pb2_grpc
from bizclub.training.v1 import training_service_pb2, training_service_pb2_grpc
from bizclub_shared.broker import EmbeddedBroker
from bizclub_shared.grpc_server import channel as authorised_channel
from bizclub_shared.topics import ALL_TOPICS, ensure_topics
from bizclub_stack.__main__ import SERVICES, service_env, spawn, stop_process, wait_serving

from bench.auth import KEYS_JSON, TOKEN
from bench.payloads import CLUSTER, PROVINCE, network_request, registration

SAMPLE_SECONDS = 5.0
CALL_TIMEOUT = 10.0


def emit(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} value={value:.2f} unit={unit}", flush=True)


def note(text: str) -> None:
    print(f"# {text}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    async def call(self, name: str, rpc: Callable[[], Awaitable[Any]]) -> Any:
        self.requests[name] += 1
        try:
            return await rpc()
        except grpc.aio.AioRpcError as exc:
            if self.errors[name] < 3:  # the first few of each kind, for the log
                note(f"error {name}: {exc.code().name} {exc.details()}")
            self.errors[name] += 1
            return None


class Stubs:
    def __init__(self, channels: dict[str, grpc.aio.Channel]) -> None:
        self.membership = membership_service_pb2_grpc.MembershipServiceStub(channels["membership"])
        self.training = training_service_pb2_grpc.TrainingServiceStub(channels["training"])
        self.matching = matching_service_pb2_grpc.MatchingServiceStub(channels["matching"])
        self.feedback = feedback_service_pb2_grpc.FeedbackServiceStub(channels["feedback"])
        self.analytics = analytics_service_pb2_grpc.AnalyticsServiceStub(channels["analytics"])


async def one_round(stubs: Stubs, tally: Tally, serial: int) -> None:
    """One member's worth of traffic: two writes with events, a write elsewhere, reads."""
    ms, ts, xs, fs = (
        membership_service_pb2,
        training_service_pb2,
        matching_service_pb2,
        feedback_service_pb2,
    )
    page = common_pb2.PageRequest(page_size=20)
    reply = await tally.call(
        "RegisterMember",
        lambda: stubs.membership.RegisterMember(registration(serial), timeout=CALL_TIMEOUT),
    )
    if reply is not None:
        member_id = reply.member.member_id
        await tally.call(
            "ApproveMember",
            lambda: stubs.membership.ApproveMember(
                ms.ApproveMemberRequest(member_id=member_id), timeout=CALL_TIMEOUT
            ),
        )
        await tally.call(
            "GetMember",
            lambda: stubs.membership.GetMember(
                ms.GetMemberRequest(member_id=member_id), timeout=CALL_TIMEOUT
            ),
        )
    if serial % 5 == 0:
        await tally.call(
            "RegisterBuyer",
            lambda: stubs.matching.RegisterBuyer(
                xs.RegisterBuyerRequest(
                    province_code=PROVINCE,
                    kind=matching_pb2.BUYER_KIND_MODERN_TRADE,
                    name_th=f"ห้างสรรพสินค้าทดสอบ {serial}",
                    name_en=f"Soak Buyer {serial}",
                ),
                timeout=CALL_TIMEOUT,
            ),
        )
    reads: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            "ListMembers",
            lambda: stubs.membership.ListMembers(
                ms.ListMembersRequest(province_code=PROVINCE, cluster_code=CLUSTER, page=page),
                timeout=CALL_TIMEOUT,
            ),
        ),
        (
            "ListSessions",
            lambda: stubs.training.ListSessions(
                ts.ListSessionsRequest(province_code=PROVINCE), timeout=CALL_TIMEOUT
            ),
        ),
        (
            "ListBuyers",
            lambda: stubs.matching.ListBuyers(
                xs.ListBuyersRequest(province_code=PROVINCE, page=page), timeout=CALL_TIMEOUT
            ),
        ),
        (
            "GetIndicators",
            lambda: stubs.analytics.GetIndicators(
                analytics_service_pb2.GetIndicatorsRequest(
                    scope=analytics_service_pb2.Scope(province_code=PROVINCE)
                ),
                timeout=CALL_TIMEOUT,
            ),
        ),
        (
            "ListAnnouncements",
            lambda: stubs.feedback.ListAnnouncements(
                fs.ListAnnouncementsRequest(province_code=PROVINCE, page=page),
                timeout=CALL_TIMEOUT,
            ),
        ),
    ]
    name, rpc = reads[serial % len(reads)]
    await tally.call(name, rpc)


async def drive(stubs: Stubs, tally: Tally, until: float, workers: int, rate: float) -> None:
    """`workers` loops of rounds until `until`, paced to about `rate` rounds/s in all."""
    serials = iter(range(1, 10**9))
    interval = workers / rate if rate > 0 else 0.0

    async def worker() -> None:
        next_at = time.monotonic()
        while time.monotonic() < until:
            await one_round(stubs, tally, next(serials))
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load, not waiting for a result
            else:
                next_at = time.monotonic()

    await asyncio.gather(*(worker() for _ in range(workers)))


async def sample_memory(
    pids: dict[str, int],
    samples: dict[str, list[tuple[float, float]]],
    started: float,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        now = time.monotonic() - started
        for name, pid in pids.items():
            with contextlib.suppress(OSError):
                samples[name].append((now, rss_mb(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


def growth(points: list[tuple[float, float]], duration: float) -> float:
    """The last third's peak RSS over the middle third's (1.0: flat)."""
    middle = [mb for t, mb in points if duration / 3 <= t < 2 * duration / 3]
    last = [mb for t, mb in points if t >= 2 * duration / 3]
    if not middle or not last:
        return 1.0
    return max(last) / max(middle)


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Per consumer group: records on the platform's topics it has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [group for group, *_ in await admin.list_consumer_groups()]
    finally:
        await admin.close()
    lag: dict[str, int] = {}
    for group in groups:
        # A group member that never subscribes: it only reads the group's committed offsets.
        reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await reader.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in ALL_TOPICS
                for p in sorted(reader.partitions_for_topic(topic) or ())
            ]
            ends = await reader.end_offsets(partitions)
            committed = {tp: await reader.committed(tp) for tp in partitions}
            # The topics the group reads: those it has committed on (a partition of one
            # with no commit yet counts from its start).
            read = {tp.topic for tp, offset in committed.items() if offset is not None}
            if read:
                lag[group] = sum(
                    max(0, ends[tp] - (committed[tp] or 0)) for tp in partitions if tp.topic in read
                )
        finally:
            await reader.stop()
    return lag


async def wait_lag_zero(bootstrap: str, bound: float) -> tuple[float, dict[str, int]]:
    started = time.monotonic()
    while True:
        lag = await consumer_lag(bootstrap)
        if lag and not any(lag.values()):
            return time.monotonic() - started, lag
        if time.monotonic() - started > bound:
            return float("inf"), lag
        await asyncio.sleep(0.5)


async def run(args: argparse.Namespace, data_dir: Path) -> int:
    os.environ["BIZCLUB_AUTH_KEYS"] = KEYS_JSON
    os.environ.pop("BIZCLUB_AUTH_SIGNING_KEY_ID", None)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker: EmbeddedBroker | None = None
    if external:
        bootstrap = external
    else:
        broker = EmbeddedBroker(port=0, log_path=logs / "broker.log")
        await broker.start()
        bootstrap = broker.bootstrap_servers
    # Ports the kernel picks, clear of `make run` (50051…) and of other runs.
    # The gRPC services (the console is a web UI for people, not part of this load).
    services = [replace(s, port=free_port()) for s in SERVICES if not s.http]
    try:
        await ensure_topics(bootstrap, list(ALL_TOPICS))
        for service in services:
            env = service_env(service, bootstrap, data_dir, seed=False)
            for other in services:  # the soak's ports, not the stack's
                env[f"{service.env_prefix}{other.name.upper()}_ADDRESS"] = f"127.0.0.1:{other.port}"
            env[f"{service.env_prefix}GRPC_HOST"] = "127.0.0.1"
            env["BIZCLUB_LOG_LEVEL"] = "WARNING"
            spawn(service, env, logs)
        for service in services:
            await wait_serving(service)
        pids = {s.name: s.process.pid for s in services if s.process is not None}
        channels = {
            s.name: authorised_channel(f"127.0.0.1:{s.port}", token=lambda: TOKEN) for s in services
        }
        stubs = Stubs(channels)
        tally = Tally()
        await tally.call(
            "CreateNetwork",
            lambda: stubs.membership.CreateNetwork(network_request(), timeout=CALL_TIMEOUT),
        )
        note(
            f"soak: {args.duration:g} s, {args.workers} workers, about {args.rate:g} rounds/s, "
            f"broker {bootstrap}, data {data_dir}"
        )
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        stop_sampling = asyncio.Event()
        started = time.monotonic()
        sampler = asyncio.create_task(sample_memory(pids, samples, started, stop_sampling))
        await drive(stubs, tally, started + args.duration, args.workers, args.rate)
        elapsed = time.monotonic() - started
        stop_sampling.set()
        await sampler
        drain, lag = await wait_lag_zero(bootstrap, args.drain_bound)
        for chan in channels.values():
            await chan.close()
        exited = [s.name for s in services if s.process is None or s.process.poll() is not None]
    finally:
        for service in services:
            stop_process(service)
        if broker is not None:
            await broker.stop()

    requests, errors = sum(tally.requests.values()), sum(tally.errors.values())
    note("requests by call: " + ", ".join(f"{k}={v}" for k, v in sorted(tally.requests.items())))
    note(f"consumer lag at the end, per group: {lag}")
    emit("soak_duration", elapsed, "s")
    emit("soak_requests", requests, "requests")
    emit("soak_rps", requests / elapsed, "req/s")
    emit("soak_errors", errors, "errors")
    flat = True
    for name, points in samples.items():
        peak = max((mb for _, mb in points), default=0.0)
        ratio = growth(points, elapsed)
        emit(f"soak_peak_rss_{name}", peak, "MB")
        emit(f"soak_rss_growth_{name}", ratio, "ratio")
        if ratio > 1 + args.max_growth:
            note(f"{name}: memory grew {ratio:.3f}x from the middle third to the last")
            flat = False
    emit("soak_lag_drain", drain, "s")
    failed = []
    if errors:
        failed.append(f"{errors} requests failed")
    if not flat:
        failed.append("memory not flat")
    if drain == float("inf"):
        failed.append(f"consumer lag not zero within {args.drain_bound:g} s")
    if exited:
        failed.append(f"exited during the soak: {', '.join(exited)}")
    if failed:
        note("FAILED: " + "; ".join(failed) + f" (logs in {logs})")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients (8)")
    # 10 rounds/s is about 20 membership events/s for every consumer: a load this
    # machine's consumers keep up with (matching fell behind at 20 rounds/s on 2 shared cores).
    parser.add_argument("--rate", type=float, default=10.0, help="rounds per second (10)")
    parser.add_argument(
        "--drain-bound", type=float, default=120.0, help="seconds for lag to reach zero (120)"
    )
    parser.add_argument(
        "--max-growth", type=float, default=0.05, help="allowed RSS growth, last third (0.05)"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the databases and logs here")
    args = parser.parse_args()
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        raise SystemExit(asyncio.run(run(args, args.data_dir)))
    with tempfile.TemporaryDirectory(prefix="bizclub-soak-") as tmp:
        raise SystemExit(asyncio.run(run(args, Path(tmp))))


if __name__ == "__main__":
    main()
