"""The bytes of one mail: headers, threading, body encoding and the SMTP envelope.

A mail is written field by field into a `Draft`, as `email.policy.SMTP` would write
it (CRLF; an ASCII body with short lines stays 7bit, anything else is
quoted-printable UTF-8, so no line exceeds 998 octets), but without an
`EmailMessage`: every field that holds text (addresses, subject, verdict line) is
written by `reply.headers` from its value, the others are fixed ASCII, and none
is parsed again. Blind copies exist only in `rcpt_to`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email import quoprimime
from email.utils import format_datetime, parseaddr

from mailbot.model import Origin, OutgoingMail
from mailbot.reply.headers import (
    MAX_LINE,
    MAX_LINE_OCTETS,
    Mailbox,
    display_name,
    mailbox_field,
    msg_id,
    text_field,
)
from mailbot.reply.quoting import header_value, plain_lines
from mailbot.reply.settings import ReplySettings

__all__ = ["MAX_LINE_OCTETS"]

# References kept when the thread is long: the first one and the most recent ones.
_MAX_REFERENCES = 20
# The body's own fields, as `EmailMessage.set_content(body, charset="utf-8")` writes them.
_CONTENT_TYPE = 'Content-Type: text/plain; charset="utf-8"\r\n'
_MIME_VERSION = "MIME-Version: 1.0\r\n"
# A Message-ID the header registry writes back as it is: dot-atoms, no domain literal.
_DOT_ATOM_ID = re.compile(
    r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*>")


class Draft:
    """A mail being written: its fields in order, each folded already, then its body."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id  # as the Message-ID field reads back
        self._head: list[str] = []
        self._body = ""

    def add(self, name: str, value: str) -> None:
        """A field whose value is folded already (lines joined by "\\n "), set as it is."""
        self._head.append(f"{name}: " + "\r\n".join(value.splitlines()) + "\r\n")

    def add_structured(self, name: str, value: str, as_is: bool) -> str:
        """A field of the bot's own ASCII (Date, Message-ID), as the stdlib's header
        registry writes it; the value as it reads back. `as_is`: the registry reads
        `value` as it is, so that on one line it writes it unchanged."""
        if as_is and len(name) + 2 + len(value) <= MAX_LINE:
            self._head.append(f"{name}: {value}\r\n")
            return value
        # A long or odd configured domain, an odd offset: rare, so the registry's own.
        from email.policy import SMTP

        field = SMTP.header_factory(name, value)
        self._head.append(field.fold(policy=SMTP))
        return str(field)

    def set_body(self, body: str) -> None:
        """The plain-text body, 7bit when it can be, else quoted-printable UTF-8."""
        body = plain_lines(body)
        short = max(map(len, body.split("\n"))) <= MAX_LINE_OCTETS
        # What `contentmanager.set_text_content` makes of it: its lines, each ended.
        text = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
        if body.isascii() and short:
            cte, payload = "7bit", text.decode("ascii")
        else:
            cte, payload = "quoted-printable", _quoted_printable(text.decode("latin-1"))
        self._head += [_CONTENT_TYPE, f"Content-Transfer-Encoding: {cte}\r\n", _MIME_VERSION]
        self._body = payload

    def data(self) -> bytes:
        """The bytes handed to SMTP."""
        mail = "".join(self._head) + "\r\n" + self._body.replace("\n", "\r\n")
        return mail.encode("ascii", "surrogateescape")


def _quoted_printable(text: str) -> str:
    """`quoprimime.body_encode(text, 78)` (`text`: octets as Latin-1), which maps every
    character through a table, then folds each line on its own. A line it leaves as it
    is (short, printable ASCII but "=", no space at its end: most) is not handed to it."""
    if "\r" in text:  # a line break of its own there; `plain_lines` leaves none
        return quoprimime.body_encode(text, MAX_LINE)
    return "\n".join(
        line if len(line) <= MAX_LINE and line.isascii() and line.isprintable()
        and "=" not in line and not line.endswith(" ")
        else quoprimime.body_encode(line, MAX_LINE) for line in text.split("\n"))


