"""`mailbot shadow-report`: what the bot would have answered in shadow mode, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.cli.registry import command

if TYPE_CHECKING:
    from mailbot.cli.context import Context
    from mailbot.config import Config
    from mailbot.journal import Journal, ShadowItem


@command("shadow-report", help="what the bot would have done with each mail a shadow pass "
         "took (`mailbot.mode = \"shadow\"` or `run --dry-run`): the verdict it would have "
         "answered, the mails it would have sent, and why (the checks, as `mailbot explain`)")
def _shadow_report(ctx: Context) -> int:
    if not ctx.has_journal():
        print("no shadow pass yet (no journal)")
        return 0
    with ctx.journal() as journal:
        items = journal.shadow_taken()
        blocks = [_block(ctx.config, journal, item) for item in items]
    print("\n\n".join(blocks) if blocks else "no shadow pass took any mail yet")
    return 0


def _block(config: Config, journal: Journal, item: ShadowItem) -> str:
    """One mail: what it was, what the bot would have answered, and the trace."""
    from mailbot import explain as text
    from mailbot.model import Verdict, VerdictCode

    head = (f"mail {item.message}  received {item.received}  from {item.sender or '-'}  "
            f"{item.subject or ''}").rstrip()
    would = ", ".join(item.mails) or "nothing"
    if item.request is None:
        return "\n".join([head, f"  {item.kind}: {item.reason or '-'}",
                          f"  would send: {would}"])
    record = journal.request_record(item.request)
    basis = journal.judged_on(item.request)
    verdict = Verdict(VerdictCode(record.verdict), record.check, basis.detail)
    answer = ("STAGE: would stage the data and mail the link"
              if verdict.code is VerdictCode.STAGE else config.verdict_line(verdict.code.value))
    lines = [head, f"  request {item.request}  ticket {record.ticket}  {record.mous}",
             f"  would answer: {answer}", f"  would send: {would}"]
    lines += ["  " + line for line in text.checks_lines(
        text.recorded_checks(basis.passed, verdict, config.verdict_line),
        verdict, config.verdict_line)]
    return "\n".join(lines)
