"""The request lines of a text, found but not yet validated.

A line counts only in the sender's own text: quotes, signatures and the mail
answered below a reply marker are skipped, and a forwarded mail counts when it is
itself request-shaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailbot import textmail

# A request line may follow a greeting on the same line ("Dear AOG, please create ..."),
# but the phrase in quotes only names the line (as the bot's own problem lines do).
_REQUEST_LINE = re.compile(
    r"(?<![\'\"\u2018\u201c\u00ab])\bplease\s+create\s+(?:the\s+)?calibrated\s+MS\s+for\s+(?:the\s+)?MOUS\b\s*:?\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_FIELD_LINE = re.compile(
    r"^(?P<key>project|calfields?|for\s+user|e-?mail|helpdesk\s+ticket)(?:\s*:\s*|\s+|$)(?P<value>.*)$",
    re.IGNORECASE,
)
_REQUEST_SUBJECT = re.compile(r"request\s+for\s+calibrated\s+data", re.IGNORECASE)
# An unfilled template value ("<project code, e.g. 2017.1.00727.S>", "<number>"): words in
# angle brackets, never an address. The bot's malformed reply shows the lines this way,
# so that its text, echoed back by a ticket system, is not read as a request again.
# The space is looked for ahead, so that an unclosed "<a x x x ..." fails in linear time
# (`[^<>@]*\s[^<>@]*` tried every split of it).
_PLACEHOLDER = re.compile(r"<(?=[^<>@]*[A-Za-z])(?=[^<>@]*\s|[A-Za-z]+>)[^<>@]*>")

MOUS, PROJECT, CALFIELD = "mous", "project", "calfield"
USER, EMAIL, TICKET = "user", "email", "ticket"
_KEYS = (MOUS, PROJECT, CALFIELD, USER, EMAIL, TICKET)
LABEL = {
    MOUS: "please create the calibrated MS for MOUS",
    PROJECT: "project",
    CALFIELD: "calfield",
    USER: "for user",
    EMAIL: "email",
    TICKET: "helpdesk ticket",
}

# Where the text of an earlier mail starts below a reply or a forward.
_FORWARD_MARKER = re.compile(
    r"^(?:-{2,}\s*(?:Original\s+Message\s+)?Forwarded\s+(?:Message|mail)\s*-{2,}"
    r"|-{2,}\s*Forwarded\s+message\s*-{2,}|Begin\s+forwarded\s+message\s*:"
    r"|-{2,}\s*Weitergeleitete\s+Nachricht\s*-{2,}|-{2,}\s*Message\s+transféré\s*-{2,})$",
    re.IGNORECASE,
)
_REPLY_MARKER = re.compile(
    r"^(?:-{2,}\s*Original(?:\s+Message|nachricht)\s*-{2,}|On\s.+\swrote:|Am\s.+\sschrieb.*:"
    r"|Le\s.+\sa\s+écrit\s*:)$",
    re.IGNORECASE,
)
_HEADER_BLOCK_FROM = re.compile(r"^(?:From|Von|De|Da|Van|Från)\s*:\s*\S", re.IGNORECASE)
_HEADER_BLOCK_DATE = re.compile(
    r"^(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Inviato|Verzonden|Skickat)\s*:", re.IGNORECASE)
_HEADER_BLOCK_LINE = re.compile(
    r"^(?:From|To|Cc|Bcc|Date|Sent|Subject|Reply-To|Von|An|Gesendet|Datum|Betreff|Kopie|De|À"
    r"|Envoyé|Objet|Cc|Da|A|Inviato|Oggetto|Importance|Priority)\s*:", re.IGNORECASE)
_HEADER_BLOCK_SUBJECT = re.compile(r"^(?:Subject|Betreff|Objet|Oggetto|Asunto)\s*:\s*(.*)$",
                                   re.IGNORECASE)
# The first characters, lower-cased, of the lines `_FORWARD_MARKER`, `_REPLY_MARKER` and
# `_HEADER_BLOCK_FROM` match, and of those `_FIELD_LINE` matches. A line that starts with
# another ASCII character is spared their search (most lines of a body); one that starts
# with a non-ASCII character is searched (case-insensitively "K" is a "k").
_MARKER_STARTS = frozenset("-bfvdoal")
_FIELD_STARTS = frozenset("pcfeh")


@dataclass
class Scan:
    """What the request lines of a text say, before validation."""

    fields: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in _KEYS})
    # Lines whose value is still the template's "<...>" placeholder.
    placeholders: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in _KEYS})
    subjects: list[str] = field(default_factory=list)  # of forwarded mails
    quoted_request: bool = False  # request lines seen only as quotes of an earlier mail

    @property
    def keys(self) -> set[str]:
        """The keys with at least one line of a value."""
        return {k for k, values in self.fields.items() if values}

    def add(self, key: str, value: str) -> None:
        """One more line of `key`."""
        self.fields[key].append(value)

    def absorb_forwarded(self, forwarded: textmail.Forwarded) -> None:
        """A mail attached as a forward counts when it is itself request-shaped."""
        inner = scan_lines(forwarded.text.split("\n"), reply_subject=False)
        if MOUS not in inner.keys and not _REQUEST_SUBJECT.search(forwarded.subject):
            return
        self.subjects.append(forwarded.subject)
        self.subjects.extend(inner.subjects)
        for key, values in inner.fields.items():
            self.fields[key].extend(values)
        for key, values in inner.placeholders.items():
            self.placeholders[key].extend(values)


def flatten(forwards: Sequence[textmail.Forwarded]) -> Iterable[textmail.Forwarded]:
    """Every forwarded mail, those forwarded inside forwards included, outermost first."""
    for forwarded in forwards:
        yield forwarded
        yield from flatten(forwarded.forwarded)


def scan_lines(lines: Sequence[str], *, reply_subject: bool) -> Scan:
    """Collect the request lines of a body, skipping quotes, signatures and replied-to mail.

    A signature runs until the next forwarded mail (a forwarder's signature may sit
    above the forwarded text); text below a reply marker is the mail answered, never
    a request of its own. Outlook marks both with a "From:/Sent:" block: under a
    "Re:" subject it is the mail answered, otherwise a forwarded or pasted mail.
    """
    scan = Scan()
    mode = "own"  # own | signature | reply
    in_forward_header = False
    for index, raw in enumerate(lines):
        line = textmail.analysis_line(raw)
        if line.startswith(">"):
            scan.quoted_request |= is_request_line(line.lstrip("> "))
            continue
        marker = _may_start(line, _MARKER_STARTS)
        if marker and mode != "reply" and _FORWARD_MARKER.match(line):
            mode, in_forward_header = "own", True
            continue
        if (marker and mode != "reply" and not in_forward_header
                and _starts_header_block(line, lines, index)):
            mode = "reply" if reply_subject else "own"
            in_forward_header = True
        if marker and mode == "own" and _REPLY_MARKER.match(line):
            mode = "reply"
        if raw.rstrip(" \t") == "--" and mode == "own":
            mode = "signature"
        if mode != "own":
            scan.quoted_request |= mode == "reply" and is_request_line(line)
            continue
        if in_forward_header:
            in_forward_header = _forward_header_line(line, scan)
            if in_forward_header:
                continue
        _read_line(line, scan)
    return scan


def _may_start(line: str, starts: frozenset[str]) -> bool:
    """The line starts with one of `starts` (or a non-ASCII character): a pattern of those
    first characters may match it."""
    first = line[:1]
    return first.lower() in starts if first.isascii() else True


def _starts_header_block(line: str, lines: Sequence[str], index: int) -> bool:
    """Outlook's "From: / Sent: / To: / Subject:" block above an answered or forwarded mail
    (`line` is `lines[index]` as the grammar reads it)."""
    if not _HEADER_BLOCK_FROM.match(line):
        return False
    following = (textmail.analysis_line(line) for line in lines[index + 1:index + 4])
    return any(_HEADER_BLOCK_DATE.match(line) for line in following)


def _forward_header_line(line: str, scan: Scan) -> bool:
    """Consume one line of a forwarded mail's header block; False once the block has ended."""
    if not line:
        return False
    subject = _HEADER_BLOCK_SUBJECT.match(line)
    if subject:
        scan.subjects.append(subject.group(1))
        return True
    return bool(_HEADER_BLOCK_LINE.match(line)) or line.startswith("_" * 8)


