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
    """CPU seconds per thread group: `loop` (the main thread), `py-threads` (Python's
    other threads: writer, database readers), the rest by OS name (gRPC's own)."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "loop" if task.name == str(pid) else (task / "comm").read_text().strip()
            if name.startswith("python"):
                name = "py-threads"
            totals[name] = totals.get(name, 0.0) + _stat_cpu(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
    return totals
