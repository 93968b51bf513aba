"""`bizclub export-indicators`: the programme's indicators as CSV, from the analytics service.

    bizclub export-indicators --province TH-41 --from 2569-01 --to 2569-06 > out.csv

Months are `YYYY-MM`; a year of 2400 or more is Buddhist era (2569-01 is January 2026).
The file is analytics' own export (UTF-8 with a BOM, so Excel shows the Thai), scoped
to what the token may see: a province officer gets their provinces only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path

import grpc
from bizclub.analytics.v1 import analytics_service_pb2, analytics_service_pb2_grpc
from bizclub_shared.grpc_server import channel, field_violations
from bizclub_shared.provinces import PROVINCES

MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def month(text: str) -> analytics_service_pb2.Month:
    match = MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: write YYYY-MM, e.g. 2569-01")
    return analytics_service_pb2.Month(year=int(match.group(1)), month=int(match.group(2)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--province", default="", help="e.g. TH-41 (default: every you may see)")
    parser.add_argument("--cluster", default="", help="one cluster of the province, e.g. food")
    parser.add_argument("--from", dest="start", type=month, default=None, help="e.g. 2569-01")
    parser.add_argument("--to", dest="end", type=month, default=None, help="e.g. 2569-06")
    parser.add_argument("--by-cluster", action="store_true", help="one row per cluster")
    parser.add_argument("--by-month", action="store_true", help="one row per month")
    parser.add_argument(
        "--output", type=Path, default=None, help="write here instead of standard output"
    )
    parser.add_argument(
        "--analytics",
        default=os.environ.get("BIZCLUB_ANALYTICS_ADDRESS", "127.0.0.1:50055"),
        help="analytics' gRPC address",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("BIZCLUB_TOKEN", ""),
        help="your bearer token (default: $BIZCLUB_TOKEN)",
    )


async def export(args: argparse.Namespace) -> analytics_service_pb2.ExportIndicatorsCsvResponse:
    period = analytics_service_pb2.Period()
    if args.start is not None:
        period.start_month.CopyFrom(args.start)
    if args.end is not None:
        period.end_month.CopyFrom(args.end)
    request = analytics_service_pb2.ExportIndicatorsCsvRequest(
        scope=analytics_service_pb2.Scope(province_code=args.province, cluster_code=args.cluster),
        period=period,
        by_cluster=args.by_cluster,
        by_month=args.by_month,
    )
    async with channel(args.analytics, token=lambda: args.token) as chan:
        stub = analytics_service_pb2_grpc.AnalyticsServiceStub(chan)
        reply: analytics_service_pb2.ExportIndicatorsCsvResponse = await stub.ExportIndicatorsCsv(
            request, timeout=60.0
        )
        return reply


def run(args: argparse.Namespace) -> int:
    if not args.token:
        sys.exit("bizclub: export-indicators needs your token: --token or BIZCLUB_TOKEN")
    if args.province and args.province not in PROVINCES:
        sys.exit(f"bizclub: --province {args.province!r} is not a province code; use e.g. TH-41")
    try:
        reply = asyncio.run(export(args))
    except grpc.aio.AioRpcError as err:
        violations = field_violations(err)
        detail = "; ".join(f"{f}: {d}" for f, d in violations.items()) or err.details()
        sys.exit(f"bizclub: analytics refused the export ({err.code().name}): {detail}")
    if args.output is not None:
        args.output.write_bytes(reply.content)
        print(f"{reply.rows} rows written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(reply.content)
        sys.stdout.buffer.flush()
    return 0
