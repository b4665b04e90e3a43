"""A small SVG bar-chart writer: stacked bars, vertical or horizontal, nothing else.

Why our own and not pygal or matplotlib: the sheet needs only stacked bars,
and must be one self-contained file with no script. pygal 3.1 puts a
`<script>` and random ids in every chart (and its tooltips need JavaScript
from a CDN); matplotlib's SVG backend draws text as paths and brings numpy and
Pillow for four bar charts. This writer gives deterministic output with what a
reader and a test can use: a `<title>` tooltip on every bar and segment (no
script), `class="bar"` per bar with its numbers in `data-` attributes, a
viewBox so it scales, and colours written inline so it prints as shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12"'
_INK, _GRID, _MUTED = "#222", "#ddd", "#555"


@dataclass(frozen=True)
class Series:
    label: str
    color: str


@dataclass(frozen=True)
class Bar:
    label: str
    values: tuple[float, ...]  # one per series, stacked in series order
    note: str | None = None  # written at the end of a horizontal bar; None: its total

    @property
    def total(self) -> float:
        return sum(self.values)


def count_text(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


@dataclass(frozen=True)
class Chart:
    key: str  # the svg's id
    title: str
    series: tuple[Series, ...]
    bars: tuple[Bar, ...]
    axis: str = ""  # what the values count, under the title
    fmt: Callable[[float], str] = count_text
    horizontal: bool = False
    marker: tuple[int, str] | None = None  # a dashed line after bar N, with its label
    integers: bool = True  # ticks at whole numbers only (counts)
    legend: bool = True  # whether the page names the series (not for a single one)


def render(chart: Chart) -> str:
    """The chart as one `<svg>` element (no XML declaration: it is inlined in HTML)."""
    body = _horizontal(chart) if chart.horizontal else _vertical(chart)
    height = body.height
    title_id = escape(f"{chart.key}-title")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart.key)}" class="chart"'
        f' viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{title_id}"'
        f' data-bars="{len(chart.bars)}" {_FONT} fill="{_INK}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<text x="0" y="14" fill="{_MUTED}">{escape(chart.axis)}</text>' if chart.axis else "",
        *body.parts,
    ]
    if not chart.bars:
        parts.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle"'
                     f' fill="{_MUTED}">nothing in this window</text>')
    parts.append("</svg>")
    return "".join(p for p in parts if p)


@dataclass(frozen=True)
class _Body:
    height: int
    parts: list[str]


def ticks(top: float, integers: bool) -> tuple[float, list[float]]:
    """A round axis end at or above `top`, and 2 to 5 evenly spaced ticks up to it."""
    if top <= 0:
        return 1.0, [0.0, 1.0]
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integers:
        step = max(1.0, math.ceil(step))
    end = math.ceil(top / step - 1e-9) * step
    return end, [i * step for i in range(round(end / step) + 1)]


def _vertical(chart: Chart) -> _Body:
    left, right, top, plot_h = 56, 12, 26, 200
    # Labels wider than their slot (about 7 px a character) are written slanted.
    longest = max((len(b.label) for b in chart.bars), default=0)
    rotate = chart.bars and longest * 7 > (WIDTH - left - right) / len(chart.bars)
    height = top + plot_h + (64 if rotate else 28)
    end, marks = ticks(max((b.total for b in chart.bars), default=0), chart.integers)
    slot = (WIDTH - left - right) / max(len(chart.bars), 1)
    base = top + plot_h
    parts = [_grid_y(marks, end, chart.fmt, left, WIDTH - right, top, plot_h)]
    for n, bar in enumerate(chart.bars):
        x, width = left + n * slot + slot * 0.15, slot * 0.7
        boxes = [(x, base - (below + v) * plot_h / end, width, v * plot_h / end)
                 for below, v in _stacked(bar)]
        parts.append(_bar(chart, bar, boxes))
        parts.append(_x_label(bar.label, x + width / 2, base + 16, rotate=bool(rotate)))
    if chart.marker is not None:
        after, label = chart.marker
        x = left + (after + 1) * slot
        parts.append(f'<line class="marker" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}"'
                     f' y2="{base}" stroke="#b00" stroke-width="1.5" stroke-dasharray="5 4"/>'
                     f'<text x="{x + 4:.1f}" y="{top + 4}" fill="#b00">{escape(label)}</text>')
    return _Body(height, parts)


def _horizontal(chart: Chart) -> _Body:
    left, right, top, row = 210, 110, 26, 24
    height = top + row * max(len(chart.bars), 1) + 26
    end, marks = ticks(max((b.total for b in chart.bars), default=0), chart.integers)
    plot_w = WIDTH - left - right
    parts = [_grid_x(marks, end, chart.fmt, left, plot_w, top, height - 26)]
    for n, bar in enumerate(chart.bars):
        y = top + n * row + 4
        boxes = [(left + below * plot_w / end, y, v * plot_w / end, row - 8)
                 for below, v in _stacked(bar)]
        parts.append(_bar(chart, bar, boxes))
        name = bar.label if len(bar.label) <= 32 else bar.label[:31] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 - 4}" text-anchor="end"'
                     f' dominant-baseline="central">{escape(name)}</text>')
        note = chart.fmt(bar.total) if bar.note is None else bar.note
        parts.append(f'<text x="{left + bar.total * plot_w / end + 4:.1f}"'
                     f' y="{y + row / 2 - 4}" dominant-baseline="central" fill="{_MUTED}">'
                     f"{escape(note)}</text>")
    return _Body(height, parts)


def _stacked(bar: Bar) -> Iterator[tuple[float, float]]:
    """(what lies below, value) of each segment, in series order."""
    below = 0.0
    for value in bar.values:
        yield below, value
        below += value


def _bar(chart: Chart, bar: Bar, boxes: Sequence[tuple[float, float, float, float]]) -> str:
    """One bar: a group with its total, one rect per non-empty segment, each with a tooltip."""
    out = [f'<g class="bar" data-label="{escape(bar.label)}" data-total="{bar.total:g}">'
           f"<title>{escape(bar.label)}: {escape(bar.note or chart.fmt(bar.total))}</title>"]
    for series, value, (x, y, w, h) in zip(chart.series, bar.values, boxes, strict=True):
        if value <= 0:
            continue
        out.append(
            f'<rect class="segment" data-series="{escape(series.label)}" data-value="{value:g}"'
            f' x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{series.color}"'
            f' stroke="#fff" stroke-width="0.5"><title>{escape(bar.label)} · '
            f"{escape(series.label)}: {escape(chart.fmt(value))}</title></rect>")
    return "".join(out) + "</g>"


def _x_label(text: str, x: float, y: float, *, rotate: bool) -> str:
    if rotate:
        return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end"'
                f' transform="rotate(-40 {x:.1f} {y:.1f})">{escape(text)}</text>')
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(text)}</text>'


def _grid_y(marks: list[float], end: float, fmt: Callable[[float], str], x1: float,
            x2: float, top: float, plot_h: float) -> str:
    lines = []
    for mark in marks:
        y = top + plot_h - mark * plot_h / end
        lines.append(f'<line x1="{x1}" y1="{y:.1f}" x2="{x2}" y2="{y:.1f}" stroke="{_GRID}"/>'
                     f'<text x="{x1 - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{_MUTED}">'
                     f"{escape(fmt(mark))}</text>")
    return '<g class="grid">' + "".join(lines) + "</g>"


def _grid_x(marks: list[float], end: float, fmt: Callable[[float], str], left: float,
            plot_w: float, top: float, bottom: float) -> str:
    lines = []
    for mark in marks:
        x = left + mark * plot_w / end
        lines.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"'
                     f' stroke="{_GRID}"/><text x="{x:.1f}" y="{bottom + 16}"'
                     f' text-anchor="middle" fill="{_MUTED}">{escape(fmt(mark))}</text>')
    return '<g class="grid">' + "".join(lines) + "</g>"
