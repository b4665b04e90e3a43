"""The stats sheet as text, for the cron mail: the same numbers as the page, per month."""

from __future__ import annotations

from collections.abc import Mapping

from mailbot.report.measure import duration_text, size_text
from mailbot.report.model import Month, Share, Sheet, Spread
from mailbot.report.sheet import totals


def text(sheet: Sheet, verdict_line: Mapping[str, str]) -> str:
    """Per month of receipt: requests, stagings, turnaround, volume, verdicts; then totals."""
    if not sheet.requests and not sheet.malformed:
        return "(no request yet)\n" if sheet.since is None and sheet.until is None else (
            "(no request in this window)\n")
    codes = sorted({code for m in sheet.months for code in m.verdicts})
    lines: list[str] = []
    for month in sheet.months:
        lines += _month(month, codes, verdict_line)
    total = totals(sheet.months)
    lines += [
        "",
        f"total    {total['requests']:4d} request(s)  {total['staged']:3d} staged"
        f"  {total['failed_attempts']:3d} failed attempt(s)"
        f"  {total['malformed']} malformed  {size_text(total['bytes_staged'])} staged",
        *(_spread(s, sheet.target_hours) for s in sheet.spreads),
        *(_share(s) for s in sheet.shares),
        f"open requests: {len(sheet.open)}; failed stagings not retried: {len(sheet.failed)}"
        + (" (see `mailbot attention`)" if sheet.failed else ""),
    ]
    return "\n".join(lines) + "\n"


def _month(m: Month, codes: list[str], verdict_line: Mapping[str, str]) -> list[str]:
    lines = [
        f"{m.month}  {m.requests:4d} request(s)  {m.staged:3d} staged"
        f"  {m.failed_attempts:3d} failed attempt(s)"
        f"  median turnaround {duration_text(m.median_hours)}"
        f"  {size_text(m.bytes_staged)} staged"
    ]
    if m.malformed:
        lines.append(f"           {m.malformed:4d}  malformed mail(s) answered")
    for code in codes:
        if m.verdicts.get(code):
            label = "staged (accepted)" if code == "STAGE" else verdict_line.get(code, code)
            lines.append(f"           {m.verdicts[code]:4d}  {label}")
    return lines


def _spread(s: Spread, target: float) -> str:
    if not s.count:
        return f"{s.label}: none"
    within = "" if s.within_target is None else f", {s.within_target} within {target:g} h"
    return (f"{s.label}: {s.count}, median {duration_text(s.median)},"
            f" 90th percentile {duration_text(s.p90)}, max {duration_text(s.max)}{within}")


def _share(s: Share) -> str:
    percent = "" if s.percent is None else f" ({s.percent:.0f} %)"
    return f"{s.label}: {s.part} of {s.whole}{percent}"
