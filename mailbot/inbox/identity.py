"""What makes two arrivals one mail: its Message-ID and a digest of what its author wrote.

A mailbox may hold a mail twice (aog@ in To and through an alias, a
redelivery, a folder rebuilt under a new UIDVALIDITY), and a different mail
may carry a Message-ID already seen (a careless client, a helpdesk that
derives it from the ticket, someone who wants a genuine request skipped). The
Message-ID alone cannot tell these apart; with the digest of the mail's
content it can: same Message-ID and same digest is a copy, same Message-ID and
another digest is another mail.

The digest covers what the author wrote and no mail server changes: the body
and the header fields of `AUTHOR_FIELDS`. Trace fields (`Received`,
`Return-Path`, `Delivered-To`, ...) differ between two deliveries of one mail
and are left out; line endings are normalised (a Maildir file has LF, IMAP
hands out CRLF).
"""

from __future__ import annotations

import hashlib
import re
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailbot.textmail.plainmime import plain_fields

AUTHOR_FIELDS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type",
    "content-transfer-encoding", "auto-submitted",
})
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def mail_identity(raw: bytes) -> tuple[str | None, str]:
    """`message_id_key(raw)` and `content_digest(raw)`, from one parse of the header."""
    head, body = _head_and_body(raw)
    fields = _fields(head)
    return _message_id(fields), _digest(fields, body)


def message_id_key(header: bytes) -> str | None:
    """The `<...>` Message-ID of a header section (or whole mail), None when it has none."""
    return _message_id(_fields(_head_and_body(header)[0]))


def content_digest(raw: bytes) -> str:
    """A digest of the author's header fields and the body, the same for every copy."""
    head, body = _head_and_body(raw)
    return _digest(_fields(head), body)


def _head_and_body(raw: bytes) -> tuple[bytes, bytes]:
    # The parser's header ends at the first empty line, never later than this cut:
    # parsing the header alone reads the same fields without reading the body.
    end = _HEADER_END.search(raw)
    return (raw[: end.start()], raw[end.end():]) if end else (raw, b"")


def _fields(head: bytes) -> list[tuple[str, str]]:
    """The header's fields as compat32's parser reads them, values as text."""
    section = head + b"\n\n"
    # An ASCII header of plain shape reads the same without the parser, which took
    # longer than the rest of the identity (compat32 hands out 8-bit values as `Header`
    # objects, whose text is its own: those are the parser's).
    plain = plain_fields(section.decode("ascii")) if section.isascii() else None
    if plain is not None:
        return plain
    parsed = BytesHeaderParser(policy=compat32).parsebytes(section)
    return [(name, str(value)) for name, value in parsed.items()]


def _message_id(fields: list[tuple[str, str]]) -> str | None:
    value = next((value for name, value in fields if name.lower() == "message-id"), None)
    if value is None:
        return None
    found = _MESSAGE_ID.search(" ".join(value.split()))
    return found.group() if found else None


def _digest(fields: list[tuple[str, str]], body: bytes) -> str:
    digest = hashlib.sha256()
    for name, value in fields:
        if name.lower() in AUTHOR_FIELDS:
            # Unfolded and with runs of white space as one: folding is the transport's.
            text = " ".join(value.split())
            digest.update(f"{name.lower()}:{text}\n".encode("utf-8", "surrogateescape"))
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\n"))
    return digest.hexdigest()[:32]
