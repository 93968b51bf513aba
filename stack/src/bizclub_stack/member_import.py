"""`bizclub import-members FILE`: register the members on a provincial office's list.

The list is a CSV (UTF-8 or the Thai Windows code page, as Excel saves it) or an
Excel workbook (.xlsx, first sheet), one member per row under a header row. Headers
may be Thai or English (listed below; case, spaces, `_` and a `*` are ignored).

Each row is checked here first (required columns, the 13-digit tax ID and its
checksum, known enterprise types, sales channels and clusters, a baht amount, the
same tax ID twice in one file), then sent to membership's RegisterMember, whose own
validation has the last word: its field violations are reported against the
file's columns. The tax ID is the natural key: membership refuses a second member
with the same tax ID (ALREADY_EXISTS), so a row imported by an earlier run counts
as "already imported" and a re-run imports nothing twice.

Every row that was not imported is named in a report (CSV: the spreadsheet's row
number as the officer sees it, the column, and why).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import grpc
from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import (
    membership_pb2,
    membership_service_pb2,
    membership_service_pb2_grpc,
)
from bizclub_shared.errors import FieldViolations
from bizclub_shared.grpc_server import channel, field_violations
from bizclub_shared.provinces import PROVINCES
from bizclub_shared.thai_text import normalize
from bizclub_shared.validation import check_thai_id
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass(frozen=True)
class Column:
    key: str  # our name for it, also the English header
    headers: tuple[str, ...]  # every header accepted for it (Thai first)
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("business_name_th", ("ชื่อกิจการ", "ชื่อสถานประกอบการ", "business_name_th"), True),
    Column("business_name_en", ("ชื่อกิจการภาษาอังกฤษ", "ชื่อภาษาอังกฤษ", "business_name_en")),
    Column(
        "tax_id",
        ("เลขประจำตัวผู้เสียภาษี", "เลขทะเบียนนิติบุคคล", "เลขผู้เสียภาษี", "tax_id"),
        True,
    ),
    Column("province", ("จังหวัด", "province")),
    Column("cluster", ("คลัสเตอร์", "กลุ่มธุรกิจ", "cluster"), True),
    Column("enterprise_type", ("ประเภทกิจการ", "ประเภท", "enterprise_type"), True),
    Column("products", ("สินค้า", "ผลิตภัณฑ์", "products")),
    Column("sales_channels", ("ช่องทางการขาย", "sales_channels")),
    Column(
        "baseline_revenue_thb",
        ("รายได้ต่อเดือน", "รายได้ต่อเดือน (บาท)", "รายได้เฉลี่ยต่อเดือน", "baseline_revenue_thb"),
    ),
    Column("contact_name", ("ชื่อผู้ติดต่อ", "ผู้ติดต่อ", "contact_name"), True),
    Column("phone", ("โทรศัพท์", "เบอร์โทร", "เบอร์โทรศัพท์", "phone")),
    Column("email", ("อีเมล", "อีเมล์", "email")),
    Column("national_id", ("เลขประจำตัวประชาชน", "เลขบัตรประชาชน", "national_id")),
)

ENTERPRISE_TYPES: dict[str, int] = {
    "sme": membership_pb2.ENTERPRISE_TYPE_SME,
    "เอสเอ็มอี": membership_pb2.ENTERPRISE_TYPE_SME,
    "วิสาหกิจขนาดกลางและขนาดย่อม": membership_pb2.ENTERPRISE_TYPE_SME,
    "วิสาหกิจชุมชน": membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
    "community enterprise": membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
    "community_enterprise": membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE,
    "otop": membership_pb2.ENTERPRISE_TYPE_OTOP,
    "โอทอป": membership_pb2.ENTERPRISE_TYPE_OTOP,
    "young smart trader": membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER,
    "young_smart_trader": membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER,
    "ysmart": membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER,
    "ผู้ประกอบการรุ่นใหม่": membership_pb2.ENTERPRISE_TYPE_YOUNG_SMART_TRADER,
}

SALES_CHANNELS: dict[str, int] = {
    "ตลาดท้องถิ่น": common_pb2.SALES_CHANNEL_LOCAL_MARKET,
    "ตลาดชุมชน": common_pb2.SALES_CHANNEL_LOCAL_MARKET,
    "local market": common_pb2.SALES_CHANNEL_LOCAL_MARKET,
    "ห้างสรรพสินค้า": common_pb2.SALES_CHANNEL_DEPARTMENT_STORE,
    "department store": common_pb2.SALES_CHANNEL_DEPARTMENT_STORE,
    "โมเดิร์นเทรด": common_pb2.SALES_CHANNEL_MODERN_TRADE,
    "modern trade": common_pb2.SALES_CHANNEL_MODERN_TRADE,
    "ออนไลน์": common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    "ตลาดออนไลน์": common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    "online": common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    "online marketplace": common_pb2.SALES_CHANNEL_ONLINE_MARKETPLACE,
    "ส่งออก": common_pb2.SALES_CHANNEL_EXPORT,
    "export": common_pb2.SALES_CHANNEL_EXPORT,
    "ท่องเที่ยว": common_pb2.SALES_CHANNEL_TOURISM,
    "tourism": common_pb2.SALES_CHANNEL_TOURISM,
    "ค้าส่ง": common_pb2.SALES_CHANNEL_WHOLESALE,
    "wholesale": common_pb2.SALES_CHANNEL_WHOLESALE,
}

# RegisterMember's field names -> our column keys, to report its violations by column.
REQUEST_FIELDS: dict[str, str] = {
    "business_name_th": "business_name_th",
    "business_name_en": "business_name_en",
    "tax_id": "tax_id",
    "province_code": "province",
    "cluster_code": "cluster",
    "enterprise_type": "enterprise_type",
    "products": "products",
    "sales_channels": "sales_channels",
    "baseline_monthly_revenue": "baseline_revenue_thb",
    "contact.full_name": "contact_name",
    "contact.phone": "phone",
    "contact.email": "email",
    "contact.national_id": "national_id",
}

LIST_SEPARATORS = re.compile(r"[,;\n|]")
IMPORTED, ALREADY, INVALID, FAILED = "imported", "already imported", "invalid", "failed"


def header_key(text: str) -> str:
    """`Tax ID`, `tax_id` and `TAX ID*` are one header."""
    return re.sub(r"[\s_]+", " ", str(text).replace("*", "")).strip().casefold()


HEADER_TO_KEY = {header_key(h): c.key for c in COLUMNS for h in c.headers}


def term_key(text: str) -> str:
    return re.sub(r"\s+", " ", normalize(text)).casefold()


@dataclass
class SheetRow:
    number: int  # the row number the officer sees in the spreadsheet (header is row 1)
    values: dict[str, str]


@dataclass
class Problem:
    column: str
    reason: str


@dataclass
class RowResult:
    row: SheetRow
    outcome: str
    problems: list[Problem] = field(default_factory=list)
    member_id: str = ""


class ImportFileError(Exception):
    """The file cannot be read as a member list at all (no row was tried)."""


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_rows(path: Path) -> tuple[dict[str, str], list[SheetRow]]:
    """({column key: header as written}, rows); raises ImportFileError."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    table: list[tuple[object, ...]] | list[list[str]]
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        table = list(_xlsx_rows(path))
    elif path.suffix.lower() in (".csv", ".txt"):
        table = _csv_rows(path)
    else:
        raise ImportFileError(f"{path}: expected a .csv or .xlsx file")
    if not table:
        raise ImportFileError(f"{path}: the file is empty")
    headers = [cell_text(h) for h in table[0]]
    positions: dict[str, int] = {}
    written: dict[str, str] = {}
    unknown: list[str] = []
    for i, header in enumerate(headers):
        if not header:
            continue
        key = HEADER_TO_KEY.get(header_key(header))
        if key is None:
            unknown.append(header)
        elif key not in positions:
            positions[key], written[key] = i, header
    missing = [c for c in COLUMNS if c.required and c.key not in positions]
    if missing:
        names = ", ".join(f"{c.headers[0]} ({c.key})" for c in missing)
        hint = f"; columns not recognised: {', '.join(unknown)}" if unknown else ""
        raise ImportFileError(f"{path}: missing required columns: {names}{hint}")
    rows: list[SheetRow] = []
    for number, cells in enumerate(table[1:], start=2):
        texts = [cell_text(c) for c in cells]
        if not any(texts):
            continue  # blank lines between blocks are common in office lists
        values = {key: texts[i] if i < len(texts) else "" for key, i in positions.items()}
        rows.append(SheetRow(number, values))
    for column in COLUMNS:
        written.setdefault(column.key, column.headers[0])
    return written, rows


