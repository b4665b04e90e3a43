"""Readable text and headers out of a mail as real clients send it (pure, no I/O).

The stdlib `email` package with `policy.default` does the MIME work; what it
leaves to us is done here: charset fallbacks (its `get_content()` raises on an
unknown charset), RFC 3676 format=flowed, HTML-only bodies, and header values
that its parser chokes on. Nothing here raises on bad input: a header that
cannot be parsed reads as its raw text, a body that cannot be decoded as
Latin-1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import MessageDefect
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import TypeVar

T = TypeVar("T")

# How deep we follow forwarded mails attached as message/rfc822.
_MAX_FORWARD_DEPTH = 3
# How deep MIME parts may nest before the body is not read at all: real clients nest a
# handful of levels; hundreds are a hostile mail that would exhaust the Python stack.
MAX_PART_DEPTH = 20
# A long thread's References: the first id and the most recent ones are all that matter
# (RFC 5322 section 3.6.4), and a hostile header may hold tens of thousands.
_MAX_IDS_KEPT = 50

# ISO-8859-1 declared is usually cp1252 written by Windows clients (curly quotes at 0x92).
_CP1252_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii",
                             "ascii", "iso_8859-1", "iso-ir-100", "cp819"})

_SPACES = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\t": " "})
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_BARE_MESSAGE_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")


class NestingDefect(MessageDefect):
    """The MIME parts nest too deeply to be read (the stdlib parser ran out of stack)."""


def parse_bytes(raw: bytes) -> EmailMessage:
    """The stdlib parser with `policy.default`; it records defects instead of raising.

    Its parser recurses once per nested part: a mail of a thousand nested
    message/rfc822 parts exhausts the stack. Such a mail keeps its headers, its body
    is left unparsed, and a `NestingDefect` says why (see `too_deep`).
    """
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError:
        message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
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


def _safe(read: Callable[[], T], default: T) -> T:
    # The header parser of policy.default has crashed on hostile input in the past
    # (IndexError, ValueError, HeaderParseError...): a header we cannot read is absent.
    try:
        return read()
    except Exception:
        return default


# ---------------------------------------------------------------- text helpers


def decode_text_bytes(data: bytes, declared: str | None = None) -> str:
    """Bytes to text: UTF-8, then the declared charset, then cp1252, then Latin-1."""
    for charset in _charset_chain(declared):
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _charset_chain(declared: str | None) -> list[str]:
    chain = ["utf-8"]
    name = (declared or "").strip().strip("\"'").lower()
    if name in _CP1252_ALIASES:
        name = "cp1252"
    if name and name not in chain:
        chain.append(name)
    chain.append("cp1252")
    return chain


def normalize_text(text: str) -> str:
    """One newline convention, no BOM, composed Unicode (NFC)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return unicodedata.normalize("NFC", text)


def analysis_line(line: str) -> str:
    """A line as the grammar reads it: tabs and non-breaking spaces are spaces, runs collapsed."""
    return " ".join(line.translate(_SPACES).split(" ")).strip() if line else ""


