"""The protobuf contracts: generated Python is current, and buf lint passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "libs" / "contracts" / "src" / "bizclub"


def _files(base: Path) -> set[Path]:
    return {
        p.relative_to(base) for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_contracts_are_current(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_proto.py"), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"tools/gen_proto.py failed:\n{result.stdout}{result.stderr}"
    fresh = tmp_path / "bizclub"
    generated, committed = _files(fresh), _files(COMMITTED)
    hint = "the generated contracts are stale: run `make proto` and commit the result"

    missing = sorted(str(p) for p in generated - committed)
    assert not missing, f"{hint}; not under libs/contracts/src/bizclub: {missing}"
    extra = sorted(str(p) for p in committed - generated)
    assert not extra, f"{hint}; no longer generated from proto/: {extra}"
    differ = sorted(
        str(p) for p in generated if (fresh / p).read_bytes() != (COMMITTED / p).read_bytes()
    )
    assert not differ, f"{hint}; differ from proto/: {differ}"


def test_buf_lint() -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH: tools/buf.sh installs buf from npm (@bufbuild/buf)")
    result = subprocess.run(
        [str(ROOT / "tools" / "buf.sh"), "lint", "proto"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"buf lint proto failed:\n{result.stdout}{result.stderr}"
