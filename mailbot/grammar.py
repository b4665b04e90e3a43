"""Request mail or trigger file -> `Request` / `Malformed(problems)` / `NotARequest(reason)`.

Pure: no I/O, no clock. The grammar is the one of the procedure (spec section 1):

    please create the calibrated MS for MOUS uid___A001_X1296_X675
    project 2017.1.00727.S
    calfield J0510+1800,J0321+1234        (optional)
    for user Judit Szulagyi
    email judits@phys.ethz.ch
    helpdesk ticket 16140

Keywords are case-insensitive and tolerate a colon, extra spaces, and `#` before
the ticket. Values are validated strictly because they later reach SQL binds and
an SSH command line: a value that does not fit is reported, never cleaned.

Never a request, so never answered (an answer could loop with an auto-responder):
automatic mail and the bot's own; a mail whose In-Reply-To or References names one of
the bot's Message-IDs (corrections come as fresh mails); lines that only quote a
request or remark on a quoted one; and template lines whose values are still `<...>`
placeholders, as the malformed reply shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import PurePath

from mailbot import textmail
from mailbot.model import Malformed, NotARequest, Origin, Parsed, Request

__all__ = ["Parsed", "parse_message", "parse_trigger"]

# ---------------------------------------------------------------- value syntax

# re.ASCII: `\d` alone also matches Arabic-Indic, fullwidth... digits, which are no
# ticket or project number of ours and must not reach SQL or the stagecalms command line.
_MOUS_URI = re.compile(r"uid://(A\d{3})/(X[0-9a-f]+)/(X[0-9a-f]+)", re.ASCII)
_MOUS_FILE = re.compile(r"uid___(A\d{3})_(X[0-9a-f]+)_(X[0-9a-f]+)", re.ASCII)
_UID_LIKE = re.compile(r"uid(?:___|:/*)[^\s,;]*", re.IGNORECASE)
_PROJECT = re.compile(r"\d{4}\.[0-9A-Z]\.\d{5}\.[A-Z]{1,3}", re.ASCII)
_TICKET = re.compile(r"#?\s*(\d+)", re.ASCII)
_FIELD_NAME = re.compile(r"[A-Za-z0-9+\-._]+")
# Addresses as the helpdesk profiles hold them: dot-atoms of the common characters and
# a dotted host name. RFC 5322 allows more (quoted local parts, `{|}`...), never seen
# in a profile and unwelcome next to SQL and shell; such a value gets a problem line.
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*")
_EMAIL_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_EMAIL_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
# The address part stops at "<": with `\S+?` a value of many "<mailto:" backtracks
# quadratically.
_OUTLOOK_MAILTO = re.compile(r"([^\s<]+?)\s*<mailto:([^>\s]+)>")
_NAME_PUNCTUATION = frozenset(" -'.\u2019")

# A value check: the problem sentence, or "" when the value is fine.
_Check = Callable[[str], str]

_MAX_NAME = 200
_MAX_FIELDS = 100
_MAX_FIELD_NAME = 64
_MAX_TICKET = 12
# Values listed in one problem line ("lines disagree: ..."); the rest are counted.
_MAX_LISTED = 5

# ---------------------------------------------------------------- line grammar

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
# The Message-IDs of the bot's own mails (see `reply.message_id`).
_BOT_MESSAGE_ID = re.compile(r"<mailbot\.[a-z0-9_-]+\.[0-9a-f]+@(?P<domain>[^<>@\s]+)>",
                             re.IGNORECASE)

MOUS, PROJECT, CALFIELD = "mous", "project", "calfield"
USER, EMAIL, TICKET = "user", "email", "ticket"
_KEYS = (MOUS, PROJECT, CALFIELD, USER, EMAIL, TICKET)
_LABEL = {
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
_SUBJECT_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]|\((?:ext|external)\)|(?P<word>[A-Za-z]{2,6})"
                             r"\s*(?:\[\d+\]|\(\d+\))?\s*:)\s*", re.IGNORECASE)
_REPLY_WORDS = frozenset({"re", "aw", "sv", "antw", "vs", "odp", "ynt", "rif", "res"})
_FORWARD_WORDS = frozenset({"fwd", "fw", "wg", "tr", "enc", "rv", "doorst", "vb", "fs"})
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic\s+reply|auto(?:matische)?[-\s]?(?:reply|antwort)|autoreply|out\s+of\s+(?:the\s+)?office"
    r"|abwesenheitsnotiz|réponse\s+automatique|undeliverable|undelivered\s+mail|delivery\s+status"
    r"\s+notification|returned\s+mail|mail\s+delivery\s+(?:failed|failure|system))\b",
    re.IGNORECASE,
)
_AUTOMATIC_SENDERS = frozenset({"mailer-daemon", "postmaster"})


# ---------------------------------------------------------------- public API


def parse_message(
    raw: bytes | EmailMessage,
    *,
    received: datetime,
    own_addresses: frozenset[str] = frozenset(),
    loop_header: str = "X-Mailbot-Loop",
    own_id_domains: frozenset[str] = frozenset(),
) -> Parsed:
    """Read one mail of the aog@ mailbox: a `Request`, `Malformed` problems, or `NotARequest`.

    `own_id_domains` are the right-hand sides of the bot's Message-IDs
    (`config.message_id_domain`); empty: the domains of `own_addresses`.
    """
    message = raw if isinstance(raw, EmailMessage) else textmail.parse_bytes(raw)
    own = frozenset(a.strip().lower() for a in own_addresses)
    senders = textmail.mailboxes(message, "From")
    automatic = _automatic_reason(message, senders, own, loop_header)
    if automatic:
        return NotARequest(automatic)
    answered = _bot_mail_answered(message, _id_domains(own_id_domains, own))
    if answered:
        # Corrections come as fresh mails (spec section 1); an answer to the bot's mail
        # is a person's comment or an auto-responder's echo, and answering it could loop.
        return NotARequest(f"reply to the bot's own mail {answered}")
    if textmail.too_deep(message):
        return NotARequest(f"MIME parts nested more than {textmail.MAX_PART_DEPTH} levels deep: "
                           "not read")
    body = textmail.read_body(message)
    origin = _mail_origin(message, senders, body.text)
    if not origin.sender or _email_problem("From address", origin.sender):
        return NotARequest(f"no usable From address ({_show(origin.sender)})")
    scan = _scan_lines(body.text.split("\n"), reply_subject=_is_reply_subject(origin.subject))
    for forwarded in _flatten(body.forwarded):
        scan.absorb_forwarded(forwarded)
    subjects = [origin.subject, *scan.subjects]
    shape = _shape(scan, origin.subject, is_reply=_is_reply(message, origin.subject))
    if shape is not None:
        return NotARequest(shape)
    problems, values = _validate(scan, subjects, file_name_mous=None)
    if problems:
        return Malformed(tuple(problems), origin)
    return _request(values, arc_contact=origin.sender,
                    cc=_without(origin.cc, own), received=received, origin=origin)


def parse_trigger(
    text: str,
    *,
    received: datetime,
    file_name: str = "",
    own_addresses: frozenset[str] = frozenset(),
) -> Parsed:
    """Read one trigger file (`EU ARC contact`, `CC email` lines, subject, then the request)."""
    own = frozenset(a.strip().lower() for a in own_addresses)
    normalized = textmail.normalize_text(text)
    head = _trigger_head(normalized.split("\n"))
    scan = _scan_lines(head.body, reply_subject=False)
    shape = _shape(scan, head.subject, is_reply=False)
    if shape is not None and not head.contacts:
        return NotARequest(f"not a trigger file: {shape}")
    problems: list[str] = []
    contact = _trigger_contact(head.contacts, problems)
    ccs = _trigger_ccs(head.ccs, problems)
    origin = Origin(channel="trigger", sender=contact, cc=ccs, subject=head.subject,
                    text=normalized.strip("\n"))
    value_problems, values = _validate(scan, [head.subject, *scan.subjects],
                                       file_name_mous=_file_name_mous(file_name))
    problems = [*value_problems, *problems]
    if problems:
        return Malformed(tuple(problems), origin)
    return _request(values, arc_contact=contact, cc=_without(ccs, own),
                    received=received, origin=origin)


# ---------------------------------------------------------------- automatic mail


def _automatic_reason(message: EmailMessage, senders: Sequence[textmail.Mailbox],
                      own: frozenset[str], loop_header: str) -> str:
    """Why a mail is automatic or our own (RFC 3834 and the peers' lessons); "" if it is not."""
    for sender in senders:
        if sender.address in own:
            return f"mail from the bot's own address {sender.address}"
    names = textmail.header_names(message)
    if loop_header.lower() in names:
        return f"carries the bot's loop header {loop_header}"
    for value in textmail.header_texts(message, "Auto-Submitted"):
        if value.split(";")[0].strip().lower() != "no":
            return f"automatic mail (Auto-Submitted: {_show(value, quote=False)})"
    for name in ("x-autoreply", "x-autorespond"):
        if name in names:
            return f"automatic reply ({name} header)"
    for value in textmail.header_texts(message, "Precedence"):
        if value.strip().lower() in {"bulk", "junk", "list", "auto_reply"}:
            return f"bulk mail (Precedence: {_show(value, quote=False)})"
    listed = sorted({n for n in names if n.startswith("list-")})
    if listed:
        return f"mailing-list mail ({listed[0]} header)"
    if any(re.fullmatch(r"<\s*>", v.strip()) for v in textmail.raw_headers(message, "Return-Path")):
        return "delivery report (empty Return-Path <>)"
    for sender in [*senders, *textmail.mailboxes(message, "Sender")]:
        if sender.address.partition("@")[0] in _AUTOMATIC_SENDERS:
            return f"delivery report from {sender.address}"
    if textmail.content_type(message) == "multipart/report":
        return "delivery or read report (multipart/report)"
    subject = textmail.one_line(textmail.header_text(message, "Subject"))
    if _AUTO_SUBJECT.match(_strip_tags(subject)):
        return f"automatic reply (subject {_show(subject)})"
    return ""


def _id_domains(domains: frozenset[str], own: frozenset[str]) -> frozenset[str]:
    chosen = domains or frozenset(a.rpartition("@")[2] for a in own)
    return frozenset(d.strip().lower() for d in chosen if d.strip())


def _bot_mail_answered(message: EmailMessage, domains: frozenset[str]) -> str:
    """The first Message-ID of the bot's own mail named by In-Reply-To or References; ""."""
    for name in ("In-Reply-To", "References"):
        for msg_id in textmail.message_ids(message, name):
            match = _BOT_MESSAGE_ID.fullmatch(msg_id)
            if match and match.group("domain").lower() in domains:
                return _show(msg_id, quote=False)
    return ""


def _strip_tags(subject: str) -> str:
    while True:
        match = re.match(r"^\s*\[[^\]]*\]\s*", subject)
        if not match:
            return subject
        subject = subject[match.end():]


# ---------------------------------------------------------------- origin


def _mail_origin(message: EmailMessage, senders: Sequence[textmail.Mailbox],
                 text: str) -> Origin:
    first = senders[0] if senders else textmail.Mailbox("", "")
    references = textmail.message_ids(message, "References") or textmail.message_ids(
        message, "In-Reply-To")
    ids = textmail.message_ids(message, "Message-ID")
    return Origin(
        channel="mail",
        sender=first.address,
        sender_name=first.name,
        reply_to=_addresses(textmail.mailboxes(message, "Reply-To")),
        to=_addresses(textmail.mailboxes(message, "To")),
        cc=_addresses(textmail.mailboxes(message, "Cc")),
        subject=textmail.one_line(textmail.header_text(message, "Subject")),
        message_id=ids[0] if ids else None,
        references=references,
        date=textmail.header_date(message),
        text=text,
    )


def _addresses(boxes: Iterable[textmail.Mailbox]) -> tuple[str, ...]:
    """Bare addresses, lower-cased, usable ones only, each once."""
    out: list[str] = []
    for box in boxes:
        if not _email_problem("address", box.address) and box.address not in out:
            out.append(box.address)
    return tuple(out)


def _without(addresses: Iterable[str], own: frozenset[str]) -> tuple[str, ...]:
    return tuple(a for a in addresses if a.lower() not in own)


def _subject_words(subject: str) -> list[str]:
    words: list[str] = []
    while True:
        match = _SUBJECT_PREFIX.match(subject)
        if not match or match.end() == 0:
            return words
        word = (match.group("word") or "").lower()
        if word and word not in _REPLY_WORDS | _FORWARD_WORDS:
            return words  # "ALMA:" is the subject itself, not a prefix
        words.append(word)
        subject = subject[match.end():]


def _is_reply_subject(subject: str) -> bool:
    """The first prefix word, past tags like "[Ticket#123]", is a reply word."""
    words = [w for w in _subject_words(subject) if w]
    return bool(words) and words[0] in _REPLY_WORDS


def _is_reply(message: EmailMessage, subject: str) -> bool:
    return _is_reply_subject(subject) or bool(textmail.message_ids(message, "In-Reply-To"))


# ---------------------------------------------------------------- scanning lines


@dataclass
class _Scan:
    """What the request lines of a text say, before validation."""

    fields: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in _KEYS})
    # Lines whose value is still the template's "<...>" placeholder.
    placeholders: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in _KEYS})
    subjects: list[str] = field(default_factory=list)  # of forwarded mails
    quoted_request: bool = False  # request lines seen only as quotes of an earlier mail

    @property
    def keys(self) -> set[str]:
        return {k for k, values in self.fields.items() if values}

    def add(self, key: str, value: str) -> None:
        self.fields[key].append(value)

    def absorb_forwarded(self, forwarded: textmail.Forwarded) -> None:
        """A mail attached as a forward counts when it is itself request-shaped."""
        inner = _scan_lines(forwarded.text.split("\n"), reply_subject=False)
        if MOUS not in inner.keys and not _REQUEST_SUBJECT.search(forwarded.subject):
            return
        self.subjects.append(forwarded.subject)
        self.subjects.extend(inner.subjects)
        for key, values in inner.fields.items():
            self.fields[key].extend(values)
        for key, values in inner.placeholders.items():
            self.placeholders[key].extend(values)


