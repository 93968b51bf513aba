"""The bench's reading of the machine's CPU: how much of the cores the host took."""

from __future__ import annotations

import sys
import time

import pytest

from bench.cpu import machine_cpu, machine_shares

# Two readings of /proc/stat ten seconds apart on two cores (100 ticks a second each):
# 2,000 ticks in all, of which 500 stolen by the host and 150 idle (100 of it on the disk).
BEFORE = "cpu  1000 10 300 5000 40 0 20 200 0 0\ncpu0 500 5 150 2500 20 0 10 100 0 0\n"
AFTER = "cpu  2150 10 500 5050 140 0 20 700 0 0\ncpu0 1000 5 250 2525 70 0 10 350 0 0\n"


def test_shares_come_from_the_right_columns_of_the_all_cores_line() -> None:
    shares = machine_shares(machine_cpu(BEFORE), machine_cpu(AFTER))

    assert shares["steal"] == pytest.approx(0.25)
    assert shares["idle"] + shares["iowait"] == pytest.approx(0.075)
    assert shares["user"] == pytest.approx(0.575)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_no_time_between_readings_gives_no_shares_rather_than_dividing_by_zero() -> None:
    assert machine_shares(machine_cpu(BEFORE), machine_cpu(BEFORE)) == {}


@pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc")
def test_this_machine_is_read_and_its_time_moves_on() -> None:
    before = machine_cpu()
    give_up = time.monotonic() + 5
    # A tick is 10 ms: spin until one has passed.
    while sum(machine_cpu().values()) == sum(before.values()) and time.monotonic() < give_up:
        pass

    shares = machine_shares(before, machine_cpu())

    assert set(shares) >= {"user", "system", "idle", "steal"}
    assert sum(shares.values()) == pytest.approx(1.0)
