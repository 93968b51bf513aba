"""Several worker processes for one service on one machine (`<SERVICE>_WORKERS=n`).

One Python process runs its gRPC handlers and its writer under one GIL, so it uses
about one core whatever the machine has. With workers > 1, `python -m <service>`
becomes a supervisor: it brings the database to the newest migration, checks the
port is free, and starts the same command n times as worker processes. The workers
listen on the one port with SO_REUSEPORT (the kernel spreads client connections over
them), share the database (SQLite's write lock, or PostgreSQL), and one of them at a
time relays the outbox (see outbox.RelayLock). Only worker 0 seeds demo data.

The supervisor stops the workers on SIGTERM or SIGINT. If a worker dies, it stops the
others and exits with that worker's status, so whatever restarts the service (the
platform's launcher, Kubernetes) restarts all of it. With `<SERVICE>_PIN_WORKERS=true`
each worker pins itself to one CPU (`pin_to_one_cpu`).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from bizclub_shared.grpc_server import check_port_free
from bizclub_shared.migrations import Migrations
from bizclub_shared.settings import ServiceSettings

log = logging.getLogger(__name__)
WORKER_INDEX_ENV = "BIZCLUB_WORKER_INDEX"
STOP_SECONDS = 30.0


def supervise(settings: ServiceSettings, migrations: Migrations) -> int:
    """Run `settings.workers` copies of this process's command; return the exit status."""
    if settings.grpc_port == 0:
        raise SystemExit(
            f"{settings.service_name}: workers={settings.workers} needs a fixed gRPC port "
            "(the workers share it); set the service's GRPC_PORT"
        )
    migrations.upgrade(settings.resolved_database_url())  # once, before any worker reads
    check_port_free(settings.grpc_host, settings.grpc_port)
    prefix = type(settings).model_config.get("env_prefix", "")
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers: list[subprocess.Popen[bytes]] = []
    for index in range(settings.workers):
        env = {**os.environ, WORKER_INDEX_ENV: str(index)}
        if index > 0:
            env[f"{prefix}SEED_DEMO_DATA"] = "false"
        workers.append(subprocess.Popen(sys.orig_argv, env=env))
    log.info(
        "%s: %d worker processes (%s) on port %d",
        settings.service_name,
        len(workers),
        ", ".join(str(w.pid) for w in workers),
        settings.grpc_port,
    )
    status = 0
    while not stopping:
        ended = [w for w in workers if w.poll() is not None]
        if ended:
            status = ended[0].returncode or 1
            log.error(
                "%s: worker %d exited with status %s; stopping the others",
                settings.service_name,
                ended[0].pid,
                ended[0].returncode,
            )
            break
        time.sleep(0.2)
    _stop(workers)
    return status


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker %d did not stop in %.0f s; killing it", worker.pid, STOP_SECONDS)
            worker.kill()
            worker.wait()


def pin_to_one_cpu(index: int) -> int:
    """Pin this process to the `index`-th CPU it may run on (round robin); return it.

    Every thread the process has now is pinned; threads started later inherit it.
    """
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[index % len(cpus)]
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), {cpu})
        except ProcessLookupError:  # a thread that has just ended
            pass
    return cpu
