"""How a stored mail reads to a person (`mailbot outbox show`, `mailbot check`): its decoded
header fields, its text, and who got it openly or as a blind copy."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import getaddresses

from mailbot.journal import MailRecord


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
