"""Text of a mail as the grammar reads it: decoded bytes, one newline convention, unflowed."""

from __future__ import annotations

import re
import unicodedata

# ISO-8859-1 declared is usually cp1252 written by Windows clients (curly quotes at 0x92).
_CP1252_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii",
                             "ascii", "iso_8859-1", "iso-ir-100", "cp819"})

_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u202f": " ", "\t": " "})


def decode_text_bytes(data: bytes, declared: str | None = None) -> str:
    """Bytes to text: UTF-8, then the declared charset, then cp1252, then Latin-1."""
    for charset in _charset_chain(declared):
        try:
            return data.decode(charset)
        except (ValueError, LookupError):
            # ValueError also covers what is not a charset name at all: one holding
            # NUL ("embedded null character") or unencodable characters.
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


def unsurrogate(value: str) -> str:
    """Undo the parser's surrogate escapes of raw 8-bit header bytes (mostly UTF-8 in practice)."""
    if not _SURROGATE.search(value):
        return value
    try:
        return decode_text_bytes(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


def normalize_text(text: str) -> str:
    """One newline convention, no BOM, composed Unicode (NFC)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return unicodedata.normalize("NFC", text)


def analysis_line(line: str) -> str:
    """A line as the grammar reads it: tabs and non-breaking spaces are spaces, its ends
    stripped."""
    if not line:
        return ""
    # Of the characters `_SPACES` replaces, only the tab is ASCII: `replace` is much
    # cheaper than `translate`, and most lines are ASCII.
    return (line.replace("\t", " ") if line.isascii() else line.translate(_SPACES)).strip()


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
            out.append(quoted(pending_depth, "".join(pending)))
            pending = []
        flowed = line.endswith(" ") and line != "-- "
        if flowed and delsp:
            line = line[:-1]
        pending.append(line)
        pending_depth = depth
        if not flowed:
            out.append(quoted(depth, "".join(pending)))
            pending = []
    if pending:
        out.append(quoted(pending_depth, "".join(pending)))
    return "\n".join(out)


def quoted(depth: int, line: str) -> str:
    """`line` quoted `depth` levels deep, as `> > ` prefixes."""
    return (">" * depth + " " + line) if depth else line