def _flatten(forwards: Sequence[textmail.Forwarded]) -> Iterable[textmail.Forwarded]:
    for forwarded in forwards:
        yield forwarded
        yield from _flatten(forwarded.forwarded)


def _scan_lines(lines: Sequence[str], *, reply_subject: bool) -> _Scan:
    """Collect the request lines of a body, skipping quotes, signatures and replied-to mail.

    A signature runs until the next forwarded mail (a forwarder's signature may sit
    above the forwarded text); text below a reply marker is the mail answered, never
    a request of its own. Outlook marks both with a "From:/Sent:" block: under a
    "Re:" subject it is the mail answered, otherwise a forwarded or pasted mail.
    """
    scan = _Scan()
    mode = "own"  # own | signature | reply
    in_forward_header = False
    for index, raw in enumerate(lines):
        line = textmail.analysis_line(raw)
        if line.startswith(">"):
            scan.quoted_request |= _is_request_line(line.lstrip("> "))
            continue
        if mode != "reply" and _FORWARD_MARKER.match(line):
            mode, in_forward_header = "own", True
            continue
        if mode != "reply" and not in_forward_header and _starts_header_block(lines, index):
            mode = "reply" if reply_subject else "own"
            in_forward_header = True
        if mode == "own" and _REPLY_MARKER.match(line):
            mode = "reply"
        if raw.rstrip(" \t") == "--" and mode == "own":
            mode = "signature"
        if mode != "own":
            scan.quoted_request |= mode == "reply" and _is_request_line(line)
            continue
        if in_forward_header:
            in_forward_header = _forward_header_line(line, scan)
            if in_forward_header:
                continue
        _read_line(line, scan)
    return scan


