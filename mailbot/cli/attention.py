"""`mailbot attention` (what needs a person) and `mailbot reprocess` (a mail again, once fixed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.cli.display import age, subject_of
from mailbot.cli.registry import Arg, command
from mailbot.errors import MailbotError
from mailbot.states import JobState, MailState, MessageKind

if TYPE_CHECKING:
    from datetime import datetime

    from mailbot.cli.context import Context
    from mailbot.journal import Journal

# The second line of an entry, under its first one.
_MORE = "\n             "

# Each section's heading says what AOG does about its entries.
_SHUNTED = ("Mail the bot failed on, left untouched in its mailbox "
            "(fix the cause, then `mailbot reprocess MAIL`):")
_UNTRUSTED = ("Requests from senders who are not ARC contacts, or whose From the receiving "
              "MTA does not vouch for,\nnot served and left in the mailbox (if the sender is "
              "ARC staff: add them to addresses.arc_contacts,\nor have them fix their "
              "domain's DKIM/SPF, then `mailbot reprocess MAIL`):")
_KEPT = ("Mail kept for AOG, not served and left in the mailbox: over a sender's limits, or "
         "too large to read\n(if genuine: `mailbot reprocess MAIL` once the limits allow it):")
_REUSED = ("Mails that reuse the Message-ID of an earlier, different mail, not served and "
           "left in the mailbox\n(if it is a genuine request: `mailbot reprocess MAIL`):")
_FAILED = "Failed stagings; the maintainer has the output (`mailbot retry JOB` once fixed):"
_DOUBT = ("Stagings whose job directory shows no pid yet: they may run, so their MOUS "
          "waits\n(each run looks again; a job that never ends needs a look on the host):")
_PARTLY = ("Mail sent, but refused for some recipients (tell them another way, then "
           "`mailbot outbox dismiss ID`):")
_REFUSED = "Mail the SMTP server refused (`mailbot outbox show ID`; approve or discard):"
_DEFERRED = "Mail the SMTP server deferred (retried at every run):"
_HELD = "Mail held for review (`mailbot outbox show ID`, then approve or discard):"


@command("attention", help="what the bot could not do and a person must look at: shunted "
         "mail, requests kept unserved (sender not an ARC contact or not authenticated, over "
         "its limits, mail too large), mail reusing a Message-ID, failed stagings, stagings "
         "in doubt, mail the SMTP server refused (wholly or for some recipients), mail held "
         "for review")
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
    import json

    last = json.loads(journal.get_meta("last_run") or '{"problems": []}')
    deferred = [o for o in journal.outbox(MailState.QUEUED) if o.error]
    return [
        (f"The last run ({last.get('at')}) could not finish everything; it is retried at"
         " every run:", [f"  {problem}" for problem in last["problems"]]),
        (_SHUNTED, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {m.source}  "
                    f"{subject_of(m.raw)}{_MORE}{m.reason}"
                    for m in journal.messages_of(MessageKind.SHUNTED)]),
        (_UNTRUSTED, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {m.sender}  "
                      f"{subject_of(m.raw)}{_MORE}{m.reason}"
                      for m in journal.messages_of(MessageKind.UNTRUSTED)]),
        (_KEPT, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {m.sender or '-'}  "
                 f"{subject_of(m.raw)}{_MORE}{m.reason}"
                 for m in journal.messages_of(MessageKind.KEPT)]),
        (_REUSED, [f"  mail {m.id:<5} {age(m.recorded, now):>5}  {subject_of(m.raw)}"
                   f"{_MORE}{m.reason}" for m in journal.messages_of(MessageKind.REUSED)]),
        (_FAILED, [f"  job {j.id:<6} ticket {j.ticket}  {j.mous}  {j.project}  "
                   f"{age(j.finished, now):>5}{_MORE}{'; '.join(j.problems) or 'failed'}"
                   for j in journal.failed_jobs()]),
        (_DOUBT, [f"  job {j.id:<6} {j.job_dir}  launched {age(j.started, now)} ago"
                  for j in journal.jobs(JobState.RUNNING) if not j.pid]),
        (_REFUSED, [f"  mail {o.id:<5} {o.kind:10} {o.subject}{_MORE}{o.error}"
                    for o in journal.outbox(MailState.FAILED)]),
        (_PARTLY, [f"  mail {o.id:<5} {o.kind:10} {o.subject}" + "".join(
                       f"{_MORE}refused: {r.address} ({r.reply})" for r in o.refused)
                   for o in journal.partly_refused()]),
        (_DEFERRED, [f"  mail {o.id:<5} {o.kind:10} {o.attempts} attempt(s), queued "
                     f"{age(o.created, now)} ago  {o.subject}{_MORE}{o.error}" for o in deferred]),
        (_HELD, [f"  mail {o.id:<5} {o.kind:10} {age(o.created, now):>5}  {o.subject}"
                 for o in journal.outbox(MailState.HELD)]),
    ]


# What a reprocessed mail became, as one line; anything else is recorded and served.
_AFTER = {
    MessageKind.SHUNTED: "failed again (see `mailbot attention`)",
    MessageKind.UNTRUSTED: "still untrusted: not an ARC contact, or From not vouched for",
    MessageKind.KEPT: "still kept: over the sender's limits, or too large to read",
    MessageKind.IGNORED: "not a request; left alone in the mailbox",
}


@command("reprocess", help="handle a shunted mail (or one from a sender since added to "
         "`addresses.arc_contacts`, one kept over the limits, or one that reuses an earlier "
         "mail's Message-ID) again from its stored bytes; MAIL is its number in "
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
    return 1 if kind in (MessageKind.SHUNTED, MessageKind.UNTRUSTED, MessageKind.KEPT) else 0