def _csv_rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp874")  # Thai Windows (TIS-620), what older Excel saves
    return list(csv.reader(text.splitlines()))


def _xlsx_rows(path: Path) -> Iterator[tuple[object, ...]]:
    import openpyxl  # only needed for Excel files

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        yield from sheet.iter_rows(values_only=True)
    finally:
        workbook.close()


def thai_id_cell(text: str) -> str:
    """Excel keeps a 13-digit ID typed as a number without its leading zero."""
    digits = text.replace("-", "").replace(" ", "")
    return digits.zfill(13) if digits.isdigit() and len(digits) == 12 else digits


def baht_to_satang(text: str) -> int | None:
    cleaned = text.replace(",", "").replace("บาท", "").replace("฿", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


class Networks:
    """Cluster codes and names of each province's network, asked of membership once."""

    def __init__(self, stub: membership_service_pb2_grpc.MembershipServiceStub) -> None:
        self._stub = stub
        self._clusters: dict[str, dict[str, str] | str] = {}
        self._lock = asyncio.Lock()

    async def clusters(self, province: str) -> dict[str, str] | str:
        """{code, Thai or English name (folded): code}, or why there are none."""
        async with self._lock:
            if province not in self._clusters:
                self._clusters[province] = await self._fetch(province)
            return self._clusters[province]

    async def _fetch(self, province: str) -> dict[str, str] | str:
        try:
            reply = await self._stub.GetNetwork(
                membership_service_pb2.GetNetworkRequest(province_code=province), timeout=10.0
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return f"{province} has no Biz Club network yet"
            return f"cannot read the clusters of {province}: {err.details()}"
        names: dict[str, str] = {}
        for c in reply.network.clusters:
            for name in (c.cluster_code, c.name_th, c.name_en):
                if name:
                    names[term_key(name)] = c.cluster_code
        return names


def province_of(text: str, default: str) -> str | None:
    if not text:
        return default or None
    if text.upper() in PROVINCES:
        return text.upper()
    wanted = term_key(text)
    for code, (name_th, name_en) in PROVINCES.items():
        if wanted in (term_key(name_th), term_key(name_en)):
            return code
    return None


async def build_request(
    row: SheetRow, default_province: str, networks: Networks
) -> tuple[membership_service_pb2.RegisterMemberRequest | None, list[Problem]]:
    """The registration of one row, or the problems found before sending it."""
    values = row.values
    problems: list[Problem] = []
    for column in COLUMNS:
        if column.required and not values.get(column.key):
            problems.append(Problem(column.key, "is required"))
    v = FieldViolations()
    tax_id = check_thai_id(v, "tax_id", thai_id_cell(values.get("tax_id", "")), required=False)
    national_id = check_thai_id(
        v, "national_id", thai_id_cell(values.get("national_id", "")), required=False
    )
    problems += [Problem(f, d) for f, d in v.violations]
    province = province_of(values.get("province", ""), default_province)
    if province is None:
        problems.append(
            Problem(
                "province",
                "is not a province: write its code (TH-41) or name (อุดรธานี)"
                if values.get("province")
                else "is empty and no --province was given",
            )
        )
    enterprise = 0
    if values.get("enterprise_type"):
        enterprise = ENTERPRISE_TYPES.get(term_key(values["enterprise_type"]), 0)
        if not enterprise:
            problems.append(
                Problem("enterprise_type", "must be SME, วิสาหกิจชุมชน, OTOP or Young Smart Trader")
            )
    channels: list[int] = []
    for name in LIST_SEPARATORS.split(values.get("sales_channels", "")):
        if not name.strip():
            continue
        channel_ = SALES_CHANNELS.get(term_key(name))
        if channel_ is None:
            problems.append(Problem("sales_channels", f"{name.strip()!r} is not a sales channel"))
        elif channel_ not in channels:
            channels.append(channel_)
    satang = 0
    if values.get("baseline_revenue_thb"):
        parsed = baht_to_satang(values["baseline_revenue_thb"])
        if parsed is None:
            problems.append(
                Problem("baseline_revenue_thb", "must be an amount in baht, e.g. 80,000")
            )
        else:
            satang = parsed
    cluster = ""
    if province is not None and values.get("cluster"):
        known = await networks.clusters(province)
        if isinstance(known, str):
            problems.append(Problem("cluster", known))
        else:
            cluster = known.get(term_key(values["cluster"]), "")
            if not cluster:
                choices = ", ".join(sorted(set(known.values())))
                problems.append(
                    Problem("cluster", f"no cluster {values['cluster']!r} in {province}: {choices}")
                )
    if problems:
        return None, problems
    assert province is not None
    products = [p.strip() for p in LIST_SEPARATORS.split(values.get("products", "")) if p.strip()]
    return (
        membership_service_pb2.RegisterMemberRequest(
            province_code=province,
            cluster_code=cluster,
            business_name_th=values["business_name_th"],
            business_name_en=values.get("business_name_en", ""),
            tax_id=tax_id,
            enterprise_type=enterprise,  # type: ignore[arg-type]
            products=products,
            sales_channels=channels,  # type: ignore[arg-type]
            baseline_monthly_revenue=common_pb2.Money(satang=satang, currency_code="THB"),
            contact=membership_pb2.Contact(
                full_name=values["contact_name"],
                phone=values.get("phone", ""),
                email=values.get("email", ""),
                national_id=national_id,
            ),
        ),
        [],
    )


def request_field_column(request_field: str) -> str:
    base = re.sub(r"\[\d+\]", "", request_field)
    if base in REQUEST_FIELDS:
        return REQUEST_FIELDS[base]
    return REQUEST_FIELDS.get(base.split(".")[0], base)


async def register(
    stub: membership_service_pb2_grpc.MembershipServiceStub,
    row: SheetRow,
    request: membership_service_pb2.RegisterMemberRequest,
    attempts: int = 4,
) -> RowResult:
    for attempt in range(attempts):
        try:
            reply = await stub.RegisterMember(request, timeout=30.0)
            return RowResult(row, IMPORTED, member_id=reply.member.member_id)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.ALREADY_EXISTS:
                return RowResult(row, ALREADY, [Problem("tax_id", err.details() or "")])
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                violations = field_violations(err)
                problems = [Problem(request_field_column(f), d) for f, d in violations.items()]
                return RowResult(row, INVALID, problems or [Problem("", err.details() or "")])
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and (
                attempt + 1 < attempts
            ):
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            return RowResult(row, FAILED, [Problem("", f"{code.name}: {err.details()}")])
    raise AssertionError("unreachable")


async def import_rows(
    rows: list[SheetRow],
    *,
    membership: str,
    token: str,
    default_province: str,
    concurrency: int,
    show_progress: bool,
) -> list[RowResult]:
    # The same tax ID twice in one file: the later rows name the first (found before
    # sending, so which row is imported does not depend on which reply came first).
    first_with: dict[str, int] = {}
    duplicate_of: dict[int, int] = {}
    for row in rows:
        tax_id = thai_id_cell(row.values.get("tax_id", ""))
        if tax_id:
            first = first_with.setdefault(tax_id, row.number)
            if first != row.number:
                duplicate_of[row.number] = first
    results: list[RowResult] = []
    with Progress(
        TextColumn("[bold]นำเข้าสมาชิก[/bold] importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("import", total=len(rows))
        async with channel(membership, token=lambda: token) as chan:
            stub = membership_service_pb2_grpc.MembershipServiceStub(chan)
            networks = Networks(stub)
            limit = asyncio.Semaphore(concurrency)

            async def one(row: SheetRow) -> RowResult:
                async with limit:
                    request, problems = await build_request(row, default_province, networks)
                    if row.number in duplicate_of:
                        problems.append(
                            Problem(
                                "tax_id",
                                f"the same tax ID as row {duplicate_of[row.number]} of this file",
                            )
                        )
                    if request is None or problems:
                        result = RowResult(row, INVALID, problems)
                    else:
                        result = await register(stub, row, request)
                progress.advance(task)
                return result

            results = await asyncio.gather(*(one(r) for r in rows))
    return results


def write_report(path: Path, results: list[RowResult], headers: dict[str, str]) -> int:
    """One line per problem of each row that was not imported; returns the lines written."""
    lines = 0
    with path.open("w", newline="", encoding="utf-8-sig") as out:  # the BOM: Excel reads Thai
        writer = csv.writer(out)
        writer.writerow(["row", "outcome", "column", "problem", "tax_id", "business_name_th"])
        for result in sorted(results, key=lambda r: r.row.number):
            if result.outcome in (IMPORTED, ALREADY):
                continue
            for problem in result.problems:
                writer.writerow(
                    [
                        result.row.number,
                        result.outcome,
                        headers.get(problem.column, problem.column),
                        problem.reason,
                        result.row.values.get("tax_id", ""),
                        result.row.values.get("business_name_th", ""),
                    ]
                )
                lines += 1
    return lines


def columns_help() -> str:
    lines = ["columns (Thai or English header; * required):"]
    for column in COLUMNS:
        star = "*" if column.required else " "
        lines.append(f"  {star} {column.key:<21} {', '.join(column.headers[:-1])}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = columns_help()
    parser.add_argument("file", type=Path, help="the member list: .csv or .xlsx")
    parser.add_argument(
        "--province", default="", help="province of rows without a จังหวัด column, e.g. TH-41"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="where to write the rows not imported (default: FILE.report.csv)",
    )
    parser.add_argument(
        "--membership",
        default=os.environ.get("BIZCLUB_MEMBERSHIP_ADDRESS", "127.0.0.1:50051"),
        help="membership's gRPC address",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("BIZCLUB_TOKEN", ""),
        help="your bearer token (default: $BIZCLUB_TOKEN)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="registrations in flight")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if not args.token:
        sys.exit(
            "bizclub: import-members needs your token: --token or BIZCLUB_TOKEN "
            "(e.g. export BIZCLUB_TOKEN=$(uv run bizclub token --role province_officer --province TH-41))"
        )
    if args.province and args.province not in PROVINCES:
        sys.exit(f"bizclub: --province {args.province!r} is not a province code; use e.g. TH-41")
    try:
        headers, rows = read_rows(args.file)
    except ImportFileError as err:
        sys.exit(f"bizclub: {err}")
    results = asyncio.run(
        import_rows(
            rows,
            membership=args.membership,
            token=args.token,
            default_province=args.province,
            concurrency=max(1, args.concurrency),
            show_progress=not args.no_progress,
        )
    )
    report = args.report or args.file.with_name(args.file.name + ".report.csv")
    write_report(report, results, headers)
    counts = {o: sum(r.outcome == o for r in results) for o in (IMPORTED, ALREADY, INVALID, FAILED)}
    print(
        f"{len(rows)} rows: {counts[IMPORTED]} imported, {counts[ALREADY]} already imported, "
        f"{counts[INVALID]} invalid, {counts[FAILED]} failed; report: {report}"
    )
    return 0 if counts[INVALID] + counts[FAILED] == 0 else 1
