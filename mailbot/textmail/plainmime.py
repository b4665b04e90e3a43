"""Mails of plain MIME shape read without the stdlib's feed parser, to the same message.

The feed parser reads a mail line by line through a generator, a line buffer
and a stack of end-of-part checks: that was a third of the time the grammar took
for a mail. For a mail of one part, or of one level of parts, its work comes
down to this: decode the bytes as ASCII with surrogate escapes; split each part's
fields off at its first empty line and store each as the policy's
`header_source_parse` makes it; cut a multipart body at its boundary lines, the
line break before each boundary belonging to the boundary (RFC 2046); keep the
rest of each part as its payload, or read it as a mail of its own in a
message/* part (a forward).

`parse_plain` does just that when the mail has the shape for which that is all
the parser does, and answers None for anything else, where the caller runs the
parser: a unix "From " line, a line that is no field, a header without its empty
line, a lone CR in a header, multiparts in multiparts, a delivery status, a mail
that is itself message/*, a multipart without its boundaries or with boundary
lines back to back, a digest. `tests/test_parse_plainmime.py` checks that both
read every fixture mail, and generated ones, to the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from itertools import pairwise

from mailbot.textmail import shortcuts
from mailbot.textmail.shortcuts import LAZY

# Forwards in forwards read without the parser; deeper ones are its (and its guard's).
_MAX_FORWARDS = 3
# The transfer encodings a multipart may declare without the parser noting a defect.
_MULTIPART_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
_BLANKS = re.compile(r"[ \t]*")


def parse_plain(raw: bytes) -> EmailMessage | None:
    """The message `BytesParser(policy=LAZY).parsebytes(raw)` makes of a mail of plain
    shape (see the module); None for any other mail."""
    text = raw.decode("ascii", "surrogateescape")
    root = _part(text, 0, len(text))
    if root is None:
        return None
    message, body, ctype = root
    if ctype.startswith("message/"):
        return None
    if not ctype.startswith("multipart/"):
        message.set_payload(text[body:])
        return message
    return message if _attach_parts(message, ctype, text, body) else None


def plain_fields(text: str) -> list[tuple[str, str]] | None:
    """The fields of the header section that starts `text`, as the parser stores them
    (any policy's `header_source_parse`: the stdlib's all read a field alike); None
    when it is not of plain shape."""
    split = _header_lines(text, 0, len(text))
    return None if split is None else _fields(split[0])


def _part(text: str, start: int, end: int) -> tuple[EmailMessage, int, str] | None:
    """The message of `text[start:end]` with its fields, where its body starts, and its
    content type."""
    split = _header_lines(text, start, end)
    if split is None:
        return None
    lines, body = split
    fields = _fields(lines)
    if fields is None:
        return None
    message = EmailMessage(policy=LAZY)
    for name, value in fields:
        message.set_raw(name, value)
    return message, body, _content_type(message, fields)


def _content_type(message: EmailMessage, fields: list[tuple[str, str]]) -> str:
    """`message.get_content_type()`, read off its fields when its Content-Type is plain."""
    for name, value in fields:
        if name.lower() == "content-type":
            # What the policy hands out for a plain one (`LAZY`), and how the message
            # reads the type from that.
            plain = shortcuts.mime_value(name, value)
            if plain is None:
                return message.get_content_type()
            ctype = plain.partition(";")[0].strip().lower()
            return ctype if ctype.count("/") == 1 else "text/plain"
    return message.get_default_type()


def _header_lines(text: str, start: int, end: int) -> tuple[list[str], int] | None:
    """The lines of the header section in `text[start:end]`, each with its line break,
    and where the body starts (past the empty line); None unless every line of it ends
    in LF or CRLF and an empty line ends it."""
    for empty in ("\n", "\r\n"):  # no header at all, only the empty line
        if text.startswith(empty, start, end):
            return [], start + len(empty)
    # With no lone CR in the header, its first empty line follows the first LF that
    # another LF or a CRLF follows. String methods find it: the regular expressions
    # that did took three times as long as the rest of the reading.
    ends = [at for at in (text.find("\n\n", start, end), text.find("\n\r\n", start, end))
            if at >= 0]
    if not ends:
        return None
    cut = min(ends) + 1
    head = text[start:cut]
    lines = head.splitlines(keepends=True)
    # One line per LF: `splitlines` also splits at a lone CR (as the parser does, but
    # then the empty line may come earlier) and at VT, FF, FS... (where it does not).
    if len(lines) != head.count("\n"):
        return None
    return lines, cut + (1 if text[cut] == "\n" else 2)


def _fields(lines: list[str]) -> list[tuple[str, str]] | None:
    """(name, value) of each field as the parser stores it; None when a line is not one
    the parser reads as a field or its continuation, without a defect."""
    names: list[str] = []
    values: list[str] = []
    for line in lines:
        if line[0] in " \t":
            if not values:
                return None  # a continuation line with no field above
            values[-1] += line
            continue
        name, colon, value = line.partition(":")
        if not (name and colon):
            return None
        names.append(name)
        values.append(value)
    # The parser's `headerRE`: names of printable ASCII but space (so never a unix "From "
    # line), up to the colon.
    joined = "".join(names)
    if not (joined.isascii() and joined.isprintable()) or " " in joined:
        return None
    # `policy.header_source_parse`: the value's leading blanks and final line break
    # dropped, its inner line breaks kept.
    return [(name, value.lstrip(" \t").rstrip("\r\n"))
            for name, value in zip(names, values, strict=True)]


@dataclass(frozen=True)
class _Boundary:
    """A boundary line of a multipart body: where it starts and ends, and whether it is
    the closing one (`--boundary--`)."""

    start: int
    end: int
    closes: bool


def _attach_parts(message: EmailMessage, ctype: str, text: str, body: int) -> bool:
    """Attach the parts of a multipart body that starts at `body`, with its preamble and
    epilogue; False when the body is not a plain sequence of single parts and forwards."""
    boundary = _boundary(message, ctype)
    encoding = str(message.get("content-transfer-encoding", "8bit")).lower()
    # A digest's parts are message/rfc822 by default: parts in parts.
    if boundary is None or encoding not in _MULTIPART_ENCODINGS or ctype == "multipart/digest":
        return False
    lines = _boundary_lines(text, body, boundary)
    # The first one opens the first part, the last one closes. Lines back to back, which
    # the parser reads as one boundary, leave an empty part: not one of plain shape.
    if len(lines) < 2 or not lines[-1].closes:
        return False
    parts = []
    for above, below in pairwise(lines):
        part = _child(text, above.end, below.start, depth=0)
        if part is None:
            return False
        parts.append(part)
    if lines[0].start > body:
        message.preamble = _without_line_break(text[body:lines[0].start])
    for part_message in parts:
        message.attach(part_message)
    message.epilogue = text[lines[-1].end:]
    return True


def _child(text: str, start: int, end: int, *, depth: int) -> EmailMessage | None:
    """The part of a multipart from `start` to its boundary line at `end`: a single part,
    or a message/* part holding a mail of one (a forward); None for any other."""
    part = _part(text, start, end) if depth <= _MAX_FORWARDS else None
    if part is None:
        return None
    message, body, ctype = part
    if ctype.startswith("multipart/") or ctype == "message/delivery-status":
        return None
    if ctype.startswith("message/"):
        # The parser reads the payload as a mail of its own, to the same boundary line.
        inner = _child(text, body, end, depth=depth + 1)
        if inner is None:
            return None
        message.attach(inner)
        return message
    # The line break before the boundary line belongs to it (RFC 2046): the innermost
    # part's payload ends before it.
    message.set_payload(_without_line_break(text[body:end]))
    return message


def _boundary(message: EmailMessage, ctype: str) -> str | None:
    """`message.get_boundary()`, read off a plain Content-Type as the policy reads its
    parameters (which is how `get_boundary` reads those of a plain one)."""
    raw = message.get("content-type")
    params = shortcuts.content_params(raw) if isinstance(raw, str) else None
    if params is None:
        return message.get_boundary()
    boundary = params.get("boundary")
    return None if boundary is None else boundary.rstrip()


def _boundary_lines(text: str, body: int, boundary: str) -> list[_Boundary]:
    """The boundary lines from `body` on, up to the closing one."""
    separator = "--" + boundary
    found: list[_Boundary] = []
    at = text.find(separator, body)
    while at >= 0:
        # At the start of a line (`body` starts one), and the whole line.
        end = _boundary_end(text, at + len(separator)) if text[at - 1] in "\r\n" else None
        if end is not None:
            closes = text.startswith("--", at + len(separator))
            found.append(_Boundary(at, end, closes))
            if closes:
                break  # what follows is the epilogue
        at = text.find(separator, at + 1)
    return found


def _boundary_end(text: str, after: int) -> int | None:
    """Where a line that has a separator up to `after` ends, if it is a boundary line:
    the parser's `--boundary(--)?` and blanks, up to a line break or the end."""
    if text.startswith("--", after):
        after += 2
    # The "--" of a closing boundary cannot be read as anything else: a line that fails
    # with it fails without it.
    blank = _BLANKS.match(text, after)
    stop = blank.end() if blank else after
    if stop == len(text):
        return stop
    if text.startswith("\r\n", stop):
        return stop + 2
    return stop + 1 if text[stop] in "\r\n" else None


def _without_line_break(text: str) -> str:
    """`text` without its last line break, which belongs to the boundary after it."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text
