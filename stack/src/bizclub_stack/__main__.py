"""`python -m bizclub_stack` (make run): the whole platform on one machine.

Starts the embedded Kafka-protocol broker (Tansu; or uses KAFKA_BOOTSTRAP_SERVERS),
creates the topics, starts every service as its own process with its SQLite file
under var/, seeds the Udon Thani demo network, and supervises them until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_service_pb2, membership_service_pb2_grpc
from bizclub_shared.auth import SigningKeys
from bizclub_shared.broker import BrokerStartError, EmbeddedBroker
from bizclub_shared.grpc_server import channel
from bizclub_shared.topics import ALL_TOPICS, ensure_topics
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bizclub_stack.cli import demo_callers, local_keys

log = logging.getLogger("bizclub.stack")


@dataclass
class ServiceProcess:
    name: str  # the Python package: `python -m <name>`
    port: int
    env_prefix: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    log_file: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    http: bool = False  # a web server (health: GET /healthz) rather than a gRPC service


SERVICES = [
    ServiceProcess("membership", 50051, "MEMBERSHIP_"),
    ServiceProcess("training", 50052, "TRAINING_"),
    ServiceProcess("matching", 50053, "MATCHING_"),
    ServiceProcess("feedback", 50054, "FEEDBACK_"),
    ServiceProcess("analytics", 50055, "ANALYTICS_"),
    # The operator console; the local demo signs in by picking a demo role.
    ServiceProcess(
        "console", 8080, "CONSOLE_", extra_env={"CONSOLE_DEMO_LOGIN": "true"}, http=True
    ),
]


def service_env(
    service: ServiceProcess, bootstrap: str, data_dir: Path, seed: bool
) -> dict[str, str]:
    env = dict(os.environ)
    env["BIZCLUB_AUTH_KEYS"], env["BIZCLUB_AUTH_SIGNING_KEY_ID"] = local_keys(data_dir)
    env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    env["BIZCLUB_DATA_DIR"] = str(data_dir)
    env[f"{service.env_prefix}{'HTTP' if service.http else 'GRPC'}_PORT"] = str(service.port)
    env[f"{service.env_prefix}SEED_DEMO_DATA"] = "true" if seed else "false"
    # Each service finds the others at their local ports, e.g. TRAINING_MEMBERSHIP_ADDRESS.
    for other in SERVICES:
        if other is not service and not other.http:
            env[f"{service.env_prefix}{other.name.upper()}_ADDRESS"] = f"127.0.0.1:{other.port}"
    env.update(service.extra_env)
    return env


def spawn(service: ServiceProcess, env: dict[str, str], logs: Path) -> None:
    service.log_file = logs / f"{service.name}.log"
    handle = service.log_file.open("ab")
    service.process = subprocess.Popen(
        [sys.executable, "-m", service.name], env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    handle.close()
    service.started_at = time.monotonic()


async def http_healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 1.0)
        return status_line.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def wait_serving(service: ServiceProcess, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    if service.http:
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log_file}")
            if await http_healthy(service.port):
                return
            await asyncio.sleep(0.3)
        raise RuntimeError(
            f"{service.name} did not answer within {within:.0f}s; see {service.log_file}"
        )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log_file}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(
        f"{service.name} did not report SERVING within {within:.0f}s; see {service.log_file}"
    )


def stop_process(service: ServiceProcess, grace: float = 10.0) -> None:
    proc = service.process
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def demo_member_id(data_dir: Path) -> str:
    """A seeded Udon Thani member, for the demo member token ("" when none)."""
    keys = SigningKeys.from_json(*local_keys(data_dir))
    officer = dict(demo_callers())["province_officer TH-41"]
    target = f"127.0.0.1:{SERVICES[0].port}"
    async with channel(target, token=lambda: keys.issue(officer, ttl_seconds=60)) as chan:
        with contextlib.suppress(grpc.aio.AioRpcError):
            reply = await membership_service_pb2_grpc.MembershipServiceStub(chan).ListMembers(
                membership_service_pb2.ListMembersRequest(
                    province_code="TH-41", page=common_pb2.PageRequest(page_size=1)
                ),
                timeout=5.0,
            )
            return reply.members[0].member_id if reply.members else ""
    return ""


def print_banner(bootstrap: str, embedded: bool, data_dir: Path, member_id: str) -> None:
    lines = [
        "",
        "MOC Biz Club platform is up (Udon Thani demo network seeded).",
        f"  broker      {bootstrap}  ({'embedded Tansu: its event log lives in memory only' if embedded else 'external'})",
    ]
    lines += [
        f"  {s.name:<11} 127.0.0.1:{s.port}  (gRPC; log {s.log_file})"
        for s in SERVICES
        if not s.http
    ]
    lines += [
        f"  {s.name:<11} http://localhost:{s.port}/  (open it in a browser; log {s.log_file})"
        for s in SERVICES
        if s.http
    ]
    lines += [
        f"  data        {data_dir}/  (SQLite files, kept across restarts)",
        "",
        "Demo tokens (12 h; more with `uv run bizclub token --help`):",
    ]
    keys = SigningKeys.from_json(*local_keys(data_dir))
    lines += [
        f"  {label:<24} {keys.issue(c, ttl_seconds=12 * 3600)}"
        for label, c in demo_callers(member_id)
    ]
    lines += [
        "",
        "Try:",
        "  the operator console: http://localhost:8080/ (sign in by picking a demo role)",
        "  tools/install-grpcurl.sh && tools/bin/grpcurl -plaintext localhost:50051 list",
        "  TOKEN=$(uv run bizclub token --role province_officer --province TH-41)",
        '  tools/bin/grpcurl -plaintext -H "authorization: Bearer $TOKEN" \\',
        '      -d \'{"province_code":"TH-41","page":{"page_size":3}}\' \\',
        "      localhost:50051 bizclub.membership.v1.MembershipService/ListMembers",
        f"  tools/kcat -C -b {bootstrap} -t bizclub.membership.v1 -f '%h\\n' -e",
        "",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    logs = data_dir / "logs"
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker: EmbeddedBroker | None = None
    if external:
        bootstrap = external
    else:
        broker = EmbeddedBroker(port=args.broker_port, log_path=logs / "broker.log")
        try:
            await broker.start()
        except BrokerStartError as exc:
            sys.exit(f"cannot start the embedded broker: {exc}")
        bootstrap = broker.bootstrap_servers
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await ensure_topics(bootstrap, list(ALL_TOPICS))
        for service in SERVICES:
            spawn(service, service_env(service, bootstrap, data_dir, not args.no_seed), logs)
        for service in SERVICES:
            await wait_serving(service)
        print_banner(bootstrap, broker is not None, data_dir, await demo_member_id(data_dir))
        await supervise(stop, bootstrap, data_dir, logs, args)
    finally:
        print("stopping…", flush=True)
        for service in SERVICES:
            stop_process(service)
        if broker is not None:
            await broker.stop()


async def supervise(
    stop: asyncio.Event, bootstrap: str, data_dir: Path, logs: Path, args: argparse.Namespace
) -> None:
    """Restart a service that exits on its own, backing off if it keeps failing."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        for service in SERVICES:
            if stop.is_set() or service.process is None or service.process.poll() is None:
                continue
            service.restarts += 1
            delay = min(2 ** min(service.restarts, 5), 30)
            log.warning(
                "%s exited with %s; restarting in %ds (see %s)",
                service.name,
                service.process.returncode,
                delay,
                service.log_file,
            )
            await asyncio.sleep(delay)
            spawn(service, service_env(service, bootstrap, data_dir, not args.no_seed), logs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bizclub_stack", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("BIZCLUB_DATA_DIR", "var"))
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument(
        "--no-seed", action="store_true", help="start without the Udon Thani demo data"
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, data_dir))
    # Everything is stopped. A late Ctrl-C (a second press, or one `uv run` passes on)
    # would otherwise kill the interpreter as it exits: status 130 for a clean stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
