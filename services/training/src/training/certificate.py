"""The completion certificate (เกียรติบัตร): an A4 PDF in Thai.

Thai needs shaping (marks stacked on consonants, SARA AM split), so fpdf2 renders
with HarfBuzz (uharfbuzz) and embeds the Sarabun font shipped by the
`fontpkg-sarabun` package. CPU-bound: call `render` in a thread.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from fpdf import FPDF

FONT = "Sarabun"


@functools.cache
def font_file(style: str) -> Path:
    """A Sarabun .ttf of the installed fontpkg-sarabun package, e.g. style "Regular"."""
    path = resources.files("fontpkg_sarabun") / "files" / f"Sarabun-{style}.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"the fontpkg-sarabun package has no Sarabun-{style}.ttf")
    return Path(str(path))


@dataclass(frozen=True)
class CertificateFacts:
    certificate_no: str
    business_name_th: str
    issuer_th: str
    kind_th: str
    session_title_th: str
    hours: float
    session_date_th: str
    completed_date_th: str
    completed_at: datetime


def render(facts: CertificateFacts) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_creation_date(facts.completed_at)  # the same certificate renders the same
    pdf.set_title(f"เกียรติบัตร {facts.certificate_no}")
    pdf.set_author(facts.issuer_th)
    pdf.set_creator("MOC Biz Club")
    pdf.add_font(FONT, "", str(font_file("Regular")))
    pdf.add_font(FONT, "B", str(font_file("Bold")))
    pdf.set_text_shaping(True)
    pdf.add_page()

    width, height = pdf.w, pdf.h
    pdf.set_draw_color(22, 64, 120)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, width - 20, height - 20)
    pdf.set_line_width(0.4)
    pdf.rect(14, 14, width - 28, height - 28)

    def line(text: str, size: float, *, bold: bool = False, gap: float = 4.0) -> None:
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.set_x(20)
        pdf.cell(w=width - 40, h=size * 0.5, text=text, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    pdf.set_text_color(22, 64, 120)
    pdf.set_y(30)
    line(facts.issuer_th, 20, bold=True, gap=2)
    line("ร่วมกับเครือข่าย MOC Biz Club", 16, gap=8)
    line("เกียรติบัตร", 40, bold=True, gap=6)
    pdf.set_text_color(30, 30, 30)
    line("ขอมอบเกียรติบัตรฉบับนี้ไว้เพื่อแสดงว่า", 18)
    line(facts.business_name_th, 28, bold=True, gap=6)
    line(f"ได้ผ่าน{facts.kind_th}", 18, gap=2)
    line(f"“{facts.session_title_th}”", 20, bold=True, gap=2)
    line(f"จำนวน {facts.hours:g} ชั่วโมง เมื่อวันที่ {facts.session_date_th}", 18, gap=10)
    line(f"ให้ไว้ ณ วันที่ {facts.completed_date_th}", 16, gap=2)
    pdf.set_font(FONT, "", 12)
    pdf.set_xy(20, height - 26)
    pdf.cell(w=width - 40, h=6, text=f"เลขที่ {facts.certificate_no}", align="R")
    return bytes(pdf.output())