def one_line(value: str) -> str:
    """A header value safe to show or reuse: control characters (CR, LF...) become spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


def unflow(text: str, *, delsp: bool) -> str:
    """Join RFC 3676 soft-wrapped lines (a trailing space), honouring DelSp and space-stuffing."""
    out: list[str] = []
    # The pieces of the paragraph being joined, joined once at its end: adding them
    # one by one is quadratic in the length of a paragraph.
    pending: list[str] = []
    pending_depth = 0
    for raw in text.split("\n"):
        stripped = raw.lstrip(">")
        depth = len(raw) - len(stripped)
        line = stripped[1:] if stripped.startswith(" ") else stripped
        if pending and depth != pending_depth:
            out.append(_quoted(pending_depth, "".join(pending)))
            pending = []
        flowed = line.endswith(" ") and line != "-- "
        if flowed and delsp:
            line = line[:-1]
        pending.append(line)
        pending_depth = depth
        if not flowed:
            out.append(_quoted(depth, "".join(pending)))
            pending = []
    if pending:
        out.append(_quoted(pending_depth, "".join(pending)))
    return "\n".join(out)


def _quoted(depth: int, line: str) -> str:
    return (">" * depth + " " + line) if depth else line


# ---------------------------------------------------------------- HTML


_BLOCK_TAGS = frozenset({
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer", "address",
})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template"})
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")


class _HtmlText(HTMLParser):
    """Text of an HTML body: blocks become lines, <blockquote> becomes `> ` quoting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._quote = 0
        self._pre = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
            return
        if tag in _BLOCK_TAGS:
            self._newline()
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if tag in _BLOCK_TAGS and tag != "br":
            self._newline()
        if tag == "blockquote":
            self._quote = max(0, self._quote - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            first, *rest = data.split("\n")
            self._current.append(first)
            for line in rest:
                self._newline()
                self._current.append(line)
        else:
            self._current.append(_HTML_SPACE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._newline()

    def _newline(self) -> None:
        joined = "".join(self._current)
        line = joined.rstrip(" ") if self._pre else joined.strip(" ")
        self._current = []
        self.lines.append(_quoted(self._quote, line) if line else "")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body, good enough for <p>/<br>/<div> mails."""
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:
        # html.parser is lenient, but a crash must not lose the mail: strip tags crudely.
        return re.sub(r"<[^>]*>", " ", markup)
    text = "\n".join(parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# ---------------------------------------------------------------- headers


@dataclass(frozen=True)
class Mailbox:
    """One address of a header: the display name (decoded) and the bare address, lower-cased."""

    name: str
    address: str


def header_text(message: Message, name: str) -> str:
    """The first `name` header, RFC 2047/2231 decoded and unfolded; "" when absent."""
    values = header_texts(message, name)
    return values[0] if values else ""


def header_texts(message: Message, name: str) -> list[str]:
    """Every `name` header, decoded and unfolded."""
    out: list[str] = []
    for raw in raw_headers(message, name):
        decoded = _decode_header(name, raw)
        out.append(unsurrogate(decoded if decoded is not None else _legacy_decode(raw)))
    return out


def _decode_header(name: str, raw: str) -> str | None:
    try:
        return str(policy.default.header_factory(name, raw))
    except Exception:  # the policy's parser has crashed on hostile headers before
        return None


def unsurrogate(value: str) -> str:
    """Undo the parser's surrogate escapes of raw 8-bit header bytes (mostly UTF-8 in practice)."""
    if not any("\ud800" <= c <= "\udfff" for c in value):
        return value
    try:
        return decode_text_bytes(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def raw_headers(message: Message, name: str) -> list[str]:
    """Every `name` header as it stands in the source (folding removed, not decoded)."""
    wanted = name.lower()
    out: list[str] = []
    for key, value in message.raw_items():
        if key.lower() == wanted:
            out.append(re.sub(r"\r?\n[ \t]", " ", str(value)).strip())
    return out


def header_names(message: Message) -> list[str]:
    """The names of all headers, lower-cased."""
    return [key.lower() for key, _ in message.raw_items()]


def _legacy_decode(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except Exception:
        return raw


def mailboxes(message: Message, name: str) -> list[Mailbox]:
    """The addresses of every `name` header (From, To, Cc, Reply-To...)."""
    out: list[Mailbox] = []
    for raw in raw_headers(message, name):
        parsed = _policy_mailboxes(name, raw)
        out.extend(parsed if parsed is not None else _legacy_mailboxes(raw))
    return out


def _policy_mailboxes(name: str, raw: str) -> list[Mailbox] | None:
    try:
        header = policy.default.header_factory(name, raw)
    except Exception:
        return None
    return [Mailbox(one_line(unsurrogate(a.display_name)), unsurrogate(a.addr_spec).strip().lower())
            for a in getattr(header, "addresses", ()) if a.addr_spec.strip()]


def _legacy_mailboxes(raw: str) -> list[Mailbox]:
    out: list[Mailbox] = []
    pairs: list[tuple[str, str]] = _safe(lambda: getaddresses([raw]), [])
    for display, address in pairs:
        if address.strip():
            out.append(Mailbox(one_line(unsurrogate(_legacy_decode(display))),
                               unsurrogate(address).strip().lower()))
    return out


def message_ids(message: Message, name: str) -> tuple[str, ...]:
    """The `<...>` ids of a Message-ID / References / In-Reply-To header, in order, each once.

    Of a longer list, the first id and the last `_MAX_IDS_KEPT` are kept.
    """
    ids: dict[str, None] = {}
    for raw in raw_headers(message, name):
        found = _MESSAGE_ID.findall(raw)
        if not found and _BARE_MESSAGE_ID.match(raw.strip()):
            found = [f"<{raw.strip()}>"]
        ids.update(dict.fromkeys(found))
    kept = list(ids)
    if len(kept) > _MAX_IDS_KEPT + 1:
        kept = [kept[0], *kept[-_MAX_IDS_KEPT:]]
    return tuple(kept)


def header_date(message: Message) -> datetime | None:
    """The Date header as an aware datetime (UTC when it names no zone); None if unreadable."""
    raws = raw_headers(message, "Date")
    if not raws:
        return None
    value = _safe(lambda: parsedate_to_datetime(raws[0]), None)
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def content_type(part: Message) -> str:
    """`maintype/subtype` in lower case; text/plain when unreadable (RFC 2045's default).

    Read from the raw header, as `Message.get_content_type` does, without building
    the policy's header object (which dominated the parse time).
    """
    raws = raw_headers(part, "Content-Type")
    if not raws:
        return _safe(part.get_default_type, "text/plain")
    ctype = raws[0].split(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _content_params(part: Message) -> dict[str, str]:
    """The Content-Type parameters (RFC 2231 decoded), keys lower-cased."""
    raws = raw_headers(part, "Content-Type")
    if not raws:
        return {}
    try:
        params = policy.default.header_factory("content-type", raws[0]).params
        return {str(k).lower(): str(v) for k, v in params.items()}
    except Exception:
        return {}


def _is_attachment(part: Message) -> bool:
    raws = raw_headers(part, "Content-Disposition")
    return bool(raws) and raws[0].split(";")[0].strip().lower() == "attachment"


# ---------------------------------------------------------------- bodies


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
    if depth > MAX_PART_DEPTH or _is_attachment(part):
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
        return not _is_attachment(part)
    if ctype.startswith("multipart/"):
        return any(_offers_plain(p, depth=depth + 1) for p in _subparts(part))
    return False


def _subparts(part: Message) -> list[Message]:
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
    data = _safe(lambda: part.get_payload(decode=True), None)
    if not isinstance(data, bytes):
        payload = _raw_payload(part)
        data = unsurrogate(payload).encode("utf-8") if isinstance(payload, str) else b""
    params = _content_params(part)
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
