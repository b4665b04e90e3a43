"""Where a mail comes from and what it answers: the `Origin` a reply threads and quotes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from email.message import EmailMessage

from mailbot import textmail
from mailbot.grammar.values import email_problem
from mailbot.model import Authentication, Origin

_SUBJECT_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]|\((?:ext|external)\)|(?P<word>[A-Za-z]{2,6})"
                             r"\s*(?:\[\d+\]|\(\d+\))?\s*:)\s*", re.IGNORECASE)
_REPLY_WORDS = frozenset({"re", "aw", "sv", "antw", "vs", "odp", "ynt", "rif", "res"})
_FORWARD_WORDS = frozenset({"fwd", "fw", "wg", "tr", "enc", "rv", "doorst", "vb", "fs"})


def mail_origin(message: EmailMessage, senders: Sequence[textmail.Mailbox],
                text: str, authentication: Authentication | None = None) -> Origin:
    """The mail's sender, recipients, subject, ids and date, with the text read from it."""
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
        authentication=authentication,
    )


def _addresses(boxes: Iterable[textmail.Mailbox]) -> tuple[str, ...]:
    """Bare addresses, lower-cased, usable ones only, each once."""
    out: list[str] = []
    for box in boxes:
        if not email_problem("address", box.address) and box.address not in out:
            out.append(box.address)
    return tuple(out)


def without(addresses: Iterable[str], own: frozenset[str]) -> tuple[str, ...]:
    """The addresses that are not the bot's own."""
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


def is_reply_subject(subject: str) -> bool:
    """The first prefix word, past tags like "[Ticket#123]", is a reply word."""
    words = [w for w in _subject_words(subject) if w]
    return bool(words) and words[0] in _REPLY_WORDS


def is_reply(message: EmailMessage, reply_subject: bool) -> bool:
    """The mail answers another: by its subject (`reply_subject`, as `is_reply_subject`
    read it) or by its In-Reply-To header."""
    return reply_subject or bool(textmail.message_ids(message, "In-Reply-To"))
