"""A service process runs on the event loop its settings name: uvloop by default,
asyncio's own loop on request, and a clear message where uvloop is missing."""

from __future__ import annotations

import asyncio
import sys

import pytest
from bizclub_shared.service import run_on_event_loop
from membership.app import MembershipSettings
from pydantic import ValidationError


def loop_module(settings: MembershipSettings) -> str:
    ran_on: list[str] = []

    async def main() -> None:
        ran_on.append(type(asyncio.get_running_loop()).__module__)

    run_on_event_loop(main(), settings)
    return ran_on[0]


def test_uvloop_by_default() -> None:
    assert loop_module(MembershipSettings()).startswith("uvloop")


def test_asyncio_loop_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERSHIP_EVENT_LOOP", "asyncio")
    assert loop_module(MembershipSettings()).startswith("asyncio")


def test_uvloop_missing_names_the_setting_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows: import fails
    with pytest.raises(SystemExit) as stopped:
        loop_module(MembershipSettings())
    assert "uvloop is not installed" in str(stopped.value)
    assert "set MEMBERSHIP_EVENT_LOOP=asyncio" in str(stopped.value)


def test_an_unknown_loop_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBERSHIP_EVENT_LOOP", "libuv")
    with pytest.raises(ValidationError, match="event_loop"):
        MembershipSettings()
