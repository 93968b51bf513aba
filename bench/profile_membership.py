"""Run the membership service under cProfile (CPU time per thread) and time its commits.

Used by `python -m bench --profile OUT`; by hand: the same env as `python -m membership`
plus BENCH_PROFILE_OUT=OUT. On SIGTERM it writes OUT (the event-loop thread, pstats),
OUT.writer (the writer thread, when commits run in one) and OUT.commits.txt (batch
sizes and commit times). BENCH_CPROFILE=0 keeps only the commit timings, at full speed.
Nothing here changes the service's code; it wraps Writer._commit_next_batch from outside.
"""

from __future__ import annotations

import cProfile
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bizclub_shared.unit_of_work import Writer
from membership.app import main

_CPROFILE = os.environ.get("BENCH_CPROFILE", "1") != "0"
_batches: list[tuple[int, float]] = []
# CPU time, not wall time: a wall clock would charge GIL waits to whatever was waiting.
_writer_profile = cProfile.Profile(time.thread_time)


def _instrument(commit: Callable[[Writer, list[Any]], None]) -> Callable[..., None]:
    """Wraps Writer._commit_next_batch, which runs in the writer thread."""

    def commit_batch(self: Writer, batch: list[Any]) -> None:
        started = time.perf_counter()
        if _CPROFILE:
            _writer_profile.enable()  # profiles this (the writer) thread only
        try:
            commit(self, batch)
        finally:
            if _CPROFILE:
                _writer_profile.disable()
            _batches.append((len(batch), time.perf_counter() - started))

    return commit_batch


def _write_commits(path: Path) -> None:
    if not _batches:
        return
    sizes = [n for n, _ in _batches]
    millis = [s * 1000 for _, s in _batches]
    path.write_text(
        f"batches {len(_batches)}, operations {sum(sizes)}\n"
        f"batch size mean {statistics.mean(sizes):.1f}, max {max(sizes)}\n"
        f"commit ms mean {statistics.mean(millis):.2f}, p50 {statistics.median(millis):.2f}, "
        f"max {max(millis):.2f}, total {sum(millis) / 1000:.2f} s\n"
    )


def run() -> None:
    out = Path(os.environ["BENCH_PROFILE_OUT"])
    Writer._commit_next_batch = _instrument(Writer._commit_next_batch)  # type: ignore[method-assign, unused-ignore]
    profiler = cProfile.Profile(time.thread_time)
    if _CPROFILE:
        profiler.enable()
    try:
        main()
    finally:
        profiler.disable()
        if _CPROFILE:
            profiler.dump_stats(out)
        if _writer_profile.getstats():
            _writer_profile.dump_stats(out.with_suffix(out.suffix + ".writer"))
        _write_commits(out.with_suffix(out.suffix + ".commits.txt"))


if __name__ == "__main__":
    run()
