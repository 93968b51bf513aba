"""Charts as inline SVG, rendered on the server: no script library, nothing fetched at run
time, and the page's own font draws the Thai labels.

Each function takes plain numbers and labels and returns SVG markup (escaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#1f6f8b", "#e07a1f", "#3a9d5d", "#b5404a", "#7a5cb0", "#8a8a8a")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    color: str
    dashed: bool = False


def _fmt(value: float) -> str:
    value = float(value)
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def bar_chart(title: str, bars: list[tuple[str, float]], *, test_id: str, unit: str = "") -> str:
    """Horizontal bars, one per label (e.g. members per cluster)."""
    row, label_w, width = 30, 190, 560
    height = max(1, len(bars)) * row + 10
    top = max((v for _, v in bars), default=0) or 1
    parts = [
        f'<svg class="chart" data-testid="{test_id}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(bars):
        y = 5 + i * row
        bar = (width - label_w - 90) * value / top
        parts.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{value:g}">'
            f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{bar:.1f}" height="{row - 10}" '
            f'fill="{PALETTE[i % len(PALETTE)]}" rx="3"/>'
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 18}">{_fmt(value)}{escape(unit)}</text></g>'
        )
    if not bars:
        parts.append(f'<text x="10" y="20" class="empty">{escape(title)}: -</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, labels: list[str], series: list[Series], *, test_id: str) -> str:
    """Lines over months (e.g. average revenue against the baseline), with a legend."""
    width, height, left, right, top, bottom = 560, 240, 60, 36, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for s in series for v in s.values), default=0) or 1
    peak *= 1.1
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [
        f'<svg class="chart" data-testid="{test_id}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):  # grid and its scale
        v = peak * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="axis">{_fmt(v)}</text>'
        )
    step = max(1, n // 8)
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 12}" text-anchor="middle" class="axis">'
                f"{escape(label)}</text>"
            )
    for s_index, s in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<g class="series" data-series="{escape(s.name)}">'
            f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2.5"{dash}/>'
        )
        parts += [
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{s.color}" data-value="{v:g}">'
            f"<title>{escape(labels[i])}: {_fmt(v)}</title></circle>"
            for i, v in enumerate(s.values)
        ]
        parts.append("</g>")
        lx = left + s_index * 200
        parts.append(
            f'<rect x="{lx}" y="6" width="14" height="4" fill="{s.color}"/>'
            f'<text x="{lx + 20}" y="13" class="legend">{escape(s.name)}</text>'
        )
    if not labels:
        parts.append(f'<text x="{left}" y="{top + 20}" class="empty">-</text>')
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(title: str, steps: list[tuple[str, float]], *, test_id: str) -> str:
    """Steps narrowing left to right (suggested -> requested -> held -> deal), with the
    share of the first step each kept."""
    width, row = 560, 40
    height = len(steps) * row + 8
    first = steps[0][1] if steps and steps[0][1] else 0
    widest = max((v for _, v in steps), default=0) or 1
    parts = [
        f'<svg class="chart" data-testid="{test_id}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(steps):
        w = max(2.0, 290 * value / widest)
        xoff = 150 + (290 - w) / 2
        y = 4 + i * row
        share = f" ({100 * value / first:.0f}%)" if first and i else ""
        parts.append(
            f'<g class="step" data-label="{escape(label)}" data-value="{value:g}">'
            f'<text x="140" y="{y + 24}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{xoff:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}" rx="4"/>'
            f'<text x="{width - 4}" y="{y + 24}" text-anchor="end" class="value">'
            f"{_fmt(value)}{share}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
