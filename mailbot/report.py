"""`mailbot report`: the stats sheet of the procedure (section 6), from the journal.

Per month of arrival: requests, verdicts, stagings completed and failed,
turnaround from the request's arrival to the completion mail leaving, and the
volume staged (rsync's total size).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from mailbot.journal import Journal


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
    months: dict[str, Month] = {}
    for row in journal.db.execute("SELECT id, received, verdict, state FROM requests"):
        month = months.setdefault(row["received"][:7], Month(row["received"][:7]))
        month.requests += 1
        month.verdicts[row["verdict"]] += 1
    rows = journal.db.execute(
        "SELECT r.received, j.state, j.total_bytes,"
        " (SELECT MIN(o.sent) FROM outbox o WHERE o.request = r.id AND o.kind = 'completion'"
        "  AND o.state = 'sent') AS notified"
        " FROM jobs j JOIN requests r ON r.id = j.request"
    )
    for row in rows:
        month = months[row["received"][:7]]
        if row["state"] == "failed":
            month.failed_attempts += 1
        if row["state"] != "succeeded":
            continue
        month.completed += 1
        month.bytes_staged += row["total_bytes"] or 0
        if row["notified"]:
            took = datetime.fromisoformat(row["notified"]) - datetime.fromisoformat(
                row["received"])
            month.turnaround_hours.append(took.total_seconds() / 3600)
    for row in journal.db.execute("SELECT received FROM messages WHERE kind = 'malformed'"):
        month = months.setdefault(row["received"][:7], Month(row["received"][:7]))
        month.malformed += 1
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


def render(months: list[Month], verdict_line: dict[str, str]) -> str:
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
