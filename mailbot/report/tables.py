"""The rows behind every chart and list of the sheet, as tables the CSV and the HTML share.

One table per chart or list; its `name` is the CSV file's suffix
(`--csv stats.csv` writes `stats-months.csv`, `stats-turnaround.csv`, ...).
A column names its kind, so the CSV keeps plain numbers (hours with two
decimals, bytes as they are) while the page shows `3.5 h` and `5.8 GB`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

from mailbot.report.measure import duration_text, size_text
from mailbot.report.model import Group, Histogram, Outcome, RequestLine, Sheet

Kind = Literal["text", "count", "hours", "bytes", "percent", "stamp"]
Cell = str | int | float | None


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header
    label: str  # the page's header
    kind: Kind = "count"


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]


def csv_cell(value: Cell, kind: Kind) -> str:
    """A cell as the CSV writes it: numbers plain, none empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def page_cell(value: Cell, kind: Kind) -> str:
    """A cell as the page shows it."""
    if value is None:
        return "-"
    if kind == "hours" and isinstance(value, int | float):
        return duration_text(float(value))
    if kind == "bytes" and isinstance(value, int | float):
        return size_text(float(value))
    if kind == "percent" and isinstance(value, int | float):
        return f"{value:.0f} %"
    if kind == "stamp":
        return str(value)[:16].replace("T", " ")
    return str(value)


def tables(sheet: Sheet) -> tuple[Table, ...]:
    """Every table of the sheet, in the order of the page."""
    kinds = [o for o in sheet.outcomes if o.key != "malformed"]
    return (
        _months(sheet, kinds),
        Table("turnaround", "How long each step took", (
            Column("measure", "measure", "text"), Column("count", "count"),
            Column("median_h", "median", "hours"), Column("p90_h", "90th percentile", "hours"),
            Column("max_h", "max", "hours"),
            Column("within_target", f"within {sheet.target_hours:g} h")),
            tuple((s.label, s.count, s.median, s.p90, s.max, s.within_target)
                  for s in sheet.spreads)),
        _histogram("turnaround-histogram", "Receipt to the mail that answered",
                   sheet.mail_histogram),
        _histogram("staging-histogram", "Staging runs, launch to end",
                   sheet.staging_histogram),
        Table("volume", "Volume staged per month", (
            Column("month", "month", "text"), Column("staged", "stagings"),
            Column("bytes_staged", "volume", "bytes")),
            tuple((m.month, m.staged, m.bytes_staged) for m in sheet.months)),
        Table("shares", "Shares", (
            Column("share", "share", "text"), Column("part", "part"), Column("whole", "of"),
            Column("percent", "percent", "percent")),
            tuple((s.label, s.part, s.whole, s.percent) for s in sheet.shares)),
        _groups("by-contact", "Requests by ARC contact", "arc_contact", sheet.by_contact,
                sheet.outcomes),
        _groups("by-cycle", "Requests by project cycle", "cycle", sheet.by_cycle, kinds),
        _open(sheet),
        _failed(sheet),
        _requests(sheet.requests),
    )


def _months(sheet: Sheet, kinds: Sequence[Outcome]) -> Table:
    columns = (Column("month", "month", "text"), Column("requests", "requests"),
               *(Column(o.key, o.label) for o in kinds), Column("malformed", "malformed"),
               Column("failed_attempts", "failed attempts"),
               Column("median_hours_to_completion", "median turnaround", "hours"),
               Column("bytes_staged", "volume", "bytes"))
    return Table("months", "Requests per month", columns, tuple(
        (m.month, m.requests, *(m.outcomes.get(o.key, 0) for o in kinds), m.malformed,
         m.failed_attempts, m.median_hours, m.bytes_staged) for m in sheet.months))


def _histogram(name: str, title: str, histogram: Histogram) -> Table:
    columns = (Column("bin", "hours", "text"), Column("from_h", "from", "hours"),
               Column("to_h", "to", "hours"),
               *(Column(s.replace(" ", "_"), s) for s in histogram.series))
    return Table(name, title, columns, tuple(
        (b.label, b.low, b.high, *b.counts) for b in histogram.bins))


def _groups(name: str, title: str, what: str, groups: Sequence[Group],
            kinds: Sequence[Outcome]) -> Table:
    columns = (Column(what, what.replace("_", " "), "text"), Column("total", "total"),
               *(Column(o.key, o.label) for o in kinds))
    return Table(name, title, columns, tuple(
        (g.name, g.total, *(g.outcomes.get(o.key, 0) for o in kinds)) for g in groups))


def _open(sheet: Sheet) -> Table:
    columns = (Column("request", "request"), Column("ticket", "ticket", "text"),
               Column("mous", "MOUS", "text"), Column("project", "project", "text"),
               Column("arc_contact", "ARC contact", "text"),
               Column("received", "received", "stamp"), Column("age_h", "age", "hours"),
               Column("status", "status", "text"))
    return Table("open", "Open requests, oldest first", columns, tuple(
        (o.request, o.ticket, o.mous, o.project, o.arc_contact, o.received, o.age_hours,
         o.status) for o in sheet.open))


def _failed(sheet: Sheet) -> Table:
    columns = (Column("job", "job"), Column("attempt", "attempt"),
               Column("request", "request"), Column("ticket", "ticket", "text"),
               Column("mous", "MOUS", "text"), Column("project", "project", "text"),
               Column("arc_contact", "ARC contact", "text"),
               Column("received", "received", "stamp"),
               Column("finished", "failed at", "stamp"), Column("problem", "why", "text"))
    return Table("failed", "Failed stagings not retried, oldest first", columns, tuple(
        (f.job, f.attempt, f.request, f.ticket, f.mous, f.project, f.arc_contact, f.received,
         f.finished, f.problem) for f in sheet.failed))


_REQUEST_KINDS: dict[str, Kind] = {
    "received": "stamp", "decided": "stamp", "replied": "stamp", "completed": "stamp",
    "hours_to_verdict": "hours", "hours_to_mail": "hours", "bytes_staged": "bytes",
}


def _requests(lines: Sequence[RequestLine]) -> Table:
    names = [f.name for f in fields(RequestLine)]
    columns = tuple(Column(n, n.replace("_", " "), _REQUEST_KINDS.get(n, "text"))
                    for n in names)
    return Table("requests", "Every request of the window", columns, tuple(
        tuple(_plain(getattr(line, n)) for n in names) for line in lines))


def _plain(value: object) -> Cell:
    if isinstance(value, bool):
        return int(value)
    return value if value is None or isinstance(value, str | int | float) else str(value)
