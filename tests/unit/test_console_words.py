"""The console's words, months and charts: what an officer reads on the page."""

from __future__ import annotations

import re

from console import charts
from console.i18n import Words


def test_months_read_in_the_buddhist_era_in_thai_and_the_common_era_in_english() -> None:
    th, en = Words("th"), Words("en")
    assert th.month(2026, 1) == "ม.ค. 2569"
    assert th.month(2569, 12) == "ธ.ค. 2569"  # already Buddhist era: kept
    assert en.month(2569, 1) == "Jan 2026"
    assert en.month(2026, 6) == "Jun 2026"
    assert th.moment(0) == "1 ม.ค. 2513 07:00"  # Bangkok is UTC+7


def test_money_is_satang_shown_in_baht() -> None:
    assert Words("th").money(28_000_000) == "280,000 บาท"
    assert Words("en").money(8_000_050) == "80,000 THB"


def test_an_unknown_language_falls_back_to_thai() -> None:
    assert Words("fr")("dashboard") == "แดชบอร์ดจังหวัด"
    assert Words("en").event("bizclub.training.v1.TrainingCompleted") == "Completed training"
    assert Words("th").event("bizclub.x.v1.SomethingNew") == "SomethingNew"


def test_a_revenue_trend_draws_each_series_through_its_values() -> None:
    svg = charts.line_chart(
        "รายได้",
        ["ม.ค. 2569", "ก.พ. 2569", "มี.ค. 2569"],
        [
            charts.Series("รายได้เฉลี่ย", [90_000, 120_000, 150_000], "#000"),
            charts.Series("ฐานรายได้เดิม", [80_000, 80_000, 80_000], "#111", dashed=True),
        ],
        test_id="revenue-trend",
    )
    revenue = re.search(r'data-series="รายได้เฉลี่ย">(.*?)</g>', svg)
    assert revenue is not None
    assert re.findall(r'data-value="([\d.]+)"', revenue.group(1)) == ["90000", "120000", "150000"]
    points = re.search(r'points="([^"]+)"', revenue.group(1))
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys[0] > ys[1] > ys[2]  # higher revenue is drawn higher up
    assert 'stroke-dasharray="6 4"' in svg  # the baseline is dashed


def test_labels_are_escaped() -> None:
    svg = charts.bar_chart("x", [("<script>", 1.0)], test_id="t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_counts_from_the_api_are_integers_and_chart_as_such() -> None:
    svg = charts.funnel_chart("f", [("แนะนำ", 12), ("เจรจา", 3)], test_id="f")
    assert 'data-value="12"' in svg and "3 (25%)" in svg
