"""`python -m bench`: every figure of the foundation issue, measured in one run.

register_c1/c16/c64  RegisterMember requests/s from bizclub-load (bench/loadgen, a
                     separate process) against `python -m membership` on a fresh SQLite
                     file, its relay publishing to the embedded Tansu broker; p50/p99 at
                     c64 as extra lines.
                     Baseline: grpc_health_cN, Health.Check on the same server and level
                     (the gRPC floor of this machine, client included).
register_auth_c64    RegisterMember at c64 with access control on, against the same call on
                     a service with it off (bench/membership_without_auth.py) as baseline;
                     each on a fresh SQLite file after the same warm-up, on, off, on, off
                     (this machine's speed drifts by ~10% between runs), each the mean.
monthly_report_c64   SubmitMonthlyReport requests/s from bizclub-load at concurrency 64 against
                     `python -m feedback` (its relay live), on 1,000 members it learned
                     from membership's events (target: at least 80% of its baseline).
                     Baseline: the mean of register_c64 and a second RegisterMember c64
                     level run just after the monthly one (feedback stopped), so both sides of
                     the ratio come from the same minutes of this machine's drifting
                     speed (feedback's catch-up puts ~3 minutes between them).
raw_producer         aiokafka send() + await every future, acks=all, events/s.
relay                OutboxRelay draining a pre-filled outbox, events/s, against
                     raw_producer as baseline.
register_c64_embedded, register_c64_apache_kafka
                     RegisterMember at c64 (bizclub-load against `python -m membership`, fresh SQLite
                     file, c16 warm-up) with its relay publishing to Tansu, then to Apache
                     Kafka 4 (deploy/kafka/kafka.sh, idempotent producer as deployed);
                     the embedded figure is the Apache Kafka line's baseline.
projection_embedded, projection_apache_kafka
                     events/s `python -m analytics` applies (inbox entry and projection,
                     one transaction per event) from a backlog of --projection-events
                     membership and feedback events produced to the topics beforehand,
                     timed from the first event applied to the last (inbox times);
                     Tansu's figure is the Apache Kafka line's baseline. See
                     bench/brokers.py (`python -m bench --only-brokers` runs this stage
                     alone; without Java/Maven the Apache Kafka lines are skipped with a
                     `#` line, exit status unaffected).
matching             suggest_for_member/need p50/p99, schedule_300x60, precision_at_5
                     against substring_precision_at_5: see bench/matching.py
                     (`python -m bench --only-matching` runs this stage alone).

Lines starting with `#` are context (errors, outbox backlog, CPU per process);
`BENCH ...` lines are the figures. Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bizclub.membership.v1 import membership_service_pb2, membership_service_pb2_grpc
from bizclub_shared.broker import EmbeddedBroker
from bizclub_shared.grpc_server import channel as authorised_channel
from bizclub_shared.topics import ALL_TOPICS, MEMBERSHIP, ensure_topics

from bench import brokers, matching, relay
from bench.auth import TOKEN
from bench.cpu import (
    connections_per_worker,
    machine_cpu,
    machine_shares,
    process_cpu,
    thread_cpu,
)
from bench.register import BenchFailed, LevelResult, Load, build_load_client, check
from bench.relay import published_ids
from bench.service import FeedbackProcess, MembershipProcess

RELAY_TOPIC = "bench.relay.v1"
LEVELS = (1, 16, 64)
TARGET_RPS, TARGET_P99_MS, TARGET_RELAY_RATIO = 1_000.0, 50.0, 0.25
TARGET_AUTH_RATIO = 0.9
TARGET_MONTHLY_RATIO = 0.8
REPORTING_MEMBERS = 1_000
CATCH_UP_TIMEOUT = 180.0


def emit(name: str, value: float, unit: str, baseline: float | None = None) -> None:
    line = f"BENCH {name} value={_fmt(value)} unit={unit}"
    if baseline is not None:
        line += f" baseline={_fmt(baseline)} ratio={value / baseline:.3f}"
    print(line, flush=True)


def note(text: str) -> None:
    print(f"# {text}", flush=True)


def _fmt(value: float) -> str:
    if 0 < abs(value) < 0.1:
        return f"{value:.3g}"  # the schedule's few milliseconds, in seconds
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_note(shares: dict[str, float]) -> str:
    # Stolen time is the host running others on this VM's cores: the same build gives
    # fewer calls a second then, whatever the code does (session 19: up to half the time).
    if not shares:
        return ""
    idle = shares.get("idle", 0.0) + shares.get("iowait", 0.0)
    return f"; the cores {idle:.0%} idle, {shares.get('steal', 0.0):.0%} taken by the host"


Levels = dict[int, tuple[LevelResult, LevelResult]]


async def register_bench(
    args: argparse.Namespace, tmp: Path, bootstrap: str, broker_pid: int | None
) -> tuple[Levels, set[str], tuple[LevelResult, LevelResult] | None]:
    """Per level (Health.Check, RegisterMember) results, the events committed, and the
    monthly report level (run while membership is still up: feedback learns from it)
    with the RegisterMember c64 level run again right after it."""
    client = build_load_client()
    profile = args.profile.resolve() if args.profile else None
    async with MembershipProcess(
        tmp, args.port_base + 1, bootstrap, profile_to=profile, workers=args.workers
    ) as service:
        load = Load(client, service.target, tmp)
        warmup = await load.register(16, args.warmup)
        check(warmup, "warm-up")
        await service.wait_drained()
        results: dict[int, tuple[LevelResult, LevelResult]] = {}
        registered_ok = warmup.count
        for concurrency in LEVELS:
            health = await load.health(concurrency, args.seconds / 2)
            check(health, f"health c{concurrency}")
            server_before = thread_cpu(service.pid)
            broker_before = process_cpu(broker_pid)
            client_before = _children_cpu()
            machine_before = machine_cpu()
            started = time.monotonic()
            split = asyncio.create_task(connection_split(service, concurrency, args.seconds))
            result = await load.register(concurrency, args.seconds)
            wall = time.monotonic() - started
            machine = machine_shares(machine_before, machine_cpu())
            backlog = service.pending_events()
            drain = await service.wait_drained()
            server = {k: v - server_before.get(k, 0.0) for k, v in thread_cpu(service.pid).items()}
            note(
                f"c{concurrency}: {result.count} calls, {result.failed} failed, "
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; outbox backlog at end "
                f"{backlog} events, drained in {drain:.2f} s; connections per worker "
                + "/".join(str(n) for n in await split)
            )
            note(
                f"c{concurrency} CPU over {wall:.1f} s: service "
                + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(server.items()) if v >= 0.05)
                + f"; client {_children_cpu() - client_before:.1f} s"
                + f"; broker {process_cpu(broker_pid) - broker_before:.1f} s"
                + _machine_note(machine)
            )
            check(result, f"c{concurrency}")
            registered_ok += result.count
            results[concurrency] = (health, result)
        registered = service.member_count()
        if registered != registered_ok:
            raise BenchFailed(f"{registered} members in the database, {registered_ok} calls OK")
        if args.only_register:
            return results, service.event_ids(), None
        monthly = await monthly_report_bench(args, tmp, bootstrap, service, client)
        # The monthly level's other bracket (see the module): feedback has stopped.
        machine_before = machine_cpu()
        again = await load.register(64, args.seconds)
        check(again, "c64 after the monthly reports")
        note(
            f"c64 again after the monthly reports: {again.count} calls, {again.failed} "
            f"failed, {again.rps:.1f} req/s, p99 {again.p99_ms:.1f} ms"
            + _machine_note(machine_shares(machine_before, machine_cpu()))
        )
        await service.wait_drained()
        # Read after the approvals and the second level, so their events are checked too.
        return results, service.event_ids(), (monthly, again)


async def connection_split(service: MembershipProcess, expected: int, within: float) -> list[int]:
    """The callers' connections each worker holds, once all `expected` are up. The
    kernel spreads connections over the workers by a hash; the worker with more callers
    answers each of them more slowly, and so sets the p99."""
    deadline = time.monotonic() + within
    split: list[int] = []
    while time.monotonic() < deadline:
        split = connections_per_worker(service.pid, service.port)
        if sum(split) >= expected:
            break
        await asyncio.sleep(0.1)
    return split


async def approve(target: str, member_ids: list[str]) -> None:
    """Approve the members (32 calls at a time), so that they may report."""
    limit = asyncio.Semaphore(32)
    async with authorised_channel(target, token=lambda: TOKEN) as channel:
        stub = membership_service_pb2_grpc.MembershipServiceStub(channel)

        async def one(member_id: str) -> None:
            async with limit:
                await stub.ApproveMember(
                    membership_service_pb2.ApproveMemberRequest(
                        member_id=member_id, resolution="มติคณะกรรมการ 1/2569"
                    ),
                    timeout=30,
                )

        await asyncio.gather(*(one(m) for m in member_ids))


async def monthly_report_bench(
    args: argparse.Namespace,
    tmp: Path,
    bootstrap: str,
    membership: MembershipProcess,
    client: Path,
) -> LevelResult:
    """SubmitMonthlyReport at c64 against feedback, once it knows the approved members."""
    member_ids = membership.member_ids(REPORTING_MEMBERS)
    await approve(membership.target, member_ids)
    await membership.wait_drained()
    async with FeedbackProcess(
        tmp, args.port_base + 3, bootstrap, workers=args.workers
    ) as feedback:
        started = time.monotonic()
        everyone = membership.member_count()
        while feedback.members("active") < len(member_ids) or feedback.members() < everyone:
            if time.monotonic() - started > CATCH_UP_TIMEOUT:
                raise BenchFailed(f"feedback did not learn the members in {CATCH_UP_TIMEOUT:g} s")
            await asyncio.sleep(0.2)
        note(
            f"feedback on {feedback.target} learned {everyone} members "
            f"({len(member_ids)} approved) from the topic in {time.monotonic() - started:.1f} s"
        )
        load = Load(client, feedback.target, tmp)
        warmup = await load.monthly_reports(member_ids, 16, args.warmup)
        check(warmup, "monthly reports warm-up")
        await feedback.wait_drained()
        server_before = thread_cpu(feedback.pid)
        result = await load.monthly_reports(member_ids, 64, args.seconds)
        backlog = feedback.pending_events()
        drain = await feedback.wait_drained()
        server = {k: v - server_before.get(k, 0.0) for k, v in thread_cpu(feedback.pid).items()}
        note(
            f"monthly reports c64: {result.count} calls, {result.failed} failed, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; outbox backlog at end "
            f"{backlog} events, drained in {drain:.2f} s; CPU "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(server.items()) if v >= 0.05)
        )
        check(result, "monthly reports c64")
        stored = feedback.report_count()
        if stored != warmup.count + result.count:
            raise BenchFailed(f"{stored} reports stored, {warmup.count + result.count} calls OK")
        return result


async def auth_bench(args: argparse.Namespace, tmp: Path, bootstrap: str) -> tuple[float, float]:
    """RegisterMember req/s at c64 with access control (on, off), each on a fresh database."""
    client = build_load_client()
    rates: dict[bool, list[float]] = {False: [], True: []}
    for round_, without_auth in enumerate((False, True, False, True)):
        data_dir = tmp / f"{'noauth' if without_auth else 'auth'}-{round_ // 2}"
        data_dir.mkdir()
        port = args.port_base + 2
        async with MembershipProcess(
            data_dir, port, bootstrap, without_auth=without_auth, workers=args.workers
        ) as service:
            load = Load(client, service.target, data_dir)
            check(await load.register(16, args.warmup), "auth warm-up")
            await service.wait_drained()
            result = await load.register(64, args.seconds)
            check(result, f"register c64 {'without' if without_auth else 'with'} auth")
            await service.wait_drained()
            rates[without_auth].append(result.rps)
    return statistics.mean(rates[False]), statistics.mean(rates[True])


async def run(args: argparse.Namespace) -> int:
    if args.only_matching:
        return _matching_stage(args.matching_queries)
    if args.only_brokers:
        with tempfile.TemporaryDirectory(prefix="bizclub-bench-") as tmp_name:
            return await _brokers_stage(args, Path(tmp_name))
    with tempfile.TemporaryDirectory(prefix="bizclub-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker = EmbeddedBroker(args.port_base, log_path=tmp / "tansu.log")
        async with broker:
            bootstrap = broker.bootstrap_servers
            await ensure_topics(bootstrap, [*ALL_TOPICS, RELAY_TOPIC])
            note(f"tansu on {bootstrap}, membership on 127.0.0.1:{args.port_base + 1}, in {tmp}")

            try:
                results, committed, monthly_levels = await register_bench(
                    args, tmp, bootstrap, broker.pid
                )
            except BenchFailed as exc:
                note(f"FAILED: {exc}")
                return 1
            published = await published_ids(bootstrap, MEMBERSHIP, committed)
            lost = committed - published
            note(
                f"{len(committed)} events committed by membership, {len(lost)} not on {MEMBERSHIP}"
            )
            for concurrency, (health, result) in results.items():
                emit(f"grpc_health_c{concurrency}", health.rps, "req/s")
                emit(f"register_c{concurrency}", result.rps, "req/s", baseline=health.rps)
            c64 = results[64][1]
            emit("register_c64_p50", c64.p50_ms, "ms")
            emit("register_c64_p99", c64.p99_ms, "ms")
            if monthly_levels is None:  # --only-register
                for label, ok in _register_checks(c64):
                    note(f"target {label}: {'met' if ok else 'MISSED'}")
                return 1 if lost else 0
            monthly, c64_again = monthly_levels
            register_around_monthly = statistics.mean([c64.rps, c64_again.rps])
            emit("monthly_report_c64", monthly.rps, "req/s", baseline=register_around_monthly)

            try:
                with_auth, without_auth = await auth_bench(args, tmp, bootstrap)
            except BenchFailed as exc:
                note(f"FAILED: {exc}")
                return 1
            emit("register_noauth_c64", without_auth, "req/s")
            emit("register_auth_c64", with_auth, "req/s", baseline=without_auth)

            batch = relay.make_events(args.events)
            raw = await relay.raw_producer(bootstrap, RELAY_TOPIC, batch)
            emit("raw_producer", raw, "events/s")
            drained = await relay.relay(bootstrap, RELAY_TOPIC, batch, tmp / "relay.db")
            emit("relay", drained, "events/s", baseline=raw)

        checks = [
            *_register_checks(c64),
            (
                f"monthly_report_c64 >= {TARGET_MONTHLY_RATIO:.0%} of register_c64"
                " (mean of its two levels)",
                monthly.rps / register_around_monthly >= TARGET_MONTHLY_RATIO,
            ),
            (
                f"relay >= {TARGET_RELAY_RATIO:.0%} of raw_producer",
                drained / raw >= TARGET_RELAY_RATIO,
            ),
            (
                f"register_auth_c64 >= {TARGET_AUTH_RATIO:.0%} of register_noauth_c64",
                with_auth / without_auth >= TARGET_AUTH_RATIO,
            ),
        ]
        for label, ok in checks:
            note(f"target {label}: {'met' if ok else 'MISSED'}")
        if await _brokers_stage(args, tmp):
            return 1
        _matching_stage(args.matching_queries)
        if lost:
            note(f"FAILED: {len(lost)} committed events never reached the broker")
            return 1
        return 0


def _register_checks(c64: LevelResult) -> list[tuple[str, bool]]:
    return [
        (f"register_c64 >= {TARGET_RPS:g} req/s", c64.rps >= TARGET_RPS),
        (f"register_c64_p99 <= {TARGET_P99_MS:g} ms", c64.p99_ms <= TARGET_P99_MS),
    ]


async def _brokers_stage(args: argparse.Namespace, tmp: Path) -> int:
    """Apache Kafka against Tansu, one broker at a time: 1 if something failed."""
    try:
        await brokers.run(
            emit,
            note,
            tmp,
            port_base=args.port_base + 10,
            kafka_port=args.kafka_port,
            seconds=args.seconds,
            warmup=args.warmup,
            events=args.projection_events,
        )
    except BenchFailed as exc:
        note(f"FAILED: {exc}")
        return 1
    return 0


def _matching_stage(queries: int) -> int:
    """In-process, after the services have stopped, so nothing else competes for the CPU."""
    for label, ok in matching.run(emit, note, queries):
        note(f"target {label}: {'met' if ok else 'MISSED'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per concurrency level")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at c16 first")
    parser.add_argument("--events", type=int, default=50_000, help="relay and raw producer")
    parser.add_argument(
        "--port-base",
        type=int,
        default=19700,
        help="broker on it, membership on it + 1 (+ 2 with access control off), feedback + 3;"
        " the broker stage's Tansu on it + 10, membership + 11, analytics + 12",
    )
    parser.add_argument(
        "--kafka-port",
        type=int,
        default=19292,
        help="Apache Kafka of the broker stage (its controller on it + 1)",
    )
    parser.add_argument(
        "--projection-events",
        type=int,
        default=4_000,
        help="backlog the analytics projection applies, per broker",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run the service under cProfile and write pstats here (slows it down)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes of membership and feedback (MEMBERSHIP_WORKERS): one per core",
    )
    parser.add_argument(
        "--only-register",
        action="store_true",
        help="only RegisterMember at each level against Health.Check (the foundation's figures)",
    )
    parser.add_argument(
        "--only-matching", action="store_true", help="only the matching stage (no services)"
    )
    parser.add_argument(
        "--only-brokers",
        action="store_true",
        help="only the Apache Kafka against embedded broker stage",
    )
    parser.add_argument(
        "--matching-queries", type=int, default=200, help="suggestion calls timed per kind"
    )
    args = parser.parse_args()
    # SIGTERM as Ctrl-C: the stages' cleanup runs (Apache Kafka is stopped, not left behind).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Library warnings (a client's retry) as context lines, not mixed into the figures.
    logging.basicConfig(level=logging.WARNING, format="# %(name)s: %(message)s")
    if min(args.seconds, args.warmup, args.events, args.matching_queries) <= 0:
        parser.error("--seconds, --warmup, --events and --matching-queries must be positive")
    if args.projection_events < 2:
        parser.error("--projection-events must be at least 2")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
