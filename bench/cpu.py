"""CPU seconds of a process and of its threads, and the client connections each worker
process holds, from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(stat_file: Path) -> float:
    # utime and stime are fields 14 and 15; the command name (field 2) may hold spaces.
    fields = stat_file.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def process_cpu(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        return _stat_cpu(Path(f"/proc/{pid}/stat"))
    except OSError:
        return float("nan")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread group, over the process and its worker processes: `loop`
    (main threads), `py-threads` (Python's other threads: writer, database readers), the
    rest by OS name (gRPC's own)."""
    totals: dict[str, float] = {}
    for process in [pid, *_children(pid)]:
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                name = "loop" if task.name == str(process) else (task / "comm").read_text().strip()
                if name.startswith("python"):
                    name = "py-threads"
                totals[name] = totals.get(name, 0.0) + _stat_cpu(task / "stat")
            except OSError:  # the thread ended meanwhile
                continue
    return totals


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established TCP connections on local `port` held by each of `pid`'s worker processes
    (or by `pid` itself when it has none): how the kernel spread the callers."""
    established: set[str] = set()  # socket inodes
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "ADDR:PORT" (hex), state 01 = ESTABLISHED, inode in field 10
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "01":
                established.add(fields[9])
    counts = []
    for process in _children(pid) or [pid]:
        held = 0
        try:
            for fd in Path(f"/proc/{process}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:  # closed meanwhile
                    continue
                if target.startswith("socket:[") and target[8:-1] in established:
                    held += 1
        except OSError:  # the process ended
            continue
        counts.append(held)
    return counts


# /proc/stat's "cpu" line, in its order; iowait is idle waiting on the disk, and steal is
# time the hypervisor gave this VM's virtual CPUs to someone else while they had work.
_MACHINE_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_cpu(stat_text: str | None = None) -> dict[str, int]:
    """The machine's CPU ticks so far, all cores, by kind (Linux's /proc/stat)."""
    if stat_text is None:
        try:
            stat_text = Path("/proc/stat").read_text()
        except OSError:
            return {}
    fields = stat_text.splitlines()[0].split()
    if fields[0] != "cpu":
        return {}
    return {name: int(value) for name, value in zip(_MACHINE_FIELDS, fields[1:], strict=False)}


def machine_shares(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Each kind's share of all the cores' time between two `machine_cpu` readings."""
    spent = {name: after[name] - before.get(name, 0) for name in after}
    total = sum(spent.values())
    return {name: ticks / total for name, ticks in spent.items()} if total > 0 else {}