def _request_line(line: str) -> re.Match[str] | None:
    """`_REQUEST_LINE.search(line)`, spared on the ASCII lines that cannot match."""
    # Searched at every place of a line, the pattern costs more than the rest of a line's
    # reading. In ASCII its case-insensitive "please" is just that; elsewhere
    # case-insensitivity reaches further ("ſ" is an "s"), so those lines are searched.
    if line.isascii() and "please" not in line.lower():
        return None
    return _REQUEST_LINE.search(line)


def _read_line(line: str, scan: Scan) -> None:
    request = _request_line(line)
    if request:
        _add_value(scan, MOUS, request.group("value").strip())
        return
    match = _FIELD_LINE.match(line) if _may_start(line, _FIELD_STARTS) else None
    if not match:
        return
    _add_value(scan, _canonical_key(match.group("key")), match.group("value").strip())


def _add_value(scan: Scan, key: str, value: str) -> None:
    if _PLACEHOLDER.fullmatch(value):
        scan.placeholders[key].append(value)
    else:
        scan.add(key, value)


def _canonical_key(keyword: str) -> str:
    word = keyword.lower()
    if word.startswith("project"):
        return PROJECT
    if word.startswith("calfield"):
        return CALFIELD
    if word.startswith("for"):
        return USER
    if word.startswith("helpdesk"):
        return TICKET
    return EMAIL


def is_request_line(line: str) -> bool:
    """The line is the request line or one of its field lines (whatever its value)."""
    return bool(_request_line(line)
                or (_may_start(line, _FIELD_STARTS) and _FIELD_LINE.match(line)))


def request_shape(scan: Scan, subject: str, *, is_reply: bool) -> str | None:
    """Why the text is not a request at all, or None when it is request-shaped."""
    keys = scan.keys
    if not keys:
        if any(scan.placeholders.values()):
            return "only unfilled template lines (<...> placeholders), no request lines"
        if scan.quoted_request:
            return "a reply that only quotes an earlier request"
        if _REQUEST_SUBJECT.search(subject) and is_reply:
            return "a reply to a request with no request lines of its own"
        if _REQUEST_SUBJECT.search(subject):
            return None
        return "neither the subject nor the body is a request"
    if MOUS in keys or len(keys) >= 3:
        return None
    if scan.quoted_request:
        # A line or two beside a quoted request is a remark on it (or the echo of a
        # verdict reply whose verdict line reads like a field), not a new request.
        return "a reply that quotes an earlier request with a remark of its own"
    if _REQUEST_SUBJECT.search(subject):
        return None
    return "neither the subject nor the body is a request"
