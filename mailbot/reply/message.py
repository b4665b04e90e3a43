"""The bytes of one mail: headers, threading, body encoding and the SMTP envelope.

The bytes are built with `email.policy.SMTP` (CRLF): an ASCII body with short lines
stays 7bit, anything else is quoted-printable UTF-8, so no line exceeds 998 octets.
Every field that holds text (addresses, subject, verdict line) is written by
`reply.headers` from its value and set as it is: the stdlib never parses it again.
Blind copies exist only in `rcpt_to`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from mailbot.model import Origin, OutgoingMail
from mailbot.reply.headers import (
    MAX_LINE_OCTETS,
    Mailbox,
    display_name,
    mailbox_field,
    msg_id,
    text_field,
)
from mailbot.reply.quoting import header_value, plain_lines
from mailbot.reply.settings import ReplySettings

# refold_source="none": the fields set with `set_raw` below are written as they are
# (`reply.headers` folded them); the header registry would parse and refold them.
_POLICY = SMTP.clone(refold_source="none")

__all__ = ["MAX_LINE_OCTETS"]

# References kept when the thread is long: the first one and the most recent ones.
_MAX_REFERENCES = 20


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
    put_addresses(msg, "From", [address(settings.aog, settings.aog_name)])
    put_text(msg, "Subject", subject)
    msg["Date"] = format_datetime(queued_at)
    msg["Message-ID"] = message_id(settings, kind, key)
    # Marks the mail as the bot's own, so that it is never read as a request.
    put_text(msg, settings.loop_header, settings.aog)
    return msg


def thread(msg: EmailMessage, origin: Origin) -> None:
    """In-Reply-To and References per RFC 5322 section 3.6.4 (none without a Message-ID)."""
    parent = msg_id(origin.message_id)
    if parent is None:
        return
    references = [r for r in (msg_id(x) for x in origin.references) if r]
    references = [r for r in dict.fromkeys(references) if r != parent]
    if len(references) >= _MAX_REFERENCES:
        references = [references[0], *references[-(_MAX_REFERENCES - 2) :]]
    msg.set_raw("In-Reply-To", parent)
    msg.set_raw("References", "\n ".join([*references, parent]))


def put_text(msg: EmailMessage, name: str, text: str) -> None:
    """An unstructured field (Subject, X-Mailbot-Verdict), written from its value on one
    line (controls, a lone surrogate of a mis-decoded header: a space, a "?")."""
    msg.set_raw(name, text_field(name, header_value(plain_lines(text))))


def put_addresses(msg: EmailMessage, name: str, boxes: Sequence[Mailbox]) -> None:
    """An address field (From, To, Cc, Reply-To), written from its mailboxes."""
    msg.set_raw(name, mailbox_field(name, boxes))


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
    return msg.as_bytes(policy=_POLICY)


# --- addresses -------------------------------------------------------------------


def address(addr: str, name: str = "") -> Mailbox:
    """A header address; `name` (else the one written in `addr`) as display name, as
    `reply.headers.display_name` can write it."""
    display, spec = parseaddr(addr)
    return Mailbox(name=display_name(plain_lines(name or display)), address=spec or addr.strip())


def reply_recipients(settings: ReplySettings, origin: Origin) -> tuple[list[str], list[str]]:
    """To and Cc of a reply to `origin`: its sender (authenticated, an ARC contact) and
    those it names that are ARC staff themselves, at most `max_recipients` in all.

    A Reply-To of ARC staff takes the To, and the sender is then copied, so that the
    verdict always reaches the one who asked. Anyone else a request names is left
    out: a reply quotes the request, and aog@ must not mail strangers for anyone.
    """
    own = settings.own_addresses
    most, sender = settings.max_recipients, origin.sender
    staff = [a for a in origin.reply_to if settings.may_copy(_bare(a))]
    to = unique(staff, exclude=own)
    if not _same_any(sender, to):
        to = to[:most - 1]  # room for the sender, first of the Cc
    to = to or unique([sender], exclude=())
    named = [a for a in (*origin.to, *origin.cc) if settings.may_copy(_bare(a))]
    cc = unique([sender, *named], exclude={*own, *to})[:most - len(to)]
    # No usable sender (a trigger file's bad contact): the first other is the To.
    return (to, cc) if to else (cc[:1], cc[1:])


def _same_any(addr: str, addresses: Iterable[str]) -> bool:
    return any(_same(addr, a) for a in addresses)


def sender_named(addr: str, origin: Origin) -> Mailbox:
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
