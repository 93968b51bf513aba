"""Regenerate the Python contracts from proto/ (make proto).

One command, so CI can check that what is committed is what proto/ says:
`python tools/gen_proto.py --out DIR` writes elsewhere for the staleness test.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
DEFAULT_OUT = ROOT / "libs" / "contracts" / "src"


def generate(out: Path) -> None:
    package_dir = out / "bizclub"
    if package_dir.exists():
        shutil.rmtree(package_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed: see the message above")
    # Plain packages (not namespace packages) so mypy and wheels see every level.
    for directory in [package_dir, *(d for d in package_dir.rglob("*") if d.is_dir())]:
        (directory / "__init__.py").touch()
    (package_dir / "py.typed").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
