"""Header fields of outgoing mail, written from values: no text in them is parsed again.

CPython's header registry parses the text it is handed, RFC 2047 encoded words
included, before it writes the field out: a display name or subject that held an
encoded CR LF, decoded once by us, comes out as a header or a body of its own
(CVE-2024-6923; CPython 3.11.7 predates the fix, which only turns it into an
exception). So a field that carries text from a received mail is written here:

- `text_field` (Subject, X-Mailbot-Verdict): words of printable ASCII as they
  are, every other run of words as RFC 2047 encoded words (UTF-8, Q or B,
  whichever is shorter with the stdlib's bias to Q), folded at spaces;
- `mailbox_field` (From, To, Cc, Reply-To): an address list of checked
  addr-specs. Display names the stdlib writes faithfully keep its bytes (what
  mail always looked like): worked out here when the field is one line of names
  without specials (`_stdlib_style`, compared with the stdlib in
  tests/test_reply_fast.py), else asked of the stdlib and proved by reading the
  field back, once per field value (`_mailbox_field` keeps them); any other
  name is written as ASCII words, a quoted string or ONE encoded word
  (`display_name` cuts a name to fit one: readers disagree on two).

Either way the field reads back, with `email.policy.default`, as exactly the
values given (tests/test_reply_headers.py holds that for arbitrary text).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# RFC 5322 section 2.1.1: lines SHOULD stay within 78 octets and MUST within 998.
MAX_LINE = 78
MAX_LINE_OCTETS = 998
# RFC 2047 section 2: an encoded word is at most 75 characters.
_MAX_WORD = 75
_PREFIX = "=?utf-8?{}?"
_SUFFIX = "?="
# Q encoding keeps only what is safe even in a display name (RFC 2047 section 5 (3)),
# as the stdlib does; a space is "_".
_Q_SAFE = frozenset(b"-!*+/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
# A word written as it is: printable ASCII that no reader could take for (the start
# or end of) an encoded word.
_PLAIN = re.compile(r"[!-~]+")
# Words of printable ASCII short enough to be written as they are, single spaces between.
_PLAIN_WORDS = re.compile(r"[!-~]{1,76}(?: [!-~]{1,76})*")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
# RFC 5322 msg-id: dot-atom-text "@" (dot-atom-text / no-fold-literal), within one line.
_MSG_ID = re.compile(
    r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"|\[[!-Z^-~]*\])>")
_MAX_MSG_ID = 900
# Characters of a display name copied from a request (as of a subject, `quoting`).
_NAME_MAX = 200
# What a display name holds as a space: C0 and C1 controls and the line separators.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# What the stdlib quotes in a display name (`_header_value_parser.SPECIALS`).
_SPECIALS = frozenset('()<>@,:;.\\"[]')
# Two encoded words with only white space between them (folding included).
_ADJACENT_WORDS = re.compile(rb"\?=[ \t\r\n]+=\?")


def _ew_marker(text: str) -> bool:
    return "=?" in text or "?=" in text


def _plain(word: str) -> bool:
    return bool(_PLAIN.fullmatch(word)) and not _ew_marker(word)


def msg_id(value: str | None) -> str | None:
    """`value` if it is an RFC 5322 msg-id fit to copy into a header, else None.

    Not an encoded word in disguise either: threading headers are unstructured to
    the stdlib's parser, which would decode one.
    """
    value = (value or "").strip()
    if len(value) > _MAX_MSG_ID or _ew_marker(value) or not _MSG_ID.fullmatch(value):
        return None
    return value


def addr_spec(address: str) -> str:
    """`address` if it is a plain ASCII addr-spec the bot writes; else ValueError."""
    if not _ADDR_SPEC.fullmatch(address) or _ew_marker(address) or len(address) > 254:
        raise ValueError(f"not an address mailbot writes: {address!r}")
    return address


# --- unstructured text ------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """What a field value is folded from: a word or encoded word, and the space before it.

    A fold goes before the last character of `space` (always a space): unfolding
    gives back the value byte for byte.
    """

    space: str
    text: str


def text_field(name: str, text: str) -> str:
    """The value of an unstructured field for `text`, folded (lines joined by "\\n ")."""
    if _PLAIN_WORDS.fullmatch(text) and not _ew_marker(text):
        # What `_text_pieces` makes of words of printable ASCII: each as it is.
        if len(text) < MAX_LINE:
            return text
        words = text.split(" ")
        return _fold(len(name) + 2, [_Piece(" " if i else "", w) for i, w in enumerate(words)])
    return _fold(len(name) + 2, list(_text_pieces(text)))


def _text_pieces(text: str) -> Iterator[_Piece]:
    """Plain words as they are; each run of other words, with the spaces between them
    (which a reader drops between encoded words), as encoded words."""
    tokens = re.findall(r"[^ ]+| +", text)
    last = len(tokens) - 1
    encode = [t[0] != " " and (not _plain(t) or len(t) >= MAX_LINE - 1) for t in tokens]
    # A space at either end survives only inside an encoded word, with its word.
    for edge, word in ((0, 1), (last, last - 1)):
        if tokens and tokens[edge][0] == " ":
            encode[edge] = True
            if 0 <= word <= last:
                encode[word] = True
    for index in range(1, last):
        if tokens[index][0] == " " and encode[index - 1] and encode[index + 1]:
            encode[index] = True
    space, run = "", ""
    for token, encoded in zip(tokens, encode, strict=True):
        if encoded:
            run += token
            continue
        if run:
            yield from _encoded(space, run)
            space, run = "", ""
        if token[0] == " ":
            space = token
        else:
            yield _Piece(space, token)
            space = ""
    if run:
        yield from _encoded(space, run)


def _encoded(space: str, text: str) -> Iterator[_Piece]:
    """`text` as encoded words of at most 75 characters, each of whole characters."""
    kind = _kind(text.encode("utf-8"))
    chunk = ""
    for char in text:
        if chunk and len(_word(kind, (chunk + char).encode("utf-8"))) > _MAX_WORD:
            yield _Piece(space, _word(kind, chunk.encode("utf-8")))
            space, chunk = " ", ""
        chunk += char
    yield _Piece(space, _word(kind, chunk.encode("utf-8")))


def _kind(data: bytes) -> str:
    """Q or B, whichever is shorter, Q when it is at most 4 longer (as the stdlib)."""
    return "q" if _q_length(data) - _b_length(data) < 5 else "b"


def _q_length(data: bytes) -> int:
    return sum(1 if b in _Q_SAFE or b == 0x20 else 3 for b in data)


def _b_length(data: bytes) -> int:
    return (len(data) + 2) // 3 * 4


def _word(kind: str, data: bytes) -> str:
    if kind == "b":
        body = base64.b64encode(data).decode("ascii")
    else:
        body = "".join("_" if b == 0x20 else chr(b) if b in _Q_SAFE else f"={b:02X}"
                       for b in data)
    return _PREFIX.format(kind) + body + _SUFFIX


def _fold(offset: int, pieces: list[_Piece]) -> str:
    """The pieces on lines: whole when the value fits a line of its own, else each line
    filled up to `MAX_LINE` (a piece longer than that gets a line to itself)."""
    whole = "".join(p.space + p.text for p in pieces).lstrip(" ")
    if len(whole) < MAX_LINE:
        return whole
    lines = [""]
    used = offset
    for piece in pieces:
        # No space, no fold: the piece joins the one before (and the first line's first).
        first = not lines[-1] and len(lines) == 1
        if not piece.space or first or used + len(piece.space) + len(piece.text) <= MAX_LINE:
            lines[-1] += piece.space + piece.text
            used += len(piece.space) + len(piece.text)
        else:
            lines[-1] += piece.space[:-1]
            lines.append(" " + piece.text)
            used = 1 + len(piece.text)
    return "\n".join(lines)


# --- addresses ------------------------------------------------------------------------


def display_name(text: str) -> str:
    """`text` as a display name can be written and read back exactly.

    On one line (readers refuse CR and LF in a name), each run of controls and white
    space one space, none at the ends (readers fold the white space of a phrase so,
    however it is encoded), at most 200 characters. A name that is not ASCII words
    is cut, with "…", to what ONE encoded word holds: readers disagree on the space
    between two (RFC 2047 drops it, the stdlib keeps it).
    """
    name = " ".join(_CONTROLS.sub(" ", text).split())
    if len(name) > _NAME_MAX:
        name = name[:_NAME_MAX - 1].rstrip() + "…"
    while name and _name_word(name) is None:
        name = name[:-2].rstrip() + "…"
    return name


@dataclass(frozen=True)
class Mailbox:
    """An address of a header: a display name ("" for none) and an addr-spec."""

    name: str
    address: str


def mailbox_field(name: str, boxes: Sequence[Mailbox]) -> str:
    """The value of an address field (From, To, Cc, Reply-To), folded.

    Names must be as `display_name` makes them, addresses as `addr_spec` takes them.
    """
    return _mailbox_field(name, tuple(boxes))


# The same few fields (From, the ARC staff, Reply-To) come back in every mail; an entry
# is at most 10 addresses of 254 octets and names of 200 characters.
@functools.lru_cache(maxsize=512)
def _mailbox_field(name: str, boxes: tuple[Mailbox, ...]) -> str:
    for box in boxes:
        addr_spec(box.address)
        if box.name != display_name(box.name):
            raise ValueError(f"not a display name as `display_name` makes it: {box.name!r}")
    if all(_ordinary_name(b.name) for b in boxes):
        folded = _stdlib_style(boxes) or _stdlib_field(name, boxes)
        if folded is not None:
            return folded
    return _fold(len(name) + 2, list(_mailbox_pieces(boxes)))


def _stdlib_style(boxes: Sequence[Mailbox]) -> str | None:
    """The stdlib's folding of the field when it is one line of names without specials
    (so unquoted), worked out here; None for any other (the stdlib is asked then).

    An ASCII list fits when it is at most 77 long (on the field's line, or on one of
    its own). Otherwise each address is folded on its own, from column 0, and the
    line of them must stay within 78 (`_header_value_parser._refold_parse_tree`).
    """
    if not boxes or any(_SPECIALS.intersection(b.name) for b in boxes):
        return None
    plain = [f"{b.name} <{b.address}>" if b.name else b.address for b in boxes]
    if all(b.name.isascii() for b in boxes):
        joined = ", ".join(plain)
        return joined if len(joined) < MAX_LINE else None
    line = ""
    for index, (box, text) in enumerate(zip(boxes, plain, strict=True)):
        lead = " " if index else ""
        part = lead + text if box.name.isascii() else _stdlib_name_addr(lead, box)
        comma = "," if index < len(boxes) - 1 else ""
        if part is None or len(line) + len(part) + len(comma) > MAX_LINE:
            return None
        line += part + comma
    return line


def _stdlib_name_addr(lead: str, box: Mailbox) -> str | None:
    """`lead`, the name and <address> as the stdlib folds them on one line: ASCII words
    as they are, the words from the first to the last other one (and the ASCII ones
    between) as one encoded word. None as soon as a piece does not fit the line."""
    line, first_ew, encoded = lead, -1, ""
    for word in box.name.split(" "):
        if word.isascii():
            line, encoded = line + word, encoded + word
        else:
            if first_ew < 0:  # an encoded word starts here; later ones merge into it
                first_ew, encoded = len(line), ""
            encoded += word
            data = encoded.encode("utf-8")
            line = line[:first_ew] + _word(_kind(data), data)
        if len(line) + 1 > MAX_LINE:
            return None
        line, encoded = line + " ", encoded + " "
    line += f"<{box.address}>"
    return line if len(line) <= MAX_LINE else None


def _ordinary_name(name: str) -> bool:
    """A name the stdlib may write: printable, no encoded-word marker, single spaces."""
    return name.isprintable() and not _ew_marker(name) and "  " not in name


def _name_word(name: str) -> str | None:
    """The one word a name is written as: an atom list, a quoted string, or an encoded
    word (None when the name needs more than one)."""
    if name.isascii() and _ordinary_name(name):
        if all(_ATOM.fullmatch(w) for w in name.split(" ")) or not name:
            return name
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return quoted if len(quoted) <= _MAX_WORD else None
    word = _word(_kind(name.encode("utf-8")), name.encode("utf-8"))
    return word if len(word) <= _MAX_WORD else None


def _stdlib_field(name: str, boxes: Sequence[Mailbox]) -> str | None:
    """The stdlib's folding of the field (what mail always looked like), if it reads
    back as exactly `boxes`; None when it does not (or the stdlib refuses it)."""
    from email import policy  # rare (`_stdlib_style` does most): imported when needed
    from email.headerregistry import Address
    from email.message import EmailMessage

    try:
        msg = EmailMessage(policy=policy.SMTP)
        msg[name] = [Address(display_name=b.name, addr_spec=b.address) for b in boxes]
        folded = msg.as_bytes().split(b"\r\n\r\n", 1)[0] + b"\r\n"
    except Exception:  # a future stdlib may refuse what this one writes badly
        return None
    if not _reads_back(folded, name, boxes):
        return None
    value = folded.decode("ascii")[len(name) + 1:].rstrip("\r\n")
    # The stdlib moves a value that fits a line of its own onto a continuation line;
    # joined back, the line stays far below 998 octets.
    return re.sub(r"^\r\n[ \t]+|^ ", "", value).replace("\r\n", "\n")


def _reads_back(field: bytes, name: str, boxes: Sequence[Mailbox]) -> bool:
    """`field` (a header section) is one field `name` that every reader reads as exactly
    `boxes`: the stdlib's parser says so, and no two encoded words touch."""
    if not field.isascii() or _ADJACENT_WORDS.search(field):
        return False
    if any(len(line) > MAX_LINE_OCTETS or b"\r" in line or b"\n" in line
           for line in field.split(b"\r\n")):
        return False
    from email import policy
    from email.parser import BytesParser

    try:
        items = BytesParser(policy=policy.default).parsebytes(field + b"\r\n").items()
        got = [(a.display_name, a.addr_spec) for a in items[0][1].addresses]
    except Exception:
        return False
    names = [k.lower() for k, _ in items]
    return names == [name.lower()] and got == [(b.name, b.address) for b in boxes]


def _mailbox_pieces(boxes: Sequence[Mailbox]) -> Iterator[_Piece]:
    """Each mailbox as its name's one word and its <addr-spec>, comma separated."""
    for index, box in enumerate(boxes):
        comma = "" if index == len(boxes) - 1 else ","
        space = " " if index else ""
        word = _name_word(box.name)
        if not box.name or word is None:  # (`display_name` made every name fit)
            yield _Piece(space, box.address + comma)
            continue
        for number, part in enumerate(word.split(" ") if word == box.name else [word]):
            yield _Piece(space if number == 0 else " ", part)
        yield _Piece(" ", f"<{box.address}>{comma}")
