"""Delivering queued mail: the only place that sends (logic only enqueues).

Every outgoing mail was stored in the journal in the same transaction as the
decision that caused it (state `queued`, or `held` for the kinds listed in
`outbox.review.hold` until `mailbot outbox approve`). `flush` sends the queued
ones over ONE SMTP connection per run (connect and login retried, never DATA)
and marks each `sent` in its own commit right after the server's final reply.

At least once, never silently lost: if the process dies between the server's
"250 OK" to DATA and the commit of the mark, the mail is still claimed
(`sending`, below) and the next run queues it again and sends it again, with
the same Message-ID (derived from the
request and the kind of mail), so mail clients and archives fold the copies.
Only a death inside that window makes a recipient see a mail twice. Measured
by `benchmarks/bench_outbox.py` (local SMTP server on loopback, journal on an
ext4 disk with `synchronous=FULL` at the time, 2-core machine, 3 runs of 400 mails): the
window (end of DATA to committed mark) has a median of 0.7-1.0 ms and a p99
of 10-12 ms, 0.4-0.5 times the loopback SMTP transaction at the median (a
real relay over the network takes longer, so the ratio only gets smaller);
with the journal on tmpfs the window is 0.1 ms. Writing the mark before DATA
instead would turn the same window into a lost mail: a duplicate with the
same Message-ID is the safer side.

A commit survives the process's death at once (WAL, `synchronous=NORMAL`); it
reaches the disk itself before the first mail of a flush leaves (so the request
behind every mail does) and then every `DURABLE_EVERY` mails: only a power cut
or a kernel crash, never a killed process, can widen the window above to those.

A temporary refusal (4xx) leaves the mail queued with its error for the next
run; a permanent one (5xx) marks it `failed` for AOG to look at; a server that
is down or goes away ends the flush with `SmtpError` and leaves that mail and
the rest queued. Recipients refused while the others accepted the mail are
kept with it (`mailbot attention` lists them); the mail is not sent again.
A refused login or an untrusted certificate is not an outage: it is never
retried and stops the flush with a `MailbotError` saying what to fix.

Each mail is claimed (`sending`) in a commit of its own before it is
transmitted: AOG's discard or hold decided before that wins, one tried after
it is refused, and `sent` is written only over that claim. A claim left by a
run that died is queued again by the next flush (the window above).

After sending, `mailbot.review` stores a copy of each sent mail where AOG reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mailbot import config as cfg
from mailbot import faults
from mailbot.errors import MailbotError
from mailbot.journal import Journal, MailRecord, Refusal
from mailbot.states import MailState

log = logging.getLogger(__name__)

# Called with ("sending" | "accepted" | "marked", mail) around each delivery:
# the seam where benchmarks time the steps and tests simulate a crash.
Trace = Callable[[str, MailRecord], None]

# A Bcc header line with its continuation lines (header block only).
_BCC_FIELD = re.compile(rb"^bcc[ \t]*:.*\r?\n(?:[ \t].*\r?\n)*", re.IGNORECASE | re.MULTILINE)
# Each `sent` mark is its own commit, made before the next mail goes out, so a killed
# process re-sends at most the one mail in flight. Those commits reach the disk (fsync)
# every this many mails: a power cut can re-send at most these, with their Message-IDs.
DURABLE_EVERY = 20


@dataclass
class FlushReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # permanently refused
    deferred: list[int] = field(default_factory=list)  # temporary refusal: next run
    held: int = 0


def without_bcc(data: bytes) -> bytes:
    """The mail's bytes without any Bcc header field; the rest byte for byte.

    Rendering never writes one; this keeps the promise at the only place that
    transmits or copies mail, whatever a future template or caller does.
    """
    end = data.find(b"\r\n\r\n")
    end = end + 2 if end >= 0 else data.find(b"\n\n") + 1 or len(data)
    head = data[:end]  # every header line with its line ending
    cleaned = _BCC_FIELD.sub(b"", head)
    return data if cleaned == head else cleaned + data[end:]


def write_eml(directory: Path, mail: MailRecord) -> Path:
    """Atomically write the mail's exact bytes, and its envelope beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    # The Message-ID's digest keeps names of different mails apart (journal ids
    # restart with a new journal) and the same mail's name stable.
    digest = hashlib.sha256(mail.message_id.encode()).hexdigest()[:8]
    stem = f"{mail.created[:19].replace(':', '')}-{mail.id:05d}-{digest}-{mail.kind}"
    envelope = {"mail_from": mail.mail_from, "rcpt_to": list(mail.rcpt_to),
                "message_id": mail.message_id}
    for name, content in (
        (stem + ".envelope.json", json.dumps(envelope, indent=2).encode() + b"\n"),
        (stem + ".eml", without_bcc(mail.data)),
    ):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, directory / name)
    return directory / (stem + ".eml")


