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
ext4 disk with `synchronous=FULL`, 2-core machine, 3 runs of 400 mails): the
window (end of DATA to committed mark) has a median of 0.7-1.0 ms and a p99
of 10-12 ms, 0.4-0.5 times the loopback SMTP transaction at the median (a
real relay over the network takes longer, so the ratio only gets smaller);
with the journal on tmpfs the window is 0.1 ms. Writing the mark before DATA
instead would turn the same window into a lost mail: a duplicate with the
same Message-ID is the safer side.

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
import email
import email.policy
import hashlib
import json
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from mailbot import config as cfg
from mailbot import faults
from mailbot.errors import ConfigError, MailbotError, SmtpError
from mailbot.journal import Journal, MailRecord, Refusal
from mailbot.retry import ConnectRetry
from mailbot.states import MailState

log = logging.getLogger(__name__)

# Called with ("sending" | "accepted" | "marked", mail) around each delivery:
# the seam where benchmarks time the steps and tests simulate a crash.
Trace = Callable[[str, MailRecord], None]

# A Bcc header line with its continuation lines (header block only).
_BCC_FIELD = re.compile(rb"^bcc[ \t]*:.*\r?\n(?:[ \t].*\r?\n)*", re.IGNORECASE | re.MULTILINE)
# "421 closing transmission channel": smtplib drops the connection after it.
_CLOSING = 421


@dataclass
class FlushReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # permanently refused
    deferred: list[int] = field(default_factory=list)  # temporary refusal: next run
    held: int = 0


def _transient_smtp(exc: BaseException) -> bool:
    """Worth another connect/login attempt: network faults and 4xx replies only."""
    if isinstance(exc, ssl.SSLError):
        # A failed certificate check or TLS handshake will fail the same way again;
        # only a connection cut during the handshake is worth retrying.
        return isinstance(exc, ssl.SSLEOFError)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, OSError | smtplib.SMTPException)


