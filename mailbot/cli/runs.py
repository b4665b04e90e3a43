"""`mailbot run|watch` (the passes cron and the service make) and `mailbot check` (a dry one)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from mailbot.cli.registry import Arg, command
from mailbot.errors import EXIT_OUTAGE

if TYPE_CHECKING:
    from mailbot.cli.context import Context
    from mailbot.run import RunReport

def _show(report: RunReport) -> None:
    """A pass's summary to the log; each outage as the one stderr line cron mails."""
    import logging

    logging.getLogger("mailbot").info("%s", report.summary())
    for outage in report.outages:
        print(f"mailbot: {outage}", file=sys.stderr)


@command("run", log_file=True, help="one pass (what cron calls): new mail, decisions, "
         "stagings, outgoing mail; exit 0, or 75 when a server is down", args=(
    Arg("--dry-run", action="store_true", help="a shadow pass: read, decide and record, "
        "send, launch and mark nothing (`mailbot shadow-report` shows it)"),))
def _run(ctx: Context) -> int:
    from mailbot.run import run_once

    report = run_once(ctx.config, clock=ctx.clock, dry_run=ctx.args.dry_run)
    _show(report)
    return EXIT_OUTAGE if report.outages else 0


@command("watch", log_file=True, help="passes continuously: IMAP IDLE wakes it when mail "
         "arrives, stagings are polled every S seconds; SIGTERM stops it after the current pass",
         args=(Arg("--interval", type=float, default=60.0, metavar="S",
                   help="most seconds between passes (default 60)"),))
def _watch(ctx: Context) -> int:
    from mailbot.watch import Stop, watch

    stop = Stop()
    stop.install()
    return watch(ctx.config, ctx.args.interval, stop=stop, on_report=_show)


@command("check", help="show what the bot would do with mails or trigger files: "
         "classification, verdict and the reply it would send; records and sends nothing", args=(
    Arg("files", nargs="+", metavar="FILE", help="mails (.eml, as received) or trigger files"),
    Arg("--json", action="store_true", help="one JSON object per file"),
    Arg("--archive", metavar="URL",
        help="archive URL for this call (sqlite:///PATH or oracle://...)"),
    Arg("--queries", metavar="DIR", help="query directory for this call"),
    Arg("--today", metavar="YYYY-MM-DD", help="day of the request (default: today)"),
))
def _check(ctx: Context) -> int:
    from mailbot.check import check_files

    args = ctx.args
    return check_files(ctx.config, args.files, as_json=args.json, archive_url=args.archive,
                       queries_dir=args.queries, today=args.today)
