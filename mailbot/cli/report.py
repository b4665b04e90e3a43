"""`mailbot report`: the stats sheet as text, and as an HTML page and CSV files on request."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot.cli.registry import Arg, command
from mailbot.errors import MailbotError, UsageError

if TYPE_CHECKING:
    from mailbot.cli.context import Context
    from mailbot.journal import Journal
    from mailbot.report import Sheet, Window


def day(text: str) -> date:
    """An argparse type: a YYYY-MM-DD day."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {text!r}") from None


@command("report", help="the stats sheet of the requests received in a window (default: all), "
         "per month: requests by outcome, turnaround against the advertised target, stagings, "
         "volume, reuse, by ARC contact and cycle; as text, and as a self-contained HTML page "
         "and CSV files", args=(
    Arg("--since", type=day, metavar="DATE", help="requests received on or after this day "
        "(UTC)"),
    Arg("--until", type=day, metavar="DATE", help="requests received on or before this day "
        "(UTC)"),
    Arg("--html", type=Path, metavar="FILE", help="write the page with its charts here"),
    Arg("--csv", type=Path, metavar="FILE", help="write each table as its own CSV file, named "
        "after FILE: stats.csv gives stats-months.csv, stats-turnaround.csv, ..."),
))
def _report(ctx: Context) -> int:
    from mailbot import report

    args = ctx.args
    if args.since and args.until and args.until < args.since:
        raise UsageError(f"--until {args.until} is before --since {args.since}")
    sheet = _sheet(ctx, report.Window(args.since, args.until))
    if not ctx.has_journal():
        print("(no journal yet: no request was handled)")
    else:
        sys.stdout.write(report.text(sheet, ctx.config.verdicts))
    try:
        if args.html:
            print(f"HTML: {report.write_html(sheet, args.html)}")
        if args.csv:
            for path in report.write_csv(sheet, args.csv):
                print(f"CSV: {path}")
    except OSError as exc:
        raise MailbotError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    return 0


def _sheet(ctx: Context, window: Window) -> Sheet:
    from mailbot import report

    def gather(journal: Journal | None) -> Sheet:
        return report.gather(journal, window=window, now=ctx.clock.now(),
                             target_hours=ctx.config.report.target_hours,
                             verdict_line=ctx.config.verdict_line)

    if not ctx.has_journal():
        # A page even before the first request: a served sheet is never a stale one.
        return gather(None)
    with ctx.journal() as journal:
        return gather(journal)