def _starts_header_block(lines: Sequence[str], index: int) -> bool:
    """Outlook's "From: / Sent: / To: / Subject:" block above an answered or forwarded mail."""
    if not _HEADER_BLOCK_FROM.match(textmail.analysis_line(lines[index])):
        return False
    following = (textmail.analysis_line(line) for line in lines[index + 1:index + 4])
    return any(_HEADER_BLOCK_DATE.match(line) for line in following)


def _forward_header_line(line: str, scan: _Scan) -> bool:
    """Consume one line of a forwarded mail's header block; False once the block has ended."""
    if not line:
        return False
    subject = _HEADER_BLOCK_SUBJECT.match(line)
    if subject:
        scan.subjects.append(subject.group(1))
        return True
    return bool(_HEADER_BLOCK_LINE.match(line)) or line.startswith("_" * 8)


def _read_line(line: str, scan: _Scan) -> None:
    request = _REQUEST_LINE.search(line)
    if request:
        _add_value(scan, MOUS, request.group("value").strip())
        return
    match = _FIELD_LINE.match(line)
    if not match:
        return
    _add_value(scan, _canonical_key(match.group("key")), match.group("value").strip())


def _add_value(scan: _Scan, key: str, value: str) -> None:
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


def _is_request_line(line: str) -> bool:
    return bool(_REQUEST_LINE.search(line) or _FIELD_LINE.match(line))


