"""Which charts the stats sheet draws, from which numbers, in which colours."""

from __future__ import annotations

from collections.abc import Sequence

from mailbot.report.measure import size_text
from mailbot.report.model import Group, Histogram, Outcome, Share, Sheet
from mailbot.report.svg import Bar, Chart, Series

# Okabe-Ito and Tol colours (told apart with the common colour blindnesses):
# served in green, under way in blue, failures in red/orange, rejections in
# muted purples and teals, so that a glance at a stack tells served from refused.
OUTCOME_COLORS = {
    "staged": "#009E73",
    "staging": "#56B4E9",
    "failed": "#D55E00",
    "cancelled": "#999999",
    "CYCLE_0": "#332288",
    "INVALID_MOUS": "#882255",
    "PROJECT_MISMATCH": "#AA4499",
    "NO_QA0_PASS": "#CC79A7",
    "UNKNOWN_CALFIELD": "#44AA99",
    "NOT_ENTITLED": "#0072B2",
    "NOT_DELIVERED": "#6F4E9C",
    "DUPLICATE": "#B8A1D9",
    "malformed": "#E69F00",
}
_FALLBACK = "#666666"
MAIL_COLORS = ("#009E73", "#0072B2")  # completion mail, verdict reply
STAGING_COLORS = ("#009E73", "#D55E00")  # succeeded, failed
SHARE_COLORS = ("#0072B2", "#E5E5E5")  # the part, the rest
MAX_GROUPS = 20  # more contacts than this: the smallest are added up as one bar


def outcome_series(outcomes: Sequence[Outcome]) -> tuple[Series, ...]:
    return tuple(Series(o.label, OUTCOME_COLORS.get(o.key, _FALLBACK)) for o in outcomes)


def charts(sheet: Sheet) -> tuple[Chart, ...]:
    """Every chart of the sheet, in the order of the page."""
    series = outcome_series(sheet.outcomes)
    keys = [o.key for o in sheet.outcomes]
    return (
        Chart("chart-months", "Requests per month, by outcome", series,
              tuple(Bar(m.month, tuple(float(m.outcomes.get(k, 0)) for k in keys))
                    for m in sheet.months), axis="requests and malformed mails"),
        _histogram("chart-turnaround", "Time from receipt to the mail that answered",
                   sheet.mail_histogram, MAIL_COLORS, f"{sheet.target_hours:g} h target"),
        _histogram("chart-staging", "Staging runs, launch to end", sheet.staging_histogram,
                   STAGING_COLORS, None),
        Chart("chart-volume", "Volume staged per month", (Series("staged", "#0072B2"),),
              tuple(Bar(m.month, (float(m.bytes_staged),)) for m in sheet.months),
              axis="rsync's total size of the stagings that succeeded", fmt=size_text,
              integers=False, legend=False),
        Chart("chart-shares", "Shares", (Series("yes", SHARE_COLORS[0]),
                                         Series("no", SHARE_COLORS[1])),
              tuple(_share_bar(s) for s in sheet.shares), horizontal=True,
              fmt=lambda v: f"{v:.0f} %", axis="percent", legend=False),
        _groups("chart-contacts", "Requests by ARC contact", sheet.by_contact, keys, series,
                "requests and malformed mails"),
        _groups("chart-cycles", "Requests by project cycle", sheet.by_cycle, keys, series,
                "requests (a malformed mail names no valid project)"),
    )


def _share_bar(share: Share) -> Bar:
    """Percent of its whole, so that shares of different wholes compare; the counts as note."""
    percent = share.percent
    if percent is None:
        return Bar(share.label, (0.0, 0.0), note="none yet")
    return Bar(share.label, (percent, 100 - percent),
               note=f"{share.part} of {share.whole} ({percent:.0f} %)")


def _histogram(key: str, title: str, histogram: Histogram, colors: Sequence[str],
               marker: str | None) -> Chart:
    return Chart(
        key, title,
        tuple(Series(name, color) for name, color in zip(histogram.series, colors, strict=True)),
        tuple(Bar(b.label, tuple(float(c) for c in b.counts)) for b in histogram.bins),
        axis="count",
        marker=(histogram.marker, marker) if marker and histogram.marker is not None else None,
    )


def grouped(groups: Sequence[Group], limit: int = MAX_GROUPS) -> tuple[Group, ...]:
    """The groups, the smallest beyond `limit` added up as one "N others" group."""
    if len(groups) <= limit:
        return tuple(groups)
    kept, rest = groups[:limit - 1], groups[limit - 1:]
    summed: dict[str, int] = {}
    for group in rest:
        for key, n in group.outcomes.items():
            summed[key] = summed.get(key, 0) + n
    return (*kept, Group(f"{len(rest)} others", summed))


def _groups(key: str, title: str, groups: Sequence[Group], keys: Sequence[str],
            series: tuple[Series, ...], axis: str) -> Chart:
    return Chart(key, title, series,
                 tuple(Bar(g.name, tuple(float(g.outcomes.get(k, 0)) for k in keys))
                       for g in grouped(groups)),
                 horizontal=True, axis=axis)
