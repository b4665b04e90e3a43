"""`mailbot attention` (what needs a person) and `mailbot reprocess` (a mail again, once fixed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.cli.context import Context
from mailbot.cli.display import age, subject_of
from mailbot.cli.registry import Arg, command
from mailbot.errors import MailbotError
from mailbot.states import MailState, MessageKind

if TYPE_CHECKING:
    from mailbot.journal import Journal

# The second line of an entry, under its first one.
_MORE = "\n             "

# Each section's heading says what AOG does about its entries.
_SHUNTED = ("Mail the bot failed on, left untouched in its mailbox "
            "(fix the cause, then `mailbot reprocess MAIL`):")
_UNTRUSTED = ("Requests from senders who are not ARC contacts, not served and left in the "
              "mailbox\n(if the sender is ARC staff: add them to addresses.arc_contacts, then "
              "`mailbot reprocess MAIL`):")
_FAILED = "Failed stagings; the maintainer has the output (`mailbot retry JOB` once fixed):"
_REFUSED = "Mail the SMTP server refused (`mailbot outbox show ID`; approve or discard):"
_DEFERRED = "Mail the SMTP server deferred (retried at every run):"
_HELD = "Mail held for review (`mailbot outbox show ID`, then approve or discard):"


@command("attention", help="what the bot could not do and a person must look at: shunted "
         "mail, failed stagings, mail the SMTP server refused, mail held for review")
def _attention(ctx: Context) -> int:
    if not ctx.has_journal():
        print("nothing needs attention (no journal yet)")
        return 0
    with ctx.journal() as journal:
        sections = _sections(journal, ctx.clock.now())
    for heading, entries in sections:
        if entries:
            print(heading)
            print("\n".join(entries))
    if not any(entries for _, entries in sections):
        print("nothing needs attention")
    return 0


def _sections(journal: Journal, now: datetime) -> list[tuple[str, list[str]]]:
    """(heading, entries) of each kind of thing that needs a person, in the order shown."""
    last = json.loads(journal.get_meta("last_run") or '{"problems": []}')
    deferred = [o for o in journal.outbox(MailState.QUEUED) if o.error]
    return [
        (f"The last run ({last.get('at')}) could not finish everything; it is retried at"
         " every run:", [f"  {problem}" for problem in last["problems"]]),
        (_SHUNTED, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {m.source}  "
                    f"{subject_of(m.raw)}{_MORE}{m.reason}"
                    for m in journal.messages_of(MessageKind.SHUNTED)]),
        (_UNTRUSTED, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {m.sender}  "
                      f"{subject_of(m.raw)}" for m in journal.messages_of(MessageKind.UNTRUSTED)]),
        (_FAILED, [f"  job {j.id:<6} ticket {j.ticket}  {j.mous}  {j.project}  "
                   f"{age(j.finished, now):>5}{_MORE}{'; '.join(j.problems) or 'failed'}"
                   for j in journal.failed_jobs()]),
        (_REFUSED, [f"  mail {o.id:<5} {o.kind:10} {o.subject}{_MORE}{o.error}"
                    for o in journal.outbox(MailState.FAILED)]),
        (_DEFERRED, [f"  mail {o.id:<5} {o.kind:10} {o.attempts} attempt(s), queued "
                     f"{age(o.created, now)} ago  {o.subject}{_MORE}{o.error}" for o in deferred]),
        (_HELD, [f"  mail {o.id:<5} {o.kind:10} {age(o.created, now):>5}  {o.subject}"
                 for o in journal.outbox(MailState.HELD)]),
    ]


# What a reprocessed mail became, as one line; anything else is recorded and served.
_AFTER = {
    MessageKind.SHUNTED: "failed again (see `mailbot attention`)",
    MessageKind.UNTRUSTED: "the sender is still not in addresses.arc_contacts",
    MessageKind.IGNORED: "not a request; left alone in the mailbox",
}


@command("reprocess", help="handle a shunted mail (or one from a sender since added to "
         "`addresses.arc_contacts`) again from its stored bytes; MAIL is its number in "
         "`mailbot attention`", args=(
    Arg("message", type=int, metavar="MAIL",
        help="the mail's number in `mailbot attention`"),
))
def _reprocess(ctx: Context) -> int:
    from mailbot.run import reprocess

    try:
        kind = MessageKind(reprocess(ctx.config, ctx.args.message, clock=ctx.clock))
    except KeyError as exc:
        raise MailbotError(str(exc.args[0])) from None
    after = _AFTER.get(kind, "recorded; the next run sends what it causes and flags the mail")
    print(f"mail {ctx.args.message}: {kind}: {after}")
    return 1 if kind in (MessageKind.SHUNTED, MessageKind.UNTRUSTED) else 0