def message_id(settings: ReplySettings, kind: str, key: str) -> str:
    """The deterministic Message-ID of one mail: a re-send carries the same ID."""
    digest = hashlib.sha256((kind + key).encode("utf-8")).hexdigest()[:24]
    return f"<mailbot.{kind}.{digest}@{settings.message_id_domain}>"


def new_message(
    settings: ReplySettings, kind: str, subject: str, *, key: str, queued_at: datetime
) -> Draft:
    """A mail from aog@ with the headers every kind carries."""
    if queued_at.tzinfo is None or queued_at.utcoffset() is None:
        raise ValueError("queued_at must be an aware datetime")
    mid = message_id(settings, kind, key)
    draft = Draft(mid)
    put_addresses(draft, "From", [address(settings.aog, settings.aog_name)])
    put_text(draft, "Subject", subject)
    draft.add_structured("Date", *_date_field(queued_at))
    draft.message_id = draft.add_structured("Message-ID", mid,
                                            as_is=bool(_DOT_ATOM_ID.fullmatch(mid)))
    # Marks the mail as the bot's own, so that it is never read as a request.
    put_text(draft, settings.loop_header, settings.aog, settings_text=True)
    return draft


def _date_field(when: datetime) -> tuple[str, bool]:
    """The Date value, and whether the header registry reads it as it is: it does but
    for an offset of seconds and a year before 1000."""
    offset = when.utcoffset() or timedelta(0)
    return format_datetime(when), not offset % timedelta(minutes=1) and when.year >= 1000


@functools.lru_cache(maxsize=64)
def _own_text(name: str, text: str) -> str:
    """A field of the settings' text (the loop header): the same value for every mail."""
    return text_field(name, header_value(plain_lines(text)))


def thread(draft: Draft, origin: Origin) -> None:
    """In-Reply-To and References per RFC 5322 section 3.6.4 (none without a Message-ID)."""
    parent = msg_id(origin.message_id)
    if parent is None:
        return
    references = [r for r in (msg_id(x) for x in origin.references) if r]
    references = [r for r in dict.fromkeys(references) if r != parent]
    if len(references) >= _MAX_REFERENCES:
        references = [references[0], *references[-(_MAX_REFERENCES - 2) :]]
    draft.add("In-Reply-To", parent)
    draft.add("References", "\n ".join([*references, parent]))


def put_text(draft: Draft, name: str, text: str, *, settings_text: bool = False) -> None:
    """An unstructured field (Subject, X-Mailbot-Verdict), written from its value on one
    line (controls, a lone surrogate of a mis-decoded header: a space, a "?").
    `settings_text`: AOG's wording, the same in many mails, so written once."""
    if settings_text:
        draft.add(name, _own_text(name, text))
    else:
        draft.add(name, text_field(name, header_value(plain_lines(text))))


def put_addresses(draft: Draft, name: str, boxes: Sequence[Mailbox]) -> None:
    """An address field (From, To, Cc, Reply-To), written from its mailboxes."""
    draft.add(name, mailbox_field(name, boxes))


def outgoing(
    settings: ReplySettings, draft: Draft, kind: str, subject: str, rcpt_to: Iterable[str]
) -> OutgoingMail:
    """The finished mail and its envelope."""
    return OutgoingMail(
        kind=kind,
        message_id=draft.message_id,
        mail_from=settings.aog,
        rcpt_to=tuple(unique(rcpt_to, exclude=())),
        data=draft.data(),
        subject=subject,
    )


# --- addresses -------------------------------------------------------------------


def address(addr: str, name: str = "") -> Mailbox:
    """A header address; `name` (else the one written in `addr`) as display name, as
    `reply.headers.display_name` can write it."""
    if len(addr) + len(name) <= _CACHED:
        return _address(addr, name)
    return _address.__wrapped__(addr, name)


# The same few addresses (aog@, the maintainer, the ARC staff) come back in every mail;
# a hostile mail's long ones are not kept.
_CACHED = 400


@functools.lru_cache(maxsize=1024)
def _address(addr: str, name: str) -> Mailbox:
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
    return _bare_cached(addr) if len(addr) <= _CACHED else _bare_cached.__wrapped__(addr)


@functools.lru_cache(maxsize=4096)
def _bare_cached(addr: str) -> str:
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
