"""The readable body of a mail: its MIME parts walked and decoded, its forwards collected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email.errors import MessageDefect
from email.message import EmailMessage, Message
from email.parser import BytesParser

from mailbot.text import one_line
from mailbot.textmail import plainmime, shortcuts
from mailbot.textmail.headers import (
    content_params,
    content_type,
    header_text,
    is_attachment,
    safe,
)
from mailbot.textmail.htmltext import html_to_text
from mailbot.textmail.text import decode_text_bytes, normalize_text, unflow, unsurrogate

# How deep we follow forwarded mails attached as message/rfc822.
_MAX_FORWARD_DEPTH = 3
# How deep MIME parts may nest before the body is not read at all: real clients nest a
# handful of levels; hundreds are a hostile mail that would exhaust the Python stack.
MAX_PART_DEPTH = 20


class NestingDefect(MessageDefect):
    """The MIME parts nest too deeply to be read (the stdlib parser ran out of stack)."""


def parse_bytes(raw: bytes) -> EmailMessage:
    """The stdlib parser with `policy.default` (a plain Content-Type left unparsed,
    `shortcuts.LAZY`); it records defects instead of raising.

    Its parser recurses once per nested part: a mail of a thousand nested
    message/rfc822 parts exhausts the stack. Such a mail keeps its headers, its body
    is left unparsed, and a `NestingDefect` says why (see `too_deep`).
    A mail of plain MIME shape is read without the parser, to the same message
    (`plainmime`).
    """
    plain = plainmime.parse_plain(raw)
    if plain is not None:
        return plain
    try:
        message = BytesParser(policy=shortcuts.LAZY).parsebytes(raw)
    except RecursionError:
        message = BytesParser(policy=shortcuts.LAZY).parsebytes(raw, headersonly=True)
        message.defects.append(NestingDefect("MIME parts nested too deeply to parse"))
    assert isinstance(message, EmailMessage)
    return message


def too_deep(message: Message) -> bool:
    """The parts nest deeper than `MAX_PART_DEPTH` (or too deep for the parser at all)."""
    if any(isinstance(d, NestingDefect) for d in message.defects):
        return True
    # Walked with an explicit stack: recursion is what this guards against.
    stack = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_PART_DEPTH:
            return True
        stack.extend((sub, depth + 1) for sub in _subparts(part))
    return False


@dataclass(frozen=True)
class Forwarded:
    """A mail forwarded as a message/rfc822 attachment."""

    subject: str
    text: str
    forwarded: tuple[Forwarded, ...] = ()


@dataclass(frozen=True)
class MailText:
    """The readable body of a mail, and the mails attached to it as forwards."""

    text: str
    forwarded: tuple[Forwarded, ...] = field(default_factory=tuple)


def read_body(message: Message) -> MailText:
    """The body text (plain preferred, HTML converted only without a plain part) and forwards."""
    text = _part_text(message, depth=0)
    forwards = tuple(_forwards(message, depth=1))
    return MailText(normalize_text(text or ""), forwards)


def _part_text(part: Message, *, depth: int) -> str | None:
    # Parts nested beyond the limit are not read (`too_deep` tells the caller why).
    if depth > MAX_PART_DEPTH or is_attachment(part):
        return None
    ctype = content_type(part)
    if ctype == "text/plain":
        return _decoded(part)
    if ctype == "text/html":
        return html_to_text(normalize_text(_decoded(part)))
    if not ctype.startswith("multipart/"):
        return None
    parts = _subparts(part)
    if ctype == "multipart/alternative":
        return _alternative_text(parts, depth=depth + 1)
    if ctype == "multipart/related":
        return _part_text(parts[0], depth=depth + 1) if parts else None
    # mixed, signed, and the unknown: every inline text part, in order (Apple Mail
    # splits a body around an inline picture into several text parts).
    texts = [t for t in (_part_text(p, depth=depth + 1) for p in parts) if t is not None]
    return "\n".join(texts) if texts else None


def _alternative_text(parts: list[Message], *, depth: int) -> str | None:
    plain = [p for p in parts if _offers_plain(p, depth=depth)]
    if plain:
        return _part_text(plain[-1], depth=depth)
    for candidate in reversed(parts):
        text = _part_text(candidate, depth=depth)
        if text is not None:
            return text
    return None


def _offers_plain(part: Message, *, depth: int) -> bool:
    if depth > MAX_PART_DEPTH:
        return False
    ctype = content_type(part)
    if ctype == "text/plain":
        return not is_attachment(part)
    if ctype.startswith("multipart/"):
        return any(_offers_plain(p, depth=depth + 1) for p in _subparts(part))
    return False


def _subparts(part: Message) -> list[Message]:
    # Only a multipart part holds parts; asking another for its payload reads its
    # Content-Transfer-Encoding for nothing (`too_deep` asks every part).
    if not part.is_multipart():
        return []
    payload = _raw_payload(part)
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, Message)]


def _raw_payload(part: Message) -> object:
    try:
        return part.get_payload()
    except Exception:
        return None


def _decoded(part: Message) -> str:
    data = safe(lambda: part.get_payload(decode=True), None)
    if not isinstance(data, bytes):
        payload = _raw_payload(part)
        data = unsurrogate(payload).encode("utf-8") if isinstance(payload, str) else b""
    params = content_params(part)
    text = normalize_text(decode_text_bytes(data, params.get("charset")))
    if params.get("format", "").strip().lower() == "flowed":
        text = unflow(text, delsp=params.get("delsp", "").strip().lower() == "yes")
    return text


def _forwards(part: Message, *, depth: int, nesting: int = 0) -> Iterator[Forwarded]:
    # `depth` counts forwards, `nesting` counts MIME levels of any kind.
    if depth > _MAX_FORWARD_DEPTH or nesting > MAX_PART_DEPTH:
        return
    ctype = content_type(part)
    if ctype == "message/rfc822":
        for inner in _subparts(part):
            yield Forwarded(
                subject=one_line(header_text(inner, "Subject")),
                text=normalize_text(_part_text(inner, depth=nesting + 1) or ""),
                forwarded=tuple(_forwards(inner, depth=depth + 1, nesting=nesting + 1)),
            )
        return
    if ctype.startswith("multipart/"):
        for sub in _subparts(part):
            yield from _forwards(sub, depth=depth, nesting=nesting + 1)
