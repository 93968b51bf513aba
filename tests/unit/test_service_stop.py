"""Stopping a service is bounded step by step, even when a step will not be cancelled."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from bizclub_shared.service import stop_within


async def test_a_step_that_ignores_cancellation_is_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        # As an aiokafka client retrying a dead broker does: cancellation is swallowed.
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        await stop_within(stubborn(), "the stubborn client", seconds=0.3)
    assert time.monotonic() - started < 2.0
    assert "the stubborn client did not finish in 0.3 s; left behind" in caplog.text
    release.set()  # let it go, so the suite's loop has no task left over
    await asyncio.sleep(0.1)


async def test_a_step_that_finishes_is_waited_for() -> None:
    finished: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.05)
        finished.append("done")

    await stop_within(quick(), "a quick step", seconds=5)
    assert finished == ["done"]
