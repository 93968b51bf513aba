"""CPU seconds of a process and of its threads, from /proc (Linux)."""

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
