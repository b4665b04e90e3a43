"""Header values as real clients write them: decoded, unfolded, never raising, bounded.

A header that the policy's parser cannot read falls back to the legacy decoder,
and failing that reads as its raw text. The work is bounded whatever the mail:
each field is cut at `MAX_HEADER_CHARS` before it is decoded, at most
`MAX_FIELDS` fields of one name are read, and at most `MAX_ADDRESSES` addresses
of one name (the policy's address parser takes about a millisecond an address:
the 40,000 Cc of a hostile mail took 40 s).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import TypeVar

from mailbot.text import one_line
from mailbot.textmail import shortcuts
from mailbot.textmail.fields import field_values, header_index, indexed_raws
from mailbot.textmail.text import unsurrogate

T = TypeVar("T")

# A long thread's References: the first id and the most recent ones are all that matter
# (RFC 5322 section 3.6.4), and a hostile header may hold tens of thousands.
_MAX_IDS_KEPT = 50

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_BARE_MESSAGE_ID = re.compile(r"^[^<>\s@]+@[^<>\s@]+$")
_ADDRESS_SPECIAL = re.compile(r'[\\"(),<>]')

# Addresses read from the fields of one name (To, Cc...): a reply copies few of them.
MAX_ADDRESSES = 100


def safe(read: Callable[[], T], default: T) -> T:
    """`read()`, or `default` if it raises."""
    # The header parser of policy.default has crashed on hostile input in the past
    # (IndexError, ValueError, HeaderParseError...): a header we cannot read is absent.
    try:
        return read()
    except Exception:
        return default


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
    # The grammar reads the Subject twice per mail: it is decoded once.
    index = header_index(message)
    known = index.texts.get(name)
    if known is None:
        known = index.texts[name] = tuple(_decoded_text(name, raw)
                                          for raw in indexed_raws(index, name))
    return list(known)


def _decoded_text(name: str, raw: str) -> str:
    decoded = _decode_header(name, raw)
    return unsurrogate(decoded if decoded is not None else _legacy_decode(raw))


def _decode_header(name: str, raw: str) -> str | None:
    plain = shortcuts.unstructured(name, raw)
    if plain is not None:
        return plain
    try:
        return str(shortcuts.header_class(name)(name, raw))
    except Exception:  # the policy's parser has crashed on hostile headers before
        return None


def _legacy_decode(raw: str) -> str:
    try:
        return str(make_header(decode_header(raw)))
    except Exception:
        return raw


def mailboxes(message: Message, name: str) -> list[Mailbox]:
    """The addresses of every `name` header (From, To, Cc, Reply-To...); the first
    `MAX_ADDRESSES` of them."""
    out: list[Mailbox] = []
    for raw in field_values(message, name):
        room = MAX_ADDRESSES - len(out)
        if room <= 0:
            break
        items = address_items(raw)[:room]
        parsed = _policy_mailboxes(name, items)
        out.extend(parsed if parsed is not None else _legacy_mailboxes(",".join(items)))
    return out[:MAX_ADDRESSES]


def address_items(raw: str) -> list[str]:
    """An address list split at its top-level commas (not those quoted, commented or
    bracketed), in one pass: what lets `mailboxes` parse only the first ones."""
    if "," not in raw:  # one address: nothing to split
        return [raw] if raw.strip() else []
    items: list[str] = []
    start, depth, quoted, angle, skipped = 0, 0, False, False, -1
    # Only these characters change where an item ends: the others are stepped over.
    for special in _ADDRESS_SPECIAL.finditer(raw):
        index, char = special.start(), special.group()
        if index == skipped:
            continue  # escaped by the backslash before it
        if char == "\\" and (quoted or depth):
            skipped = index + 1
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth:
            continue
        elif char in "<>":
            angle = char == "<"
        elif char == "," and not angle:
            items.append(raw[start:index])
            start = index + 1
    items.append(raw[start:])
    return [item for item in items if item.strip()]


def _policy_mailboxes(name: str, items: list[str]) -> list[Mailbox] | None:
    plain = shortcuts.mailboxes(name, items)
    if plain is not None:
        return [Mailbox(one_line(unsurrogate(display)), address.lower())
                for display, address in plain]
    try:
        header = shortcuts.header_class(name)(name, ",".join(items))
    except Exception:
        return None
    return [Mailbox(one_line(unsurrogate(a.display_name)), unsurrogate(a.addr_spec).strip().lower())
            for a in getattr(header, "addresses", ()) if a.addr_spec.strip()]


def _legacy_mailboxes(raw: str) -> list[Mailbox]:
    out: list[Mailbox] = []
    pairs: list[tuple[str, str]] = safe(lambda: getaddresses([raw]), [])
    for display, address in pairs:
        if address.strip():
            out.append(Mailbox(one_line(unsurrogate(_legacy_decode(display))),
                               unsurrogate(address).strip().lower()))
    return out


def message_ids(message: Message, name: str) -> tuple[str, ...]:
    """The `<...>` ids of a Message-ID / References / In-Reply-To header, in order, each once.

    Of a longer list, the first id and the last `_MAX_IDS_KEPT` are kept.
    """
    # The grammar asks for In-Reply-To and References more than once per mail.
    index = header_index(message)
    known = index.ids.get(name)
    if known is None:
        known = index.ids[name] = _message_ids(indexed_raws(index, name, ends=True))
    return known


def _message_ids(raws: list[str]) -> tuple[str, ...]:
    ids: dict[str, None] = {}
    for raw in raws:
        found = _MESSAGE_ID.findall(raw)
        if not found and _BARE_MESSAGE_ID.match(raw.strip()):
            found = [f"<{raw.strip()}>"]
        ids.update(dict.fromkeys(escaped(i) for i in found))
    kept = list(ids)
    if len(kept) > _MAX_IDS_KEPT + 1:
        kept = [kept[0], *kept[-_MAX_IDS_KEPT:]]
    return tuple(kept)


def escaped(value: str) -> str:
    """`value` as printable ASCII: any other character, and any raw 8-bit byte of the
    source, as a Python escape (`\\xe9`, `\\u2028`, `\\x00`).

    For what must stay ASCII wherever it is kept or shown, e.g. a Message-ID
    (RFC 5322): an id of odd bytes is still recorded, and is nobody's thread.
    """
    if value.isascii() and value.isprintable():
        return value
    out: list[str] = []
    for char in value:
        if "\udc80" <= char <= "\udcff":  # a raw byte, as the parser's surrogateescape
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isascii() and char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


def header_date(message: Message) -> datetime | None:
    """The Date header as an aware datetime (UTC when it names no zone); None if unreadable."""
    raws = field_values(message, "Date")
    if not raws:
        return None
    value = shortcuts.date(raws[0]) or safe(lambda: parsedate_to_datetime(raws[0]), None)
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def content_type(part: Message) -> str:
    """`maintype/subtype` in lower case; text/plain when unreadable (RFC 2045's default).

    Read from the raw header, as `Message.get_content_type` does, without building
    the policy's header object (which dominated the parse time).
    """
    raws = field_values(part, "Content-Type")
    if not raws:
        return safe(part.get_default_type, "text/plain")
    ctype = raws[0].split(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def content_params(part: Message) -> dict[str, str]:
    """The Content-Type parameters (RFC 2231 decoded), keys lower-cased."""
    raws = field_values(part, "Content-Type")
    if not raws:
        return {}
    plain = shortcuts.content_params(raws[0])
    if plain is not None:
        return plain
    try:
        params = shortcuts.header_class("content-type")("content-type", raws[0]).params
        return {str(k).lower(): str(v) for k, v in params.items()}
    except Exception:
        return {}


def is_attachment(part: Message) -> bool:
    """The part says `Content-Disposition: attachment`."""
    raws = field_values(part, "Content-Disposition")
    return bool(raws) and raws[0].split(";")[0].strip().lower() == "attachment"