def _reply_text(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {text}"


def smtp_password(s: cfg.Smtp) -> str | None:
    """The AUTH password from the environment; None when no AUTH is configured."""
    if not s.user:
        return None
    password = cfg.secret(s.password_env)
    if not password:
        raise ConfigError(
            f"outbox.smtp.user is {s.user!r} but ${s.password_env} (or ${s.password_env}_FILE)"
            " is not set"
        )
    return password


def connect_smtp(s: cfg.Smtp) -> smtplib.SMTP:
    """One connection per run; connect and login retried, never DATA."""
    context = ssl.create_default_context(cafile=s.ca_file or None)
    password = smtp_password(s)
    retry = ConnectRetry(f"SMTP server {s.host}:{s.port}", s.retry_seconds, _transient_smtp)
    try:
        return retry(lambda: _open_smtp(s, context, password))
    except (OSError, smtplib.SMTPException) as exc:
        raise _connect_fault(s, exc, retry.summary) from exc


def _open_smtp(s: cfg.Smtp, context: ssl.SSLContext, password: str | None) -> smtplib.SMTP:
    """One attempt: connect, EHLO, STARTTLS when asked, AUTH when configured."""
    client: smtplib.SMTP
    if s.security == "ssl":
        client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
    else:
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
    try:
        client.ehlo()
        if s.security == "starttls":
            # Raises SMTPNotSupportedError when not offered: never fall back to plain.
            client.starttls(context=context)
            client.ehlo()
        if password is not None:
            client.login(s.user, password)
    except BaseException:
        client.close()
        raise
    return client


def _connect_fault(s: cfg.Smtp, exc: OSError | smtplib.SMTPException,
                   tried: str) -> MailbotError:
    """An outage (SmtpError, retried at the next run) or a setting to fix (MailbotError)."""
    where = f"{s.host}:{s.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return SmtpError(f"{where}: login failed for now: {_reply_text(exc)}")
        return MailbotError(f"SMTP login refused for {s.user!r} at {where}: {_reply_text(exc)}"
                            f" (check ${s.password_env}); nothing sent")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailbotError(f"SMTP certificate of {where} not trusted: {exc.verify_message}"
                            " (outbox.smtp.ca_file names the CA to trust); nothing sent")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailbotError(
            f"SMTP server {where} does not support what outbox.smtp asks for"
            f" (security {s.security!r}{', AUTH' if s.user else ''}): {exc}; nothing sent")
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
        return MailbotError(
            f"TLS with SMTP server {where} failed: {exc.reason or exc}"
            f" (is outbox.smtp.security = {s.security!r} right for port {s.port}?);"
            " nothing sent")
    return SmtpError(f"{where}: {exc} ({tried})")


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


class _Delivery:
    """Sends one mail; the SMTP connection is opened on first use."""

    def __init__(self, config: cfg.Config) -> None:
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def send(self, mail: MailRecord) -> dict[str, tuple[int, bytes]]:
        """Transmit; returns the recipients the server refused while accepting the mail."""
        if self.config.outbox.transport == "directory":
            directory = self.config.path(self.config.outbox.directory)
            try:
                write_eml(directory, mail)
            except OSError as exc:
                raise MailbotError(f"cannot write outgoing mail to {directory}: {exc}") from exc
            return {}
        if self.smtp is None:
            self.smtp = connect_smtp(self.config.outbox.smtp)
        # sendmail, not send_message: the bytes go out exactly as stored.
        return self.smtp.sendmail(mail.mail_from, list(mail.rcpt_to), without_bcc(mail.data))

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()


def flush(config: cfg.Config, journal: Journal, *, trace: Trace | None = None) -> FlushReport:
    """Send every queued mail once; held mail waits for `mailbot outbox approve`."""
    report = FlushReport(held=len(journal.outbox(MailState.HELD)))
    note = trace or (lambda _event, _mail: None)
    _requeue_interrupted(journal)
    delivery = _Delivery(config)
    try:
        for mail in journal.outbox(MailState.QUEUED):
            with journal.transaction():
                claimed = journal.claim_for_sending(mail.id)
            if not claimed:
                continue  # held or discarded since it was listed: AOG's word wins
            note("sending", mail)
            faults.reached(faults.Point.SENDING)
            with _unclaimed_on_fault(journal, mail):
                outcome, refused = _deliver(config, journal, delivery, mail)
            if outcome is None:
                note("accepted", mail)
                faults.reached(faults.Point.ACCEPTED)
                with journal.transaction():
                    journal.mark_sent(mail.id, refused)
                note("marked", mail)
                report.sent.append(mail.id)
                log.info("sent %s mail %d %s to %s", mail.kind, mail.id, mail.message_id,
                         ", ".join(mail.rcpt_to))
            else:
                (report.failed if outcome else report.deferred).append(mail.id)
    finally:
        delivery.close()
    return report


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


def _deliver(config: cfg.Config, journal: Journal, delivery: _Delivery,
             mail: MailRecord) -> tuple[bool | None, list[Refusal]]:
    """(None, the recipients refused while the others got it) when accepted; else
    (whether the refusal was permanent, []), the refusal being recorded on the mail."""
    s = config.outbox.smtp
    try:
        refused = delivery.send(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        # Every recipient refused: nobody got it, so a temporary refusal is retried whole.
        replies = [f"{rcpt}: {code} {text.decode(errors='replace')}"
                   for rcpt, (code, text) in exc.recipients.items()]
        permanent = all(code >= 500 for code, _ in exc.recipients.values())
        return _refused(journal, mail, "recipients refused: " + "; ".join(replies),
                        permanent), []
    except smtplib.SMTPResponseException as exc:
        permanent = 500 <= exc.smtp_code < 600
        _refused(journal, mail, _reply_text(exc), permanent)
        if exc.smtp_code == _CLOSING:
            raise SmtpError(f"{s.host}:{s.port}: {_reply_text(exc)}") from exc
        return permanent, []
    except (OSError, smtplib.SMTPException) as exc:
        # Connection lost: if that was after DATA, the server may have the mail, and
        # the next run sends it again (at least once, see the module docstring).
        raise SmtpError(f"{s.host}:{s.port}: {exc}") from exc
    # The others have it; re-sending would give them a second copy. AOG sees the
    # refused ones in `mailbot attention` and tells them another way.
    partial = [Refusal(rcpt, f"{code} {text.decode(errors='replace')}")
               for rcpt, (code, text) in refused.items()]
    if partial:
        log.warning("mail %d (%s) sent, but refused for %s", mail.id, mail.subject,
                    ", ".join(f"{r.address} ({r.reply})" for r in partial))
    return None, partial


def _refused(journal: Journal, mail: MailRecord, error: str, permanent: bool) -> bool:
    with journal.transaction():
        journal.mark_attempt_failed(mail.id, error, permanent=permanent)
    log.warning("mail %d (%s) %s: %s", mail.id, mail.subject,
                "failed" if permanent else "deferred to the next run", error)
    return permanent


def envelope_recipients(mail: MailRecord) -> tuple[list[str], list[str]]:
    """The envelope recipients named in To/Cc, and the others (the blind copies)."""
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    named = {addr.strip().lower()
             for _, addr in getaddresses([str(v) for h in ("To", "Cc")
                                          for v in msg.get_all(h, [])])}
    shown = [r for r in mail.rcpt_to if r.strip().lower() in named]
    hidden = [r for r in mail.rcpt_to if r.strip().lower() not in named]
    return shown, hidden


def readable(data: bytes) -> tuple[list[tuple[str, str]], str]:
    """Decoded header fields and the decoded text body of a mail, for a person to read."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    headers = [(name, " ".join(str(value).split())) for name, value in msg.items()]
    part = msg.get_body(("plain",)) if isinstance(msg, EmailMessage) else None
    if part is None:
        return headers, "(no text part)\n"
    try:
        return headers, str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or encoding: show what is there
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
        return headers, text


def held_kind(config: cfg.Config, kind: str) -> bool:
    """Whether mails of this kind wait for AOG's approval (`outbox.review.hold`)."""
    return kind in config.outbox.review.hold