def _shape(scan: _Scan, subject: str, *, is_reply: bool) -> str | None:
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


# ---------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Values:
    mous: str
    project: str
    calfields: tuple[str, ...]
    user_name: str
    user_email: str
    ticket: str


def _validate(scan: _Scan, subjects: Sequence[str],
              file_name_mous: str | None) -> tuple[list[str], _Values]:
    """Every problem of the request lines (all of them, in line order), and the values."""
    problems: list[str] = []

    def filled(key: str) -> bool:
        """Checked as usual unless the line is there only as a placeholder."""
        placeholders = scan.placeholders[key]
        for value in dict.fromkeys(placeholders):
            problems.append(_placeholder_problem(key, value))
        return bool(scan.fields[key]) or not placeholders

    mous = (_one_mous(scan.fields[MOUS], subjects, file_name_mous, problems)
            if filled(MOUS) else "")
    project = (_one_value(PROJECT, scan.fields[PROJECT], problems, _project_problem)
               if filled(PROJECT) else "")
    calfields = _calfields(scan.fields[CALFIELD], problems) if filled(CALFIELD) else ()
    user = (_one_value(USER, [" ".join(v.split()) for v in scan.fields[USER]], problems,
                       _user_problem) if filled(USER) else "")
    email = (_one_value(EMAIL, [_outlook_mailto(v) for v in scan.fields[EMAIL]], problems,
                        lambda v: _email_problem("email", v)) if filled(EMAIL) else "")
    ticket = (_one_value(TICKET, scan.fields[TICKET], problems, _ticket_problem)
              if filled(TICKET) else "")
    ticket_digits = _TICKET.fullmatch(ticket)
    values = _Values(mous, project, calfields, user, email,
                     ticket_digits.group(1) if ticket_digits else "")
    return problems, values


