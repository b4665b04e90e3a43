"""One place records what became of a mail: its disposition, in ONE journal transaction.

The message row, the request, its staging job or its reply (transactional
outbox) and the source's read position are written together: a crash leaves
either nothing (the mail is redone) or everything (only its marking is redone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mailbot import faults, plan
from mailbot.clock import Clock
from mailbot.config import Config
from mailbot.inbox import Incoming, Position
from mailbot.journal import Journal, MessageRecord
from mailbot.model import Origin
from mailbot.outbox import held_kind
from mailbot.states import MessageKind, RequestState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorder:
    """What recording needs besides the mail: the journal, the settings, the clock."""

    journal: Journal
    config: Config
    clock: Clock


def advance(journal: Journal, position: Position | None) -> None:
    """Remember how far the source was read (IMAP: the UID watermark)."""
    if position is not None:
        journal.set_watermark(position.folder, position.uidvalidity, position.uid)


def record(rec: Recorder, incoming: Incoming, planned: plan.Planned) -> int:
    """Record one planned mail; returns its message row."""
    d = planned.disposition
    row = _details(incoming, d)
    with rec.journal.transaction():
        message = rec.journal.record_message(
            source=incoming.source, source_key=incoming.key, kind=d.kind,
            received=incoming.received, message_id=incoming.message_id or row.message_id,
            reason=row.reason, subject=row.subject, sender=row.sender, raw=row.raw,
            request=row.request, step=planned.step, passed=planned.passed,
            digest=incoming.digest)
        _FOLLOW_UPS[type(d)](rec, message, d)
        advance(rec.journal, incoming.position)
        faults.reached(faults.Point.RECORDING)
    return message


def record_repeat(rec: Recorder, incoming: Incoming,
                  first: MessageRecord) -> tuple[int, MessageKind]:
    """Record a mail whose Message-ID was recorded before: a copy of that mail (same
    content), never served again; or another mail under its Message-ID, kept with its
    bytes for AOG (`mailbot attention`, `mailbot reprocess`)."""
    if incoming.digest == first.digest or first.digest is None:
        kind, raw = MessageKind.COPY, None
        reason = f"a copy of mail {first.id} ({first.kind})"
        log.info("mail %s %s is %s", incoming.source, incoming.key, reason)
    else:
        kind, raw = MessageKind.REUSED, incoming.raw
        reason = (f"another mail under the Message-ID {incoming.message_id} of mail "
                  f"{first.id}; left for AOG")
        log.warning("mail %s %s is %s", incoming.source, incoming.key, reason)
    with rec.journal.transaction():
        message = rec.journal.record_message(
            source=incoming.source, source_key=incoming.key, kind=kind,
            received=incoming.received, message_id=incoming.message_id, reason=reason,
            raw=raw, digest=incoming.digest, earlier=first.id, step="identity")
        advance(rec.journal, incoming.position)
        faults.reached(faults.Point.RECORDING)
    return message, kind


@dataclass(frozen=True)
class _Details:
    """The message row's columns that depend on the disposition."""

    message_id: str | None = None
    reason: str | None = None
    subject: str | None = None
    sender: str | None = None
    raw: bytes | None = None  # kept for AOG when the bot will not act on the mail
    request: int | None = None  # for a twin: the request it repeats


def _details(incoming: Incoming, d: plan.Disposition) -> _Details:
    if isinstance(d, plan.Ignored):
        return _Details(reason=d.reason)
    if isinstance(d, plan.Untrusted | plan.Kept):
        return _Details(sender=d.sender or None, raw=incoming.raw, reason=d.reason)
    origin: Origin = d.malformed.origin if isinstance(d, plan.Rejected) else d.request.origin
    reason = None
    if isinstance(d, plan.Rejected):
        reason = "; ".join(d.malformed.problems)
    if isinstance(d, plan.Twin):
        reason = f"same request as request {d.of}"
    return _Details(message_id=origin.message_id, subject=origin.subject, sender=origin.sender,
                    reason=reason, request=d.of if isinstance(d, plan.Twin) else None)


def _ignore(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Ignored)
    log.info("ignored mail %d: %s", message, d.reason)


def _keep(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Untrusted)
    log.warning("mail %d left for AOG: %s", message, d.reason)


def _kept(rec: Recorder, message: int, d: plan.Disposition) -> None:
    """Kept for AOG; over a limit, AOG is told, once per sender and day: the notice's
    Message-ID is made of both, and a Message-ID is queued once."""
    assert isinstance(d, plan.Kept)
    log.warning("mail %d kept for AOG: %s", message, d.reason)
    if not d.notify:
        return
    now = rec.clock.now()
    day = now.astimezone(rec.config.zone).date().isoformat()
    from mailbot import reply  # with the first mail to answer (see run/planning.py)

    notice = reply.render_notice(rec.config.reply_settings, rec.config.templates, d.sender,
                                 d.reason, key=f"{rec.journal.instance}:notice:{d.sender}:{day}",
                                 queued_at=now)
    rec.journal.enqueue(notice, request=None, job=None, message=message,
                        held=held_kind(rec.config, notice.kind))


def _twin(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Twin)
    log.info("mail %d is request %d again (other channel)", message, d.of)


def _reject(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Rejected)
    log.info("malformed request %s: %s", d.malformed.origin.subject,
             "; ".join(d.malformed.problems))
    if d.held:
        log.warning("%s: holding the malformed reply for AOG", d.held)
    rec.journal.enqueue(d.mail, request=None, job=None, message=message,
                        held=d.held is not None or held_kind(rec.config, d.mail.kind))


def _answer(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Answered)
    request = rec.journal.record_request(message, d.request, d.verdict, RequestState.ANSWERED)
    from mailbot import reply

    mail = reply.render_verdict(rec.config.reply_settings, rec.config.templates, d.request,
                                d.verdict,
                                key=f"{rec.journal.instance}:request:{request}",
                                queued_at=rec.clock.now())
    rec.journal.enqueue(mail, request=request, job=None, message=message,
                        held=held_kind(rec.config, mail.kind))
    _log_request(rec, request, d)


def _stage(rec: Recorder, message: int, d: plan.Disposition) -> None:
    assert isinstance(d, plan.Staged)
    request = rec.journal.record_request(message, d.request, d.verdict, RequestState.STAGING)
    rec.journal.add_job(request, d.command)
    _log_request(rec, request, d)


def _log_request(rec: Recorder, request: int, d: plan.Judged) -> None:
    log.info("request %d %s ticket %s: %s (%s)", request, d.request.mous, d.request.ticket,
             rec.config.verdict_text(d.verdict.code.value), d.verdict.check)


def _never(rec: Recorder, message: int, d: plan.Disposition) -> None:
    raise ValueError("a request no archive judged is never recorded")


_FOLLOW_UPS: dict[type, Callable[[Recorder, int, plan.Disposition], None]] = {
    plan.Ignored: _ignore,
    plan.Untrusted: _keep,
    plan.Kept: _kept,
    plan.Twin: _twin,
    plan.Rejected: _reject,
    plan.Answered: _answer,
    plan.Staged: _stage,
    plan.Unjudged: _never,
}
