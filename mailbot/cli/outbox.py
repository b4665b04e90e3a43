"""`mailbot outbox list|show|approve|discard`: AOG's review of outgoing mail."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailbot.cli.display import age, cut
from mailbot.cli.registry import Arg, command, group
from mailbot.states import MailState

if TYPE_CHECKING:
    from mailbot.cli.context import Context
    from mailbot.journal import Journal, MailRecord

group("outbox", help="review outgoing mail; held mail leaves after approval at the next run")

_IDS = Arg("ids", type=int, nargs="+", metavar="ID",
           help="the mail's number in `mailbot outbox list` or `mailbot attention`")


@command("outbox list", help="queued, held, sent and failed mails", args=(
    Arg("--state", action="append",
        help=f"only mails in this state ({', '.join(MailState)}); repeatable"),
))
def _list(ctx: Context) -> int:
    from mailbot.mailview import envelope_recipients

    now = ctx.clock.now()
    with ctx.journal() as journal:
        mails = journal.outbox(*(ctx.args.state or ()))
    print(f"{'ID':>5}  {'STATE':9} {'KIND':10} {'AGE':>5} {'SENT':>5}  {'RECIPIENTS':40} SUBJECT")
    for m in mails:
        shown, hidden = envelope_recipients(m)
        who = ", ".join(shown) + (f" +{len(hidden)} bcc" if hidden else "")
        sent = age(m.sent, now) if m.sent else "-"
        print(f"{m.id:>5}  {m.state:9} {m.kind:10} {age(m.created, now):>5} {sent:>5}"
              f"  {cut(who, 40):40} {m.subject}")
        if m.error:
            print(f"{'':7}{'error' if m.state == MailState.FAILED else 'last try'}: {m.error}")
        for refusal in m.refused:
            print(f"{'':7}refused: {refusal.address} ({refusal.reply})")
    if not mails:
        print("(no mail)")
    return 0


@command("outbox show", help="print one mail decoded, with its envelope", args=(
    Arg("id", type=int, metavar="ID", help="the mail's number in `mailbot outbox list`"),
    Arg("--raw", action="store_true", help="print the exact bytes that are (or were) transmitted"),
))
def _show(ctx: Context) -> int:
    with ctx.journal() as journal:
        mail = journal.outbox_mail(ctx.args.id)
    if ctx.args.raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(mail.data)
        return 0
    sys.stdout.write(_outbox_text(mail))
    return 0


_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
                  "In-Reply-To")


def _outbox_text(mail: MailRecord) -> str:
    """One mail as AOG reads it: state, envelope (Bcc marked), decoded headers and body."""
    from mailbot.mailview import envelope_recipients, readable

    shown, hidden = envelope_recipients(mail)
    lines = [f"Mail {mail.id} ({mail.kind}): {mail.state}, queued {mail.created}"
             + (f", sent {mail.sent}" if mail.sent else "")
             + f", {mail.attempts} attempt(s)"
             + (", review copy stored" if mail.copied else "")]
    if mail.error:
        lines.append(f"Error: {mail.error}")
    lines += [f"Refused: {r.address} ({r.reply})" for r in mail.refused]
    lines.append(f"Envelope from: {mail.mail_from or '<>'}")
    lines += [f"Envelope to:   {r}" for r in shown]
    lines += [f"Envelope to:   {r} (bcc)" for r in hidden]
    headers, body = readable(mail.data)
    lines.append("")
    lines += [f"{name}: {value}" for wanted in _SHOWN_HEADERS
              for name, value in headers if name.lower() == wanted.lower()]
    lines.append("")
    return "\n".join(lines) + "\n" + body + ("" if body.endswith("\n") else "\n")


@command("outbox approve", help="let held mails leave at the next run", args=(_IDS,))
def _approve(ctx: Context) -> int:
    with ctx.journal() as journal:
        # A failed mail (permanently refused) may be approved again once AOG fixed the cause.
        return _move(journal, "approve", ctx.args.ids, MailState.QUEUED,
                     (MailState.HELD, MailState.FAILED), "approved; it leaves at the next run")


@command("outbox hold", help="keep queued or failed mails back until `mailbot outbox approve`",
         args=(_IDS,))
def _hold(ctx: Context) -> int:
    with ctx.journal() as journal:
        return _move(journal, "hold", ctx.args.ids, MailState.HELD,
                     (MailState.QUEUED, MailState.FAILED),
                     "held; it leaves only once approved")


@command("outbox discard", help="never send these held, queued or failed mails", args=(_IDS,))
def _discard(ctx: Context) -> int:
    with ctx.journal() as journal:
        return _move(journal, "discard", ctx.args.ids, MailState.DISCARDED,
                     (MailState.HELD, MailState.QUEUED, MailState.FAILED),
                     "discarded; it will never be sent")


@command("outbox dismiss", help="take sent mails whose refused recipients were told another "
         "way off `mailbot attention`", args=(_IDS,))
def _dismiss(ctx: Context) -> int:
    status = 0
    with ctx.journal() as journal:
        for mail_id in ctx.args.ids:
            with journal.transaction():
                dismissed = journal.dismiss_refusals(mail_id)
            if dismissed:
                print(f"mail {mail_id}: its refused recipients are off `mailbot attention`")
            else:
                print(f"mailbot: mail {mail_id} has no refused recipients listed in"
                      " `mailbot attention`", file=sys.stderr)
                status = 1
    return status


# Why a mail cannot be moved, when that is not plain from its state.
_BUSY = {MailState.SENDING: "is being sent right now (or was, by a run that stopped: "
                            "the next run sends it again)"}


def _move(journal: Journal, action: str, ids: Sequence[int], target: MailState,
          sources: tuple[MailState, ...], meaning: str) -> int:
    """Move each mail to `target` if it is in one of `sources`; 1 if any could not be.

    The state is read and changed in one transaction, and a flush claims a mail in
    one before sending it: what is printed is what happened.
    """
    status = 0
    for mail_id in ids:
        with journal.transaction():
            try:
                state = journal.outbox_mail(mail_id).state
            except KeyError:
                state = None
            changed = state is not None and journal.set_outbox_state(
                mail_id, target, only_from=sources)
        if changed:
            print(f"mail {mail_id}: {meaning}")
            continue
        status = 1
        if state is None:
            print(f"mailbot: no outgoing mail {mail_id}", file=sys.stderr)
        else:
            why = _BUSY.get(state, f"is {state}, not {' or '.join(sources)}")
            print(f"mailbot: mail {mail_id} {why}; cannot {action} it", file=sys.stderr)
    return status
