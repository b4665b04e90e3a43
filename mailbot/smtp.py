"""The SMTP server: one connection per flush (connect and login retried, never DATA), and
what each of its replies means for the mail being sent.

Imported only when there is mail to send over SMTP: a run with nothing to send
loads neither smtplib nor a TLS context.
"""

from __future__ import annotations

import smtplib
import ssl

from mailbot import config as cfg
from mailbot.errors import ConfigError, MailbotError, SmtpError
from mailbot.journal import MailRecord, Refusal
from mailbot.outbox import Accepted, Refused, without_bcc
from mailbot.retry import ConnectRetry
from mailbot.tables import secret

# "421 closing transmission channel": smtplib drops the connection after it.
CLOSING = 421


class SmtpDelivery:
    """Sends mail over one connection, opened on first use."""

    def __init__(self, settings: cfg.Smtp) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, mail: MailRecord) -> Accepted | Refused:
        """The server's answer to this mail; `SmtpError` when the connection is lost (the
        mail may have reached it: the next run sends it again, see `mailbot.outbox`)."""
        s = self.settings
        if self.smtp is None:
            self.smtp = connect_smtp(s)
        try:
            # sendmail, not send_message: the bytes go out exactly as stored.
            refused = self.smtp.sendmail(mail.mail_from, list(mail.rcpt_to),
                                         without_bcc(mail.data))
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: nobody got it, so a temporary refusal is retried whole.
            replies = [f"{rcpt}: {code} {text.decode(errors='replace')}"
                       for rcpt, (code, text) in exc.recipients.items()]
            permanent = all(code >= 500 for code, _ in exc.recipients.values())
            return Refused("recipients refused: " + "; ".join(replies), permanent)
        except smtplib.SMTPResponseException as exc:
            lost = (SmtpError(f"{s.host}:{s.port}: {reply_text(exc)}")
                    if exc.smtp_code == CLOSING else None)
            return Refused(reply_text(exc), 500 <= exc.smtp_code < 600, lost)
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpError(f"{s.host}:{s.port}: {exc}") from exc
        return Accepted(tuple(Refusal(rcpt, f"{code} {text.decode(errors='replace')}")
                              for rcpt, (code, text) in refused.items()))

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()


def reply_text(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {text}"


def smtp_password(s: cfg.Smtp) -> str | None:
    """The AUTH password from the environment; None when no AUTH is configured."""
    if not s.user:
        return None
    password = secret(s.password_env)
    if not password:
        raise ConfigError(
            f"outbox.smtp.user is {s.user!r} but ${s.password_env} (or ${s.password_env}_FILE)"
            " is not set"
        )
    return password


def connect_smtp(s: cfg.Smtp) -> smtplib.SMTP:
    """One connection per run; connect and login retried, never DATA."""
    # A TLS context (and the CA store it loads) only when TLS is asked for.
    context = None if s.security == "plain" else ssl.create_default_context(
        cafile=s.ca_file or None)
    password = smtp_password(s)
    retry = ConnectRetry(f"SMTP server {s.host}:{s.port}", s.retry_seconds, _transient_smtp)
    try:
        return retry(lambda: _open_smtp(s, context, password))
    except (OSError, smtplib.SMTPException) as exc:
        raise _connect_fault(s, exc, retry.summary) from exc


def _open_smtp(s: cfg.Smtp, context: ssl.SSLContext | None,
               password: str | None) -> smtplib.SMTP:
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


def _connect_fault(s: cfg.Smtp, exc: OSError | smtplib.SMTPException,
                   tried: str) -> MailbotError:
    """An outage (SmtpError, retried at the next run) or a setting to fix (MailbotError)."""
    where = f"{s.host}:{s.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if 400 <= exc.smtp_code < 500:
            return SmtpError(f"{where}: login failed for now: {reply_text(exc)}")
        return MailbotError(f"SMTP login refused for {s.user!r} at {where}: {reply_text(exc)}"
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