def _one_value(key: str, values: Sequence[str], problems: list[str],
               check: _Check) -> str:
    if not values:
        problems.append(f"no '{_LABEL[key]}' line")
        return ""
    distinct = [v for v in dict.fromkeys(values) if v]
    if len(distinct) < len(set(values)):
        problems.append(f"the '{_LABEL[key]}' line has no value")
    if len(distinct) > 1:
        problems.append(f"{_count(len(distinct))} '{_LABEL[key]}' lines disagree: "
                        + _listed(distinct))
    if len(distinct) != len(set(values)) or len(distinct) != 1:
        return ""
    value = distinct[0]
    problem = check(value)
    if problem:
        problems.append(problem)
        return ""
    return value


def _placeholder_problem(key: str, value: str) -> str:
    problem = f"the '{_LABEL[key]}' line still holds the placeholder {_show(value)}"
    if key == CALFIELD:
        return problem + ": name the fields, or leave the line out for all the data"
    return problem + ": write the value in its place"


def _project_problem(value: str) -> str:
    if _PROJECT.fullmatch(value):
        return ""
    return f"project code {_show(value)} is not of the form YYYY.C.NNNNN.T (e.g. 2017.1.00727.S)"


def _ticket_problem(value: str) -> str:
    match = _TICKET.fullmatch(value)
    if match and len(match.group(1)) <= _MAX_TICKET:
        return ""
    return f"helpdesk ticket {_show(value)} is not a ticket number (digits only)"


def _user_problem(value: str) -> str:
    if len(value) > _MAX_NAME:
        return f"user name {_show(value)} is longer than {_MAX_NAME} characters"
    if any(c.isalpha() for c in value) and all(
            c.isalpha() or c in _NAME_PUNCTUATION for c in value):
        return ""
    return (f"user name {_show(value)} may contain only letters, spaces, hyphens, "
            "apostrophes and dots")


