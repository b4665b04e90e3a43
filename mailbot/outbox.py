"""Delivering queued mail: the only place that sends (logic only enqueues).

Each mail is marked sent in its own commit right after the server accepted it.
If the process dies between the server's "250 OK" and that commit, the next
run sends the mail again (at-least-once; same Message-ID, so mail clients can
fold the copies). That window is one SQLite commit, measured by
`benchmarks/bench_outbox.py`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imapclient
import imapclient.exceptions
import tenacity

from mailbot import config as cfg
from mailbot.errors import ImapError, MailbotError, SmtpError
from mailbot.inbox import connect_imap
from mailbot.journal import Journal, OutboxRow

log = logging.getLogger(__name__)


@dataclass
class FlushReport:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # permanently refused
    deferred: list[int] = field(default_factory=list)  # temporary refusal: next run
    held: int = 0


def _transient_smtp(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPAuthenticationError | ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, OSError | smtplib.SMTPException)


def connect_smtp(s: cfg.Smtp) -> smtplib.SMTP:
    """One connection per run; connect and login retried, never DATA."""
    context = ssl.create_default_context(cafile=s.ca_file or None)
    password = cfg.secret(s.password_env) if s.user else None

    @tenacity.retry(
        retry=tenacity.retry_if_exception(_transient_smtp),
        stop=tenacity.stop_before_delay(s.retry_seconds),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=10),
        reraise=True,
    )
    def attempt() -> smtplib.SMTP:
        client: smtplib.SMTP
        if s.security == "ssl":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if s.user:
                client.login(s.user, password or "")
        except BaseException:
            client.close()
            raise
        return client

    where = f"{s.host}:{s.port}"
    try:
        return attempt()
    except smtplib.SMTPAuthenticationError as exc:
        raise MailbotError(f"SMTP login refused for {s.user!r} at {where}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailbotError(f"SMTP certificate of {where} not trusted: {exc}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpError(f"{where}: {exc}") from exc


def _write_eml(directory: Path, mail: OutboxRow) -> Path:
    """Atomically write the mail's exact bytes, and its envelope beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{mail.created[:19].replace(':', '')}-{mail.id:05d}-{mail.kind}"
    envelope = {"mail_from": mail.mail_from, "rcpt_to": list(mail.rcpt_to),
                "message_id": mail.message_id}
    for name, content in (
        (stem + ".envelope.json", json.dumps(envelope, indent=2).encode() + b"\n"),
        (stem + ".eml", mail.data),
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

    def send(self, mail: OutboxRow) -> None:
        if self.config.outbox.transport == "directory":
            _write_eml(self.config.path(self.config.outbox.directory), mail)
            return
        if self.smtp is None:
            self.smtp = connect_smtp(self.config.outbox.smtp)
        self.smtp.sendmail(mail.mail_from, list(mail.rcpt_to), mail.data)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()


def flush(config: cfg.Config, journal: Journal,
          after_send: Callable[[OutboxRow], None] | None = None) -> FlushReport:
    """Send every queued mail once; held mail waits for `mailbot outbox approve`."""
    report = FlushReport(held=len(journal.outbox("held")))
    delivery = _Delivery(config)
    try:
        for mail in journal.outbox("queued"):
            try:
                delivery.send(mail)
            except smtplib.SMTPResponseException as exc:
                permanent = 500 <= exc.smtp_code < 600
                text = exc.smtp_error
                text = text.decode(errors="replace") if isinstance(text, bytes) else text
                error = f"{exc.smtp_code} {text}"
                with journal.transaction():
                    journal.mark_attempt_failed(mail.id, error, permanent=permanent)
                (report.failed if permanent else report.deferred).append(mail.id)
                log.warning("mail %d (%s) refused: %s", mail.id, mail.subject, error)
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                with journal.transaction():
                    journal.mark_attempt_failed(mail.id, f"recipients refused: {exc.recipients}",
                                                permanent=True)
                report.failed.append(mail.id)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                s = config.outbox.smtp
                raise SmtpError(f"{s.host}:{s.port}: {exc}") from exc
            with journal.transaction():
                journal.mark_sent(mail.id)
            report.sent.append(mail.id)
            log.info("sent %s mail %d to %s", mail.kind, mail.id, ", ".join(mail.rcpt_to))
            if after_send is not None:
                after_send(mail)
    finally:
        delivery.close()
    return report


def copy_for_review(config: cfg.Config, journal: Journal) -> int:
    """Store a copy of each sent mail where AOG reads it; retried next run on failure."""
    review = config.outbox.review
    pending = [m for m in journal.outbox("sent") if not m.copied]
    if review.copy_to == "none" or not pending:
        return 0
    if review.copy_to == "directory":
        same_place = config.outbox.transport == "directory"
        for mail in pending:
            if not same_place:
                _write_eml(config.path(config.outbox.directory), mail)
            with journal.transaction():
                journal.mark_copied(mail.id)
        return len(pending)
    client = connect_imap(config.inbox.imap)
    try:
        if not client.folder_exists(review.imap_folder):
            client.create_folder(review.imap_folder)
        for mail in pending:
            client.append(review.imap_folder, mail.data, flags=[b"\\Seen"])
            with journal.transaction():
                journal.mark_copied(mail.id)
    except (TimeoutError, OSError, imapclient.exceptions.IMAPClientError) as exc:
        raise ImapError(f"cannot store review copies in {review.imap_folder!r}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
            client.logout()
    return len(pending)


def held_kind(config: cfg.Config, kind: str) -> bool:
    return kind in config.outbox.review.hold
