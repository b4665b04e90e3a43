"""Cheap readings of header values, each one used only where it equals the stdlib's.

`policy.default` parses every header it hands out into a structured object;
that parse was most of the time the grammar took for a mail. Real request
mail is mostly plain: ASCII subjects, `Name <user@host>` addresses,
`text/plain; charset="utf-8"`. For such values the answer can be read off
the text directly. Each function here returns that answer when the value has
a plain shape for which it provably equals the policy's, and None otherwise:
the caller then takes the policy's full path, as before. So the result never
changes, only the time (`tests/test_parse_equivalence.py` checks both, the
shapes against the stdlib on generated values, and every fixture mail).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email import _header_value_parser, headerregistry, policy
from functools import cache, lru_cache
from typing import Any

# The header names the stdlib's MIME machinery itself reads from a part while
# parsing and decoding it (`get_content_type`, `get_boundary`, `get_payload`).
_MIME_NAMES = frozenset({"content-type", "content-transfer-encoding"})

# White space, once the line breaks of folding are removed (as the policy removes them).
_FWS = r"[ \t]*"
# RFC 2045 token, without the characters the policy treats specially in a
# parameter (`*` and `'` of RFC 2231, `%`).
_TOKEN = r"[!#$&+\-.^_`{|}~0-9A-Za-z]+"
_QUOTED = r'"[ !#-\[\]-~]*"'  # printable ASCII except `"` and `\`
_PARAMS = re.compile(rf";{_FWS}(?P<name>{_TOKEN}){_FWS}={_FWS}(?P<value>{_TOKEN}|{_QUOTED}){_FWS}")
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}{_FWS}(?:;{_FWS}{_TOKEN}{_FWS}={_FWS}"
                           rf"(?:{_TOKEN}|{_QUOTED}){_FWS})*")
_ENCODING = re.compile(r"[A-Za-z0-9\-]+[ \t]*")

# An address as most clients write it: `user@host`, `<user@host>`, `Some Name
# <user@host>` or `"Name, Some" <user@host>`, without comments, ASCII but for a name
# of encoded words or raw 8-bit text.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
# An RFC 2047 encoded word, whole; its text never starts with "=" (the policy reads
# "?=" there as the end of the word).
_ENCODED_WORD = r"=\?[^?\s]+\?[qQbB]\?(?!=)[^?\s]*\?="
# A raw 8-bit byte of the source, as the parser's surrogate escape.
_RAW_BYTE = "[\udc80-\udcff]"
_WORD = rf"(?:{_ENCODED_WORD}|(?:{_ATEXT}|{_RAW_BYTE})+)"
_PHRASE = rf"{_WORD}(?:[ \t]+{_WORD})*"
_ENCODED = re.compile(_ENCODED_WORD)
_WHITE_RUN = re.compile(r"([ \t]+)")
_PRINTABLE = re.compile(r"[ -~\t]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAILBOX = re.compile(
    rf"[ \t]*(?:(?:(?P<phrase>{_PHRASE})|\"(?P<quoted>[ !#-\[\]-~]*)\")?[ \t]*"
    rf"<(?P<angled>{_ADDR_SPEC})>|(?P<bare>{_ADDR_SPEC}))[ \t]*")


@cache
def header_class(name: str) -> Any:
    """The policy's header class for `name`, built once.

    `policy.default.header_factory(name, value)` builds a new class on every call
    before it parses; the class depends on the lower-cased name only.
    """
    return policy.default.header_factory[name.lower()]  # type: ignore[index]


def unstructured(name: str, raw: str) -> str | None:
    """`str(policy.default.header_factory(name, raw))` for an unstructured field
    (Subject, Auto-Submitted...) of printable ASCII whose encoded words are whole
    words, else None.

    The policy's parse tree joins back as it came, each encoded word decoded, the
    white space between two encoded words dropped (RFC 2047 section 6.2).
    """
    if not issubclass(header_class(name), headerregistry.UnstructuredHeader):
        return None
    if "=?" not in raw:
        return raw if raw.isascii() else None  # 8-bit bytes: the policy replaces them
    if not _PRINTABLE.fullmatch(raw):
        return None
    pieces = _WHITE_RUN.split(raw)  # words at even places, white space between
    out: list[str] = []
    after_encoded = False
    for index in range(0, len(pieces), 2):
        word, space = pieces[index], pieces[index - 1] if index else ""
        if "=?" not in word:
            out.append(space + word)
            after_encoded = False
            continue
        text = _decoded_word(word)
        if text is None:
            return None
        out.append(text if after_encoded else space + text)
        after_encoded = True
    return "".join(out)


def _decoded_word(word: str) -> str | None:
    """The text of an encoded word as the policy decodes it; None when the policy would
    not read `word` as one, or its text has bytes its charset cannot decode."""
    if not _ENCODED.fullmatch(word):
        return None
    try:
        token, rest = _header_value_parser.get_encoded_word(word)
    except Exception:  # the policy takes such a word for plain text
        return None
    text = str(token)
    return None if rest or _SURROGATE.search(text) else text


def mailboxes(name: str, items: list[str]) -> list[tuple[str, str]] | None:
    """The (display name, address) of each item of an address field, as the policy's
    `addresses` give them, when every item has a plain shape; else None.

    The display name still needs `unsurrogate` and `one_line` (its white space
    differs from the policy's in runs only), the address lower-casing, as on the
    policy's path.
    """
    if not issubclass(header_class(name), headerregistry.AddressHeader):
        return None
    out: list[tuple[str, str]] = []
    for item in items:
        match = _MAILBOX.fullmatch(item)
        if match is None:
            return None
        phrase, quoted = match.group("phrase"), match.group("quoted")
        display = _phrase_text(phrase) if phrase else quoted or ""
        address = match.group("angled") or match.group("bare")
        # The policy decodes an atom of the address that starts an encoded word too.
        if display is None or (quoted and "=?" in quoted) or "=?" in address:
            return None
        out.append((display, address))
    return out


def _phrase_text(phrase: str) -> str | None:
    words: list[str] = []
    for word in phrase.split():
        text = _decoded_word(word) if "=?" in word else word
        # A line break in a display name makes the policy's Address raise.
        if text is None or "\r" in text or "\n" in text:
            return None
        words.append(text)
    return " ".join(words)


def mime_value(name: str, raw: str) -> str | None:
    """`str(policy.default.header_fetch_parse(name, raw))` for a Content-Type or
    Content-Transfer-Encoding of plain shape, else None.

    What the stdlib's parser and `get_payload` read from such a field is that text:
    the raw text without line breaks (the policy removes them before it parses),
    a Content-Type's parameters written again as `; name="value"`.
    """
    lowered = name.lower()
    return _plain_mime(lowered, raw) if lowered in _MIME_NAMES else None


# The parser asks for one part's Content-Type three to five times in a row.
@lru_cache(maxsize=32)
def _plain_mime(lowered: str, raw: str) -> str | None:
    if not raw.isascii() or "=?" in raw:
        return None
    text = raw.replace("\r", "").replace("\n", "")
    if lowered == "content-transfer-encoding":
        return text if _ENCODING.fullmatch(text) else None
    params = _params(text)
    if params is None:
        return None
    if ";" not in text:
        return text
    # As the policy's MimeParameters writes them: quoted, and a bare name when empty.
    written = [f'{key}="{value}"' if value else key for key, value in params]
    return text[:text.index(";") + 1] + " " + "; ".join(written)


def _params(text: str) -> list[tuple[str, str]] | None:
    """The parameters of a plain Content-Type (line breaks removed), unquoted, names as
    written; None for another shape, or a name given twice (the policy keeps the first
    of one spelling, the last of two)."""
    if not _CONTENT_TYPE.fullmatch(text):
        return None
    params: list[tuple[str, str]] = []
    for match in _PARAMS.finditer(text):
        key, value = match.group("name"), match.group("value")
        params.append((key, value[1:-1] if value.startswith('"') else value))
    if len({key.lower() for key, _ in params}) < len(params):
        return None
    return params


def content_params(raw: str) -> dict[str, str] | None:
    """The policy's `params` of a Content-Type of plain shape (names lower-cased,
    quotes removed), else None."""
    params = _lowered_params(raw)
    return None if params is None else dict(params)


# The Content-Type of a text part is one of a handful ("text/plain; charset=utf-8"...).
@lru_cache(maxsize=16)
def _lowered_params(raw: str) -> tuple[tuple[str, str], ...] | None:
    # Read unfolded, as `headers.raw_headers` hands it out: a line break left in it
    # would be in the policy's reading too.
    if not raw.isascii() or "=?" in raw or "\r" in raw or "\n" in raw:
        return None
    params = _params(raw)
    return None if params is None else tuple((key.lower(), value) for key, value in params)


# A Date as clients write it (RFC 5322 section 3.3), without obsolete forms or comments.
_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(?P<day>[0-2]?[0-9]|3[01]) "
    r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<year>(?:19|20)[0-9]{2}) "
    r"(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9]):(?P<second>[0-5][0-9]) "
    r"(?P<sign>[+-])(?P<zh>[01][0-9])(?P<zm>[0-5][0-9])")
_MONTHS = {name: number for number, name in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def date(raw: str) -> datetime | None:
    """`email.utils.parsedate_to_datetime(raw)` for a Date of plain shape, else None
    (also for a day the month does not have: the stdlib raises there)."""
    match = _DATE.fullmatch(raw)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zh, zm = match.groups()
    try:
        return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute),
                        int(second), tzinfo=_zone(sign, int(zh) * 60 + int(zm)))
    except ValueError:
        return None


# Mail comes from a handful of zones: each is built once.
@lru_cache(maxsize=64)
def _zone(sign: str, minutes: int) -> timezone | None:
    # "-0000": the zone is not known (RFC 5322 section 3.3), a naive time as the stdlib's.
    if sign == "-" and not minutes:
        return None
    return timezone(timedelta(minutes=-minutes if sign == "-" else minutes))


class LazyPolicy(policy.EmailPolicy):
    """`policy.default`, except that a plain Content-Type or Content-Transfer-Encoding
    is handed out as its text instead of a parsed header object.

    The parser asks for these fields several times for every MIME part; a plain
    one reads the same either way (`mime_value`). Only for the grammar's own
    reading: the messages it parses never leave `textmail`.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        if name.lower() not in _MIME_NAMES:
            return super().header_fetch_parse(name, value)
        text = mime_value(name, value)
        return text if text is not None else _parsed_mime(name, value)


# The parser asks for one part's Content-Type three to five times in a row: one
# that takes the policy's path (an RFC 2231 file name...) is parsed once.
@lru_cache(maxsize=8)
def _parsed_mime(name: str, value: str) -> Any:
    try:
        return policy.default.header_fetch_parse(name, value)
    except Exception:
        # The policy's parser crashes on some hostile values ("text/plain; a*" raises
        # IndexError), and with it the whole parse: the parser and `get_payload` read
        # such a field as its bare text, as compat32 does.
        return value.replace("\r", "").replace("\n", "")


LAZY = LazyPolicy()
