"""`bizclub import-members`: a provincial office's list, imported against a real membership.

The CLI runs as its own process, as an officer would run it, with an Udon Thani
officer's token; membership runs in this process on a real SQLite file and broker.
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bizclub.common.v1 import common_pb2
from bizclub.membership.v1 import membership_pb2, membership_service_pb2

from tests.conftest import MembershipFactory, RunningMembership
from tests.support import officer_of, thai_id, token_for, udon_thani_network

THAI_HEADERS = [
    "ชื่อกิจการ",
    "เลขประจำตัวผู้เสียภาษี",
    "คลัสเตอร์",
    "ประเภทกิจการ",
    "สินค้า",
    "ช่องทางการขาย",
    "รายได้ต่อเดือน (บาท)",
    "ชื่อผู้ติดต่อ",
    "โทรศัพท์",
    "อีเมล",
]
CLUSTERS = ["ผ้าและเครื่องแต่งกาย", "food", "เกษตรและเกษตรแปรรูป", "tourism"]
TYPES = ["วิสาหกิจชุมชน", "SME", "OTOP", "Young Smart Trader"]


@dataclass
class BadRow:
    row: int  # the spreadsheet row number (header is row 1)
    column: str  # the header the report must name
    reason: str  # words the reason must contain


def good_row(i: int) -> list[str]:
    return [
        f"กลุ่มผลิตภัณฑ์ชุมชนบ้านหนองแสง ลำดับ {i}",
        thai_id("07"),
        CLUSTERS[i % 4],
        TYPES[i % 4],
        "ผ้าไหมทอมือ, ข้าวหอมมะลิ",
        "ตลาดท้องถิ่น; ออนไลน์",
        f"{80_000 + i:,}",
        "สมศรี ใจดี",
        f"08{i % 10}-123-{i % 10000:04d}",
        f"member{i}@example.co.th",
    ]


def member_list(path: Path) -> list[BadRow]:
    """1,000 rows, 50 of them bad in the ways real lists are; returns the bad ones."""
    rows: list[list[str]] = []
    bad: list[BadRow] = []
    spoilers = [
        # row-level checks, before anything is sent
        (
            10,
            "เลขประจำตัวผู้เสียภาษี",
            "checksum",
            lambda r: r.__setitem__(1, r[1][:-1] + str((int(r[1][-1]) + 1) % 10)),
        ),
        (5, "ชื่อกิจการ", "required", lambda r: r.__setitem__(0, "")),
        (5, "คลัสเตอร์", "no cluster", lambda r: r.__setitem__(2, "ประมง")),
        (5, "ประเภทกิจการ", "must be", lambda r: r.__setitem__(3, "บริษัทมหาชน")),
        (5, "รายได้ต่อเดือน (บาท)", "baht", lambda r: r.__setitem__(6, "แปดหมื่น")),
        # membership's own validation, reported against the file's columns
        (5, "โทรศัพท์", "Thai number", lambda r: r.__setitem__(8, "12345")),
        (5, "อีเมล", "e-mail", lambda r: r.__setitem__(9, "somsri.example.co.th")),
        (5, "ชื่อกิจการ", "200", lambda r: r.__setitem__(0, "ก" * 201)),
    ]
    kinds = [
        (column, reason, spoil) for count, column, reason, spoil in spoilers for _ in range(count)
    ]
    # The 45 above, then 5 rows repeating an earlier good row's tax ID.
    for i in range(1000):
        row = good_row(i)
        number = i + 2
        if i % 20 == 7 and kinds:
            column, reason, spoil = kinds.pop(0)
            spoil(row)
            bad.append(BadRow(number, column, reason))
        elif i % 20 == 7:
            row[1] = rows[i - 1][1]  # the row above, which is good
            bad.append(BadRow(number, "เลขประจำตัวผู้เสียภาษี", f"the same tax ID as row {number - 1}"))
        rows.append(row)
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(THAI_HEADERS)
        writer.writerows(rows)
    assert len(bad) == 50
    return bad


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bizclub_stack.cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=240)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def udon_thani_tax_ids(service: RunningMembership) -> list[str]:
    tax_ids: list[str] = []
    token = ""
    while True:
        reply = await service.stub.ListMembers(
            membership_service_pb2.ListMembersRequest(
                province_code="TH-41", page=common_pb2.PageRequest(page_size=500, page_token=token)
            )
        )
        tax_ids += [m.tax_id for m in reply.members]
        token = reply.page.next_page_token
        if not token:
            return tax_ids


async def test_a_list_of_1000_with_50_bad_rows_imports_950_and_a_rerun_imports_nothing(
    start_membership: MembershipFactory, tmp_path: Path
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    listing = tmp_path / "สมาชิกอุดรธานี.csv"
    bad = member_list(listing)
    report = tmp_path / "report.csv"
    token = token_for(officer_of("TH-41"))
    args = [*("import-members", str(listing), "--province", "TH-41", "--report", str(report))]
    args += ["--membership", service.address, "--token", token]

    code, out, err = await run_cli(*args)

    assert code == 1, err  # some rows were not imported
    assert "1000 rows: 950 imported, 0 already imported, 50 invalid, 0 failed" in out
    assert "950/1000" not in err and "1000/1000" in err  # the progress bar reached the end
    with report.open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    by_row = {int(line["row"]): line for line in lines}
    assert sorted(by_row) == [b.row for b in bad]
    for b in bad:
        line = by_row[b.row]
        assert (line["outcome"], line["column"]) == ("invalid", b.column), line
        assert b.reason in line["problem"], line
    assert len(lines) == 50  # one problem per bad row: nothing else was wrong with them
    imported = await udon_thani_tax_ids(service)
    assert len(imported) == len(set(imported)) == 950

    code, out, _ = await run_cli(*args)

    assert code == 1
    assert "1000 rows: 0 imported, 950 already imported, 50 invalid, 0 failed" in out
    assert sorted(await udon_thani_tax_ids(service)) == sorted(imported)


async def test_an_excel_list_with_english_headers_keeps_the_tax_ids_leading_zero(
    start_membership: MembershipFactory, tmp_path: Path
) -> None:
    import openpyxl

    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    body = "041556100001"  # one zero in front: Excel stores it as a 12-digit number
    total = sum(int(d) * w for d, w in zip(body, range(13, 1, -1), strict=True))
    tax_id = body + str((11 - total % 11) % 10)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["Business_Name_TH", "Tax ID", "Province", "Cluster", "Enterprise type", "Contact name*"]
    )
    sheet.append(
        [
            "วิสาหกิจชุมชนแหนมหมูบ้านเชียง",
            int(tax_id),
            "อุดรธานี",
            "อาหารและเครื่องดื่ม",
            "วิสาหกิจชุมชน",
            "บุญมี ศรีสุข",
        ]
    )
    listing = tmp_path / "members.xlsx"
    book.save(listing)

    code, out, err = await run_cli(
        "import-members",
        str(listing),
        "--no-progress",
        "--membership",
        service.address,
        "--token",
        token_for(officer_of("TH-41")),
    )

    assert code == 0, out + err
    assert "1 rows: 1 imported" in out
    reply = await service.stub.ListMembers(
        membership_service_pb2.ListMembersRequest(province_code="TH-41")
    )
    [member] = reply.members
    assert (member.tax_id, member.cluster_code) == (tax_id, "food")
    assert member.enterprise_type == membership_pb2.ENTERPRISE_TYPE_COMMUNITY_ENTERPRISE
    assert (tmp_path / "members.xlsx.report.csv").read_text(encoding="utf-8-sig").count("\n") == 1


async def test_an_officer_of_another_province_imports_nothing(
    start_membership: MembershipFactory, tmp_path: Path
) -> None:
    service = await start_membership()
    await service.stub.CreateNetwork(udon_thani_network())
    listing = tmp_path / "members.csv"
    with listing.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(THAI_HEADERS)
        writer.writerows(good_row(i) for i in range(3))

    code, out, _ = await run_cli(
        "import-members",
        str(listing),
        "--province",
        "TH-41",
        "--no-progress",
        "--membership",
        service.address,
        "--token",
        token_for(officer_of("TH-40")),
    )

    assert code == 1
    assert "3 rows: 0 imported, 0 already imported, 0 invalid, 3 failed" in out
    assert "PERMISSION_DENIED" in (tmp_path / "members.csv.report.csv").read_text(
        encoding="utf-8-sig"
    )
    assert await udon_thani_tax_ids(service) == []
