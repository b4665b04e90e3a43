"""Durations and their summaries: hours between stamps, median/p90/max, histogram bins."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from mailbot.clock import parse_stamp
from mailbot.report.model import Bin, Histogram, Spread

# Bin edges in hours. Turnaround: the first hours in detail, then days around the
# advertised turnaround; staging: from minutes (a reuse) to a day (a large MOUS).
MAIL_EDGES = (0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0, 72.0)
STAGING_EDGES = (0.0, 1 / 6, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0)


def hours(start: str, end: str) -> float:
    """Hours from one journal stamp to another."""
    return (parse_stamp(end) - parse_stamp(start)).total_seconds() / 3600


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: a value that was really measured, none interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def spread(key: str, label: str, values: Sequence[float],
           target: float | None = None) -> Spread:
    """Count, median, p90 and max of `values`; how many are within `target`, if given."""
    return Spread(
        key=key, label=label, count=len(values),
        median=median(values),
        p90=p90(values), max=max(values) if values else None,
        within_target=None if target is None else sum(v <= target for v in values),
    )


def duration_text(h: float | None) -> str:
    """`45 min`, `3.5 h`, `2.1 d`; `-` for none."""
    if h is None:
        return "-"
    if h < 1:
        return f"{h * 60:.0f} min"
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} d"


def size_text(n: float) -> str:
    """Bytes as AOG reads them: `5.8 GB`."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _edge(h: float) -> tuple[str, str]:
    return (f"{h * 60:.0f}", "min") if 0 < h < 1 else (f"{h:g}", "h")


def bin_label(low: float, high: float | None, first: bool) -> str:
    """`≤ 10 min`, `10–30 min`, `30 min–1 h`, `> 24 h`: short enough to stand under a bar."""
    if high is None:
        return "> {} {}".format(*_edge(low))
    if first:
        return "≤ {} {}".format(*_edge(high))
    (a, a_unit), (b, b_unit) = _edge(low), _edge(high)
    return f"{a}–{b} {b_unit}" if a_unit == b_unit else f"{a} {a_unit}–{b} {b_unit}"


def histogram(key: str, edges: Sequence[float], series: Sequence[tuple[str, Sequence[float]]],
              target: float | None = None) -> Histogram:
    """Count each series' durations in the bins (low, high] the edges make.

    Right-closed, as "within the target" is `<=`: a duration of exactly the
    target is left of its marker. The first bin takes 0, the last is open-ended;
    the target becomes an edge when it is not one.
    """
    cuts = sorted({*edges, *([target] if target is not None else [])})
    bins = []
    for n, low in enumerate(cuts):
        high = cuts[n + 1] if n + 1 < len(cuts) else None
        label = bin_label(low, high, first=n == 0)
        counts = tuple(sum((n == 0 or low < v) and (high is None or v <= high) for v in values)
                       for _, values in series)
        bins.append(Bin(label, low, high, counts))
    marker = cuts.index(target) - 1 if target is not None and target in cuts[1:] else None
    return Histogram(key, tuple(name for name, _ in series), tuple(bins), marker)
