"""The bytes of one mail: headers, threading, body encoding and the SMTP envelope.

The bytes are built with `email.policy.SMTP` (CRLF): an ASCII body with short lines
stays 7bit, anything else is quoted-printable UTF-8, so no line exceeds 998 octets;
display names are RFC 2047 encoded. Blind copies exist only in `rcpt_to`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from mailbot.model import Origin, OutgoingMail
from mailbot.reply.quoting import header_value, plain_lines
from mailbot.reply.settings import ReplySettings

# refold_source="none": the References/In-Reply-To values below are set pre-folded
# (one msg-id per line). Folded by the header registry instead, a msg-id longer than
# a 78-octet line is turned into RFC 2047 encoded words, which breaks threading.
_POLICY = SMTP.clone(refold_source="none")

# Octets of a physical line allowed by RFC 5322 section 2.1.1 (CRLF excluded).
MAX_LINE_OCTETS = 998

# A msg-id we are willing to copy into a header verbatim: printable ASCII, no spaces.
_MSG_ID = re.compile(r"^<[!-~]{1,900}>$")
# References kept when the thread is long: the first one and the most recent ones.
_MAX_REFERENCES = 20
# The stdlib folder moves a value that fits a line of its own onto a continuation
# line ("Subject:\r\n stagecalms failed: ..."), and its own parser then keeps the
# leading space in the value. Joined back, the line stays far below 998 octets.
_EMPTY_FIRST_LINE = re.compile(rb"^([!-9;-~]+):\r\n[ \t]+", re.MULTILINE)


def message_id(settings: ReplySettings, kind: str, key: str) -> str:
    """The deterministic Message-ID of one mail: a re-send carries the same ID."""
    digest = hashlib.sha256((kind + key).encode("utf-8")).hexdigest()[:24]
    return f"<mailbot.{kind}.{digest}@{settings.message_id_domain}>"


def new_message(
    settings: ReplySettings, kind: str, subject: str, *, key: str, queued_at: datetime
) -> EmailMessage:
    """A mail from aog@ with the headers every kind carries."""
    if queued_at.tzinfo is None or queued_at.utcoffset() is None:
        raise ValueError("queued_at must be an aware datetime")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = address(settings.aog, settings.aog_name)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(queued_at)
    msg["Message-ID"] = message_id(settings, kind, key)
    # Marks the mail as the bot's own, so that it is never read as a request.
    msg[settings.loop_header] = settings.aog
    return msg


def thread(msg: EmailMessage, origin: Origin) -> None:
    """In-Reply-To and References per RFC 5322 section 3.6.4 (none without a Message-ID)."""
    parent = _clean_msg_id(origin.message_id)
    if parent is None:
        return
    references = [r for r in (_clean_msg_id(x) for x in origin.references) if r]
    references = [r for r in dict.fromkeys(references) if r != parent]
    if len(references) >= _MAX_REFERENCES:
        references = [references[0], *references[-(_MAX_REFERENCES - 2) :]]
    msg.set_raw("In-Reply-To", parent)
    msg.set_raw("References", "\n ".join([*references, parent]))


def _clean_msg_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _MSG_ID.match(value) else None


def set_body(msg: EmailMessage, body: str) -> None:
    """The plain-text body, 7bit when it can be, else quoted-printable UTF-8."""
    body = plain_lines(body)
    short = all(len(line) <= MAX_LINE_OCTETS for line in body.split("\n"))
    cte = "7bit" if body.isascii() and short else "quoted-printable"
    msg.set_content(body, charset="utf-8", cte=cte)


def outgoing(
    settings: ReplySettings, msg: EmailMessage, kind: str, subject: str, rcpt_to: Iterable[str]
) -> OutgoingMail:
    """The finished mail and its envelope."""
    return OutgoingMail(
        kind=kind,
        message_id=str(msg["Message-ID"]),
        mail_from=settings.aog,
        rcpt_to=tuple(unique(rcpt_to, exclude=())),
        data=_serialize(msg),
        subject=subject,
    )


def _serialize(msg: EmailMessage) -> bytes:
    head, sep, body = msg.as_bytes(policy=_POLICY).partition(b"\r\n\r\n")
    return _EMPTY_FIRST_LINE.sub(rb"\1: ", head) + sep + body


# --- addresses -------------------------------------------------------------------


def address(addr: str, name: str = "") -> Address:
    """A header address; `name` (else the one written in `addr`) as display name."""
    display, spec = parseaddr(addr)
    return Address(display_name=header_value(name or display), addr_spec=spec or addr.strip())


def sender_named(addr: str, origin: Origin) -> Address:
    """The address, with the request's From display name when it is the sender's."""
    return address(addr, origin.sender_name if _same(addr, origin.sender) else "")


def _bare(addr: str) -> str:
    return (parseaddr(addr)[1] or addr).strip()


def _same(a: str, b: str) -> bool:
    return _bare(a).lower() == _bare(b).lower()


def unique(addresses: Iterable[str], *, exclude: Iterable[str]) -> list[str]:
    """Bare addresses in their first order, without blanks, repeats or `exclude`."""
    seen = {_bare(a).lower() for a in exclude}
    kept: list[str] = []
    for addr in addresses:
        bare = _bare(addr)
        if bare and bare.lower() not in seen:
            seen.add(bare.lower())
            kept.append(bare)
    return kept
