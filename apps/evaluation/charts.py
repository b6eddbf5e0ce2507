"""Server-rendered SVG charts: no JavaScript library, readable without scripts, and they print.

Every label is escaped; links (click through to the cases) are escaped attribute values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

BAR_COLOUR = "#2f6fb3"
LINE_COLOUR = "#c0392b"
FONT = 'font-family=\'system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif\''


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str = ""


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 2.5, 5):
        magnitude = 10 ** (len(str(int(value))) - 1)
        candidate = step * magnitude
        if candidate >= value:
            return candidate
    return 10 * 10 ** (len(str(int(value))) - 1)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 560,
    row_height: int = 24,
    label_width: int = 170,
) -> SafeString:
    """Horizontal bars, longest first as given; each bar links to its cases when ``href`` is set."""
    if not bars:
        return mark_safe(f"<p class='empty'>{escape(title)}：本期没有数据。</p>")
    top = max(b.value for b in bars)
    scale_max = _nice_max(top)
    plot = width - label_width - 60
    height = row_height * len(bars) + 30
    parts = [
        f"<svg class='chart' role='img' aria-label='{escape(title)}' viewBox='0 0 {width} {height}' "
        f"width='100%' {FONT} font-size='12'>",
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = 10 + i * row_height
        length = 0 if scale_max == 0 else plot * bar.value / scale_max
        label = bar.label if len(bar.label) <= 14 else bar.label[:13] + "…"
        body = (
            f"<text x='{label_width - 6}' y='{y + row_height * 0.62:.1f}' text-anchor='end' fill='#222'>"
            f"{escape(label)}</text>"
            f"<rect x='{label_width}' y='{y + 3}' width='{max(length, 1):.1f}' height='{row_height - 8}' "
            f"fill='{BAR_COLOUR}' rx='2'><title>{escape(bar.label)}：{bar.value:g}</title></rect>"
            f"<text x='{label_width + length + 5:.1f}' y='{y + row_height * 0.62:.1f}' fill='#222'>"
            f"{bar.value:g}</text>"
        )
        if bar.href:
            body = f"<a href='{escape(bar.href, quote=True)}'>{body}</a>"
        parts.append(body)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def line_chart(
    points: Sequence[tuple[str, float, str]], *, title: str, width: int = 900, height: int = 240
) -> SafeString:
    """A trend: (label, value, href) per bucket, with dots that link to that bucket's cases."""
    if not points:
        return mark_safe(f"<p class='empty'>{escape(title)}：本期没有数据。</p>")
    left, right, top_pad, bottom = 48, 16, 14, 42
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    scale_max = _nice_max(max(v for _l, v, _h in points))
    if all(float(v).is_integer() for _l, v, _h in points):
        scale_max = max(4, math.ceil(scale_max / 4) * 4)  # counts: whole-number gridlines
    n = len(points)
    step = plot_w / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top_pad + plot_h - plot_h * v / scale_max

    parts = [
        f"<svg class='chart' role='img' aria-label='{escape(title)}' viewBox='0 0 {width} {height}' "
        f"width='100%' {FONT} font-size='11'>",
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):
        v = scale_max * k / 4
        _x, y = xy(0, v)
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e3e3e3'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' fill='#555'>{v:g}</text>"
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{xy(i, v)[0]:.1f},{xy(i, v)[1]:.1f}"
        for i, (_l, v, _h) in enumerate(points)
    )
    parts.append(f"<path d='{path}' fill='none' stroke='{LINE_COLOUR}' stroke-width='2'/>")
    every = max(1, n // 12)
    for i, (label, value, href) in enumerate(points):
        x, y = xy(i, value)
        dot = (
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{3.5 if n <= 60 else 2}' fill='{LINE_COLOUR}'>"
            f"<title>{escape(label)}：{value:g}</title></circle>"
        )
        parts.append(f"<a href='{escape(href, quote=True)}'>{dot}</a>" if href else dot)
        if i % every == 0:
            parts.append(
                f"<text x='{x:.1f}' y='{height - bottom + 16}' text-anchor='middle' fill='#555'>"
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))
