"""`bizclub …`: the command line for officers and operators.

    bizclub token --role province_officer --province TH-41 --subject somchai
    bizclub demo-tokens
    bizclub import-members รายชื่อสมาชิก.xlsx --province TH-41
    bizclub dlq list | bizclub dlq replay --topic bizclub.membership.v1 --at 0:3
    bizclub export-indicators --province TH-41 --from 2569-01 --to 2569-06 > out.csv

Tokens are signed with the keys in BIZCLUB_AUTH_KEYS, or else the local stack's
key file (var/auth-keys.json, written by `make run` on first start).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from bizclub_shared.auth import Caller, Role, SigningKeys
from bizclub_shared.provinces import PROVINCES

from bizclub_stack import dead_letters, indicators, member_import

UDON_THANI, KHON_KAEN = "TH-41", "TH-40"


def keys_file(data_dir: Path) -> Path:
    return data_dir / "auth-keys.json"


def local_keys(data_dir: Path) -> tuple[str, str]:
    """(keys JSON, signing key id) from the environment, or the stack's key file,
    created with a fresh random key the first time."""
    if os.environ.get("BIZCLUB_AUTH_KEYS"):
        return os.environ["BIZCLUB_AUTH_KEYS"], os.environ.get("BIZCLUB_AUTH_SIGNING_KEY_ID", "")
    path = keys_file(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        kid = datetime.now(UTC).strftime("local-%Y%m%d")
        path.write_text(json.dumps({kid: secrets.token_urlsafe(48)}))
        path.chmod(0o600)
    return path.read_text(), ""


def demo_callers(member_id: str = "") -> list[tuple[str, Caller]]:
    """One caller per role, for the Udon Thani demo (a member's when one is named)."""
    callers = [
        ("central", Caller("central:demo", Role.CENTRAL)),
        (
            "province_officer TH-41",
            Caller("officer:udonthani-demo", Role.PROVINCE_OFFICER, frozenset({UDON_THANI})),
        ),
        (
            "province_officer TH-40",
            Caller("officer:khonkaen-demo", Role.PROVINCE_OFFICER, frozenset({KHON_KAEN})),
        ),
        (
            "cluster_lead TH-41 food",
            Caller("lead:food-demo", Role.CLUSTER_LEAD, frozenset({UDON_THANI}), cluster="food"),
        ),
        ("service", Caller("service:demo", Role.SERVICE)),
    ]
    if member_id:
        member = Caller(
            f"member:{member_id}", Role.MEMBER, frozenset({UDON_THANI}), member_id=member_id
        )
        callers.append(("member TH-41", member))
    return callers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bizclub", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("BIZCLUB_DATA_DIR", "var"))
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="issue a signed token for gRPC calls")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument(
        "--province", action="append", default=[], help="a province code, e.g. TH-41 (repeat)"
    )
    token.add_argument("--cluster", default="", help="the cluster code a cluster lead leads")
    token.add_argument("--member-id", default="", help="the member a member token speaks for")
    token.add_argument("--subject", default="", help="who the operator is, e.g. officer:somchai")
    token.add_argument("--ttl-hours", type=float, default=8.0)
    demo = commands.add_parser("demo-tokens", help="one token per role for the local demo")
    demo.add_argument("--member-id", default="", help="also a member token for this member")
    member_import.add_arguments(
        commands.add_parser(
            "import-members",
            help="register the members of a provincial office's list (.csv, .xlsx)",
            description=member_import.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    dead_letters.add_arguments(
        commands.add_parser(
            "dlq",
            help="inspect and replay dead-lettered events",
            description=dead_letters.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    indicators.add_arguments(
        commands.add_parser(
            "export-indicators",
            help="the programme's indicators as CSV (from analytics)",
            description=indicators.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    args = parser.parse_args(argv)
    if args.command == "export-indicators":
        sys.exit(indicators.run(args))
    if args.command == "import-members":
        sys.exit(member_import.run(args))
    if args.command == "dlq":
        sys.exit(dead_letters.run(args))

    keys_json, signing_kid = local_keys(Path(args.data_dir))
    try:
        keys = SigningKeys.from_json(keys_json, signing_kid)
    except ValueError as err:
        sys.exit(f"bizclub: {err}")
    if args.command == "demo-tokens":
        for label, caller in demo_callers(args.member_id):
            print(f"{label:<24} {keys.issue(caller, ttl_seconds=12 * 3600)}")
        return
    bad = [p for p in args.province if p not in PROVINCES]
    if bad:
        sys.exit(f"bizclub: --province {bad[0]!r} is not a province code; use e.g. TH-41")
    role = Role(args.role)
    if role in (Role.PROVINCE_OFFICER, Role.CLUSTER_LEAD, Role.MEMBER) and not args.province:
        sys.exit(f"bizclub: a {role.value} token needs --province (e.g. --province TH-41)")
    if role is Role.CLUSTER_LEAD and not args.cluster:
        sys.exit("bizclub: a cluster_lead token needs --cluster (e.g. --cluster food)")
    if role is Role.MEMBER and not args.member_id:
        sys.exit("bizclub: a member token needs --member-id")
    if args.ttl_hours <= 0 or args.ttl_hours > 24 * 30:
        sys.exit("bizclub: --ttl-hours must be between 0 and 720")
    caller = Caller(
        args.subject or f"{role.value}:{os.environ.get('USER', 'local')}",
        role,
        frozenset(args.province),
        args.cluster,
        args.member_id,
    )
    print(keys.issue(caller, ttl_seconds=args.ttl_hours * 3600))


if __name__ == "__main__":
    main()