def _email_problem(what: str, value: str) -> str:
    """"" for an address of plain syntax, else the problem sentence."""
    local, at, domain = value.rpartition("@")
    labels = domain.split(".")
    ok = (
        bool(at) and len(value) <= 254 and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and len(labels) >= 2
        and all(_EMAIL_LABEL.fullmatch(label) for label in labels)
        and _EMAIL_TLD.fullmatch(labels[-1]) is not None
    )
    return "" if ok else f"{what} {_show(value)} is not a valid email address"


def _outlook_mailto(value: str) -> str:
    """Outlook's plain text renders a link as `addr<mailto:addr>`: that is the address."""
    match = _OUTLOOK_MAILTO.fullmatch(value)
    if match and match.group(1).lower() == match.group(2).lower():
        return match.group(1)
    return value


def _calfields(values: Sequence[str], problems: list[str]) -> tuple[str, ...]:
    distinct = list(dict.fromkeys(" ".join(v.split()) for v in values))
    if not distinct:
        return ()
    if len(distinct) > 1:
        problems.append(f"{_count(len(distinct))} 'calfield' lines disagree: "
                        + _listed(distinct))
        return ()
    listed = distinct[0]
    if not listed:
        problems.append("the 'calfield' line names no field")
        return ()
    names = [name.strip() for name in listed.split(",")]
    found: dict[str, None] = {}  # a dict: `in` on a list is quadratic in a long list
    before = len(problems)
    if any(not name for name in names):
        problems.append(f"calfield list {_show(listed)} has an empty field name")
    for name in (n for n in names if n):
        if not _FIELD_NAME.fullmatch(name) or len(name) > _MAX_FIELD_NAME:
            problems.append(f"calibrator field {_show(name)} is not a field name "
                            "(letters, digits and + - . _ only)")
        elif name in found:
            problems.append(f"calibrator field {_show(name)} is listed twice")
        else:
            found[name] = None
    if len(found) > _MAX_FIELDS:
        problems.append(f"more than {_MAX_FIELDS} calibrator fields")
    return tuple(found) if len(problems) == before else ()


def _one_mous(values: Sequence[str], subjects: Sequence[str], file_name_mous: str | None,
              problems: list[str]) -> str:
    """The one MOUS of the mail (URI form), checked against the subject and the file name."""
    if not values:
        problems.append(f"no '{_LABEL[MOUS]}' line")
        return ""
    named: list[str] = []  # URI forms, in order of appearance
    for value in values:
        if not value:
            problems.append(f"the '{_LABEL[MOUS]}' line names no MOUS")
            continue
        tokens = _UID_LIKE.findall(value)
        if len(tokens) > 1:
            named.extend(_mous_uri(t) or t for t in tokens)
            continue
        uri = _mous_uri(value)
        if uri is None:
            problems.append(f"MOUS {_show(value)} is not a MOUS UID of the form "
                            "uid___A001_X1296_X675 or uid://A001/X1296/X675")
            continue
        named.append(uri)
    distinct = list(dict.fromkeys(named))
    if len(distinct) > 1:
        problems.append(_many_mous(distinct))
        return ""
    if not distinct:
        return ""
    mous = distinct[0]
    before = len(problems)
    _compare_subjects(mous, subjects, problems)
    if file_name_mous is not None and file_name_mous != mous:
        problems.append(f"file name names {_file_form(file_name_mous)} but the body names "
                        f"{_file_form(mous)}")
    return mous if len(problems) == before else ""


def _compare_subjects(mous: str, subjects: Sequence[str], problems: list[str]) -> None:
    for subject in subjects:
        tokens = list(dict.fromkeys(_UID_LIKE.findall(subject)))
        if len(tokens) > 1:
            problems.append(_many_mous([_mous_uri(t) or t for t in tokens]))
            continue
        for token in tokens:
            uri = _mous_uri(token)
            if uri is None:
                problems.append(f"the subject names {_show(token)}, which is not a MOUS UID "
                                "of the form uid___A001_X1296_X675")
            elif uri != mous:
                problems.append(f"subject names {_file_form(uri)} but the body names "
                                f"{_file_form(mous)}")


def _many_mous(uris: Sequence[str]) -> str:
    shown = ", ".join(_file_form(u) for u in dict.fromkeys(uris))
    return f"{_count(len(uris))} MOUSs in one mail: send one mail per MOUS ({shown})"