@dataclass(frozen=True)
class Accepted:
    """The server took the mail; `refused`: recipients it refused while taking it."""

    refused: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class Refused:
    """The server refused the mail: for good (`permanent`) or for now. `lost`: the
    server closed the connection with that reply, which ends the flush."""

    error: str
    permanent: bool
    lost: MailbotError | None = None


class Delivery(Protocol):
    def send(self, mail: MailRecord) -> Accepted | Refused: ...
    def close(self) -> None: ...


class DirectoryDelivery:
    """`outbox.transport = "directory"`: each mail written as a file, for a person or a
    mail system to pick up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, mail: MailRecord) -> Accepted | Refused:
        try:
            write_eml(self.directory, mail)
        except OSError as exc:
            raise MailbotError(f"cannot write outgoing mail to {self.directory}: {exc}") from exc
        return Accepted()

    def close(self) -> None:
        pass


def delivery(config: cfg.Config) -> Delivery:
    if config.outbox.transport == "directory":
        return DirectoryDelivery(config.path(config.outbox.directory))
    from mailbot.smtp import SmtpDelivery  # smtplib and TLS only when mail goes by SMTP

    return SmtpDelivery(config.outbox.smtp)


def flush(config: cfg.Config, journal: Journal, *, trace: Trace | None = None) -> FlushReport:
    """Send every queued mail once; held mail waits for `mailbot outbox approve`."""
    report = FlushReport(held=len(journal.outbox(MailState.HELD)))
    note = trace or (lambda _event, _mail: None)
    _requeue_interrupted(journal)
    queued = journal.outbox(MailState.QUEUED)
    if not queued:
        return report
    # What caused each mail (the request, its verdict) is on disk before the mail leaves.
    journal.durable()
    out = delivery(config)
    try:
        for mail in queued:
            with journal.transaction():
                claimed = journal.claim_for_sending(mail.id)
            if not claimed:
                continue  # held or discarded since it was listed: AOG's word wins
            note("sending", mail)
            faults.reached(faults.Point.SENDING)
            with _unclaimed_on_fault(journal, mail):
                outcome = out.send(mail)
            if isinstance(outcome, Refused):
                _refused(journal, mail, outcome, report)
                continue
            note("accepted", mail)
            faults.reached(faults.Point.ACCEPTED)
            with journal.transaction():
                journal.mark_sent(mail.id, outcome.refused)
            note("marked", mail)
            _sent(journal, mail, outcome, report)
    finally:
        out.close()
        journal.durable()
    return report


def _sent(journal: Journal, mail: MailRecord, outcome: Accepted, report: FlushReport) -> None:
    report.sent.append(mail.id)
    if len(report.sent) % DURABLE_EVERY == 0:
        journal.durable()
    log.info("sent %s mail %d %s to %s", mail.kind, mail.id, mail.message_id,
             ", ".join(mail.rcpt_to))
    if outcome.refused:
        # The others have it; re-sending would give them a second copy. AOG sees the
        # refused ones in `mailbot attention` and tells them another way.
        log.warning("mail %d (%s) sent, but refused for %s", mail.id, mail.subject,
                    ", ".join(f"{r.address} ({r.reply})" for r in outcome.refused))


@contextlib.contextmanager
def _unclaimed_on_fault(journal: Journal, mail: MailRecord) -> Iterator[None]:
    """An outage while sending puts the mail back in the queue for the next run (which
    sends it again if the server had it already: the same window as a crash)."""
    try:
        yield
    except BaseException:
        with journal.transaction():
            journal.set_outbox_state(mail.id, MailState.QUEUED, only_from=(MailState.SENDING,))
        raise


def _requeue_interrupted(journal: Journal) -> None:
    """Mail a run that died was sending: sent again, byte for byte (the duplicate window)."""
    with journal.transaction():
        again = journal.requeue_interrupted()
    if again:
        log.info("mail %s was being sent by a run that stopped: sending it again (a "
                 "recipient may get it twice, with the same Message-ID)",
                 ", ".join(map(str, again)))


def _refused(journal: Journal, mail: MailRecord, refusal: Refused,
             report: FlushReport) -> None:
    with journal.transaction():
        journal.mark_attempt_failed(mail.id, refusal.error, permanent=refusal.permanent)
    log.warning("mail %d (%s) %s: %s", mail.id, mail.subject,
                "failed" if refusal.permanent else "deferred to the next run", refusal.error)
    (report.failed if refusal.permanent else report.deferred).append(mail.id)
    if refusal.lost is not None:
        raise refusal.lost


def held_kind(config: cfg.Config, kind: str) -> bool:
    """Whether mails of this kind wait for AOG's approval (`outbox.review.hold`)."""
    return kind in config.outbox.review.hold
