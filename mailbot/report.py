"""`mailbot report`: the stats sheet of the procedure (section 6), from the journal.

Per month of arrival: requests, verdicts, stagings completed and failed,
turnaround from the request's arrival to the completion mail leaving, and the
volume staged (rsync's total size).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailbot.clock import parse_stamp
from mailbot.journal import Journal
from mailbot.states import JobState, MessageKind


@dataclass
class Month:
    month: str
    requests: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    failed_attempts: int = 0
    turnaround_hours: list[float] = field(default_factory=list)
    bytes_staged: int = 0
    malformed: int = 0

    @property
    def median_turnaround(self) -> float | None:
        return statistics.median(self.turnaround_hours) if self.turnaround_hours else None


def monthly(journal: Journal) -> list[Month]:
    """The months in which requests or malformed mails arrived, oldest first."""
    months: dict[str, Month] = {}

    def month_of(received: str) -> Month:
        return months.setdefault(received[:7], Month(received[:7]))

    for request in journal.requests(limit=None):
        month = month_of(request.received)
        month.requests += 1
        month.verdicts[request.verdict] += 1
    for staging in journal.staging_outcomes():
        month = month_of(staging.received)
        if staging.state == JobState.FAILED:
            month.failed_attempts += 1
        if staging.state != JobState.SUCCEEDED:
            continue
        month.completed += 1
        month.bytes_staged += staging.total_bytes or 0
        if staging.notified:
            took = parse_stamp(staging.notified) - parse_stamp(staging.received)
            month.turnaround_hours.append(took.total_seconds() / 3600)
    for message in journal.messages_of(MessageKind.MALFORMED):
        month_of(message.received).malformed += 1
    return [months[k] for k in sorted(months)]


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _hours(h: float | None) -> str:
    if h is None:
        return "-"
    return f"{h:.1f} h" if h >= 1 else f"{h * 60:.0f} min"


def render(months: list[Month], verdict_line: Mapping[str, str]) -> str:
    if not months:
        return "(no request yet)\n"
    codes = sorted({c for m in months for c in m.verdicts})
    lines = []
    for m in months:
        lines.append(
            f"{m.month}  {m.requests:4d} request(s)  {m.completed:3d} staged"
            f"  {m.failed_attempts:3d} failed attempt(s)"
            f"  median turnaround {_hours(m.median_turnaround)}  {_size(m.bytes_staged)} staged"
        )
        if m.malformed:
            lines.append(f"           {m.malformed:4d}  malformed mail(s) answered")
        for code in codes:
            if m.verdicts[code]:
                label = "staged (accepted)" if code == "STAGE" else verdict_line.get(code, code)
                lines.append(f"           {m.verdicts[code]:4d}  {label}")
    return "\n".join(lines) + "\n"
