"""`mailbot requests|retry|cancel`: the requests and their staging jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.cli.display import age, duration
from mailbot.cli.registry import Arg, command

if TYPE_CHECKING:
    from mailbot.cli.context import Context


@command("requests", help="requests and staging jobs with their state, ticket, MOUS, age, "
         "duration", args=(
    Arg("--limit", type=int, default=50, metavar="N", help="the N latest requests (default 50)"),
))
def _requests(ctx: Context) -> int:
    now = ctx.clock.now()
    with ctx.journal() as journal:
        rows = journal.requests(ctx.args.limit)
    # Verdicts read as the replies state them (the configured lines), as everywhere.
    print(f"{'REQ':>4} {'STATE':10} {'VERDICT':24} {'TICKET':>7}  {'MOUS':26} {'AGE':>5}"
          f" {'JOB':>4} {'JOBSTATE':9} {'DURATION':>8}")
    for r in rows:
        print(f"{r.id:>4} {r.state:10} {ctx.config.verdict_text(r.verdict):24} {r.ticket:>7}  "
              f"{r.mous:26} {age(r.created, now):>5} {r.job_id or '-':>4} "
              f"{r.job_state or '-':9} {duration(r.started, r.finished, now):>8}")
    if not rows:
        print("(no request)")
    return 0


@command("retry", help="queue a new attempt of a failed staging job; JOB is its number in "
         "`mailbot attention` or `mailbot requests`", args=(
    Arg("job", type=int, metavar="JOB",
        help="the job's number in `mailbot attention` or `mailbot requests`"),
))
def _retry(ctx: Context) -> int:
    from mailbot import scheduler

    with ctx.journal() as journal:
        new_id = scheduler.retry(journal, ctx.args.job)
    print(f"job {ctx.args.job}: new attempt queued as job {new_id}; it starts at the next run")
    return 0


@command("cancel", help="stop a waiting staging job; JOB is its number in `mailbot requests`",
         args=(Arg("job", type=int, metavar="JOB", help="the job's number in `mailbot requests`"),))
def _cancel(ctx: Context) -> int:
    from mailbot import scheduler

    with ctx.journal() as journal:
        scheduler.cancel(journal, ctx.args.job)
    print(f"job {ctx.args.job}: cancelled")
    return 0