def _mous_uri(value: str) -> str | None:
    """The URI form of a MOUS UID written in either form; None if it is not one."""
    match = _MOUS_URI.fullmatch(value) or _MOUS_FILE.fullmatch(value)
    return "uid://{}/{}/{}".format(*match.groups()) if match else None


def _file_form(value: str) -> str:
    match = _MOUS_URI.fullmatch(value)
    return "uid___" + "_".join(match.groups()) if match else value


def _file_name_mous(file_name: str) -> str | None:
    """The MOUS named by `trigger-<MOUS>-YYYY-MM-DDThh-mm-ss.txt`, if the name has one."""
    match = _MOUS_FILE.search(PurePath(file_name).name) if file_name else None
    return _mous_uri(match.group(0)) if match else None


def _listed(values: Sequence[str]) -> str:
    """"'a' and 'b'", or the first `_MAX_LISTED` values "and N more": a reply stays small."""
    shown = [_show(v) for v in values[:_MAX_LISTED]]
    if len(values) > _MAX_LISTED:
        return ", ".join(shown) + f" and {len(values) - _MAX_LISTED} more"
    return " and ".join(shown)


def _count(n: int) -> str:
    return {2: "two", 3: "three"}.get(n, str(n))


def _show(value: str, *, quote: bool = True, limit: int = 80) -> str:
    """A value quoted for a problem line: invisible characters escaped, long ones cut."""
    shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return f"'{shown}'" if quote else shown


def _request(values: _Values, *, arc_contact: str, cc: tuple[str, ...], received: datetime,
             origin: Origin) -> Request:
    return Request(
        mous=values.mous,
        project=values.project,
        calfields=values.calfields,
        user_name=values.user_name,
        user_email=values.user_email,
        ticket=values.ticket,
        arc_contact=arc_contact,
        cc=cc,
        message_id=origin.message_id,
        received=received,
        origin=origin,
    )


# ---------------------------------------------------------------- trigger files


@dataclass
class _TriggerHead:
    contacts: list[str] = field(default_factory=list)
    ccs: list[str] = field(default_factory=list)
    subject: str = ""
    body: list[str] = field(default_factory=list)


_CONTACT_LINE = re.compile(r"^EU\s+ARC\s+contact\b\s*:?\s*(.*)$", re.IGNORECASE)
_CC_LINE = re.compile(r"^CC\s+e-?mail\b\s*:?\s*(.*)$", re.IGNORECASE)


def _trigger_head(lines: Sequence[str]) -> _TriggerHead:
    """Split a trigger file into its header lines (contact, CC, subject) and the body."""
    head = _TriggerHead()
    for index, raw in enumerate(lines):
        line = textmail.analysis_line(raw)
        contact, cc = _CONTACT_LINE.match(line), _CC_LINE.match(line)
        if contact:
            head.contacts.append(contact.group(1).strip())
        elif cc:
            head.ccs.append(cc.group(1).strip())
        elif not line:
            continue
        elif _is_request_line(line):
            head.body = list(lines[index:])  # no subject line: the body starts here
            return head
        else:
            head.subject = textmail.one_line(line)
            head.body = list(lines[index + 1:])
            return head
    return head


def _trigger_contact(contacts: Sequence[str], problems: list[str]) -> str:
    values = list(dict.fromkeys(_bracketed(c).lower() for c in contacts))
    if not values:
        problems.append("no 'EU ARC contact' line")
        return ""
    if len(values) > 1:
        problems.append(f"{_count(len(values))} 'EU ARC contact' lines disagree: "
                        + _listed(values))
        return ""
    problem = _email_problem("EU ARC contact", values[0])
    if problem:
        problems.append(problem)
        return ""
    return values[0]


def _trigger_ccs(lines: Sequence[str], problems: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for line in lines:
        for item in re.split(r"[,;]|\s+", line):
            address = _bracketed(item).lower()
            if not address:
                continue
            problem = _email_problem("CC email", address)
            if problem:
                problems.append(problem)
            elif address not in out:
                out.append(address)
    return tuple(out)


def _bracketed(value: str) -> str:
    """`<addr>` -> `addr` (the trigger template writes the contact in angle brackets)."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].strip()
    return value
