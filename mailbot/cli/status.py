"""`mailbot status`: the bot's health in a few lines, with a Nagios plugin's exit code."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.cli.display import age
from mailbot.cli.registry import command
from mailbot.clock import stamp

if TYPE_CHECKING:
    from mailbot.cli.context import Context
    from mailbot.health import Figures


@command("status", help="health for monitoring: the last run's time and outcome, outages, "
         "active stagings, the oldest unanswered request and the attention count; exit 0 OK, "
         "1 WARNING, 2 CRITICAL by the [health] thresholds (a Nagios plugin)")
def _status(ctx: Context) -> int:
    from mailbot import health

    if not ctx.has_journal():
        print("MAILBOT CRITICAL - no run yet (no journal)")
        return int(health.Level.CRITICAL)
    now = ctx.clock.now()
    with ctx.journal() as journal:
        figures = health.gather(journal, now)
    level, reasons = health.judge(figures, ctx.config.health)
    print(f"MAILBOT {level.name} - " + ("; ".join(reasons) or "all well"))
    print("\n".join(_lines(figures, now)))
    return int(level)


def _when(value: datetime | None, now: datetime) -> str:
    return "never" if value is None else f"{stamp(value)} ({age(stamp(value), now)} ago)"


def _lines(f: Figures, now: datetime) -> list[str]:
    outcome = "; ".join(f.outages) if f.outages else "no outage"
    oldest_start = min(f.running, default=None)
    return [
        f"last run:            {_when(f.last_run, now)}{' (shadow pass)' if f.shadow else ''}",
        f"last run outcome:    {outcome}",
        f"last successful run: {_when(f.last_ok, now)}",
        f"stagings:            {len(f.running)} running, {f.waiting} waiting"
        + (f"; longest running {age(stamp(oldest_start), now)}" if oldest_start else ""),
        "oldest unanswered:   "
        + (_when(f.oldest_unanswered, now) if f.oldest_unanswered else "none"),
        f"attention:           {f.attention}"
        + (f" (since {stamp(f.attention_since)})" if f.attention and f.attention_since else ""),
    ]
