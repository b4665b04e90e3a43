"""Mail that is never a request: automatic mail, the bot's own, and answers to the bot's mail.

Never answered, since an answer could loop with an auto-responder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import EmailMessage
from functools import lru_cache

from mailbot import textmail
from mailbot.grammar.problems import show

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic\s+reply|auto(?:matische)?[-\s]?(?:reply|antwort)|autoreply|out\s+of\s+(?:the\s+)?office"
    r"|abwesenheitsnotiz|réponse\s+automatique|undeliverable|undelivered\s+mail|delivery\s+status"
    r"\s+notification|returned\s+mail|mail\s+delivery\s+(?:failed|failure|system))\b",
    re.IGNORECASE,
)
_EMPTY_PATH = re.compile(r"<\s*>")
_TAG = re.compile(r"^\s*\[[^\]]*\]\s*")
_AUTOMATIC_SENDERS = frozenset({"mailer-daemon", "postmaster"})
# The Message-IDs of the bot's own mails (see `reply.message_id`).
_BOT_MESSAGE_ID = re.compile(r"<mailbot\.[a-z0-9_-]+\.[0-9a-f]+@(?P<domain>[^<>@\s]+)>",
                             re.IGNORECASE)


def unread_reason(message: EmailMessage, senders: Sequence[textmail.Mailbox], *,
                  own: frozenset[str], loop_header: str, id_domains: frozenset[str]) -> str:
    """Why a mail is not read at all; "" when its body is worth reading."""
    automatic = automatic_reason(message, senders, own, loop_header)
    if automatic:
        return automatic
    answered = bot_mail_answered(message, id_domains)
    if answered:
        # Corrections come as fresh mails (spec section 1); an answer to the bot's mail
        # is a person's comment or an auto-responder's echo, and answering it could loop.
        return f"reply to the bot's own mail {answered}"
    if textmail.too_deep(message):
        return (f"MIME parts nested more than {textmail.MAX_PART_DEPTH} levels deep: "
                "not read")
    return ""


def automatic_reason(message: EmailMessage, senders: Sequence[textmail.Mailbox],
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
            return f"automatic mail (Auto-Submitted: {show(value, quote=False)})"
    for name in ("x-autoreply", "x-autorespond"):
        if name in names:
            return f"automatic reply ({name} header)"
    for value in textmail.header_texts(message, "Precedence"):
        if value.strip().lower() in {"bulk", "junk", "list", "auto_reply"}:
            return f"bulk mail (Precedence: {show(value, quote=False)})"
    listed = sorted({n for n in names if n.startswith("list-")})
    if listed:
        return f"mailing-list mail ({listed[0]} header)"
    if any(_EMPTY_PATH.fullmatch(v.strip()) for v in textmail.raw_headers(message, "Return-Path")):
        return "delivery report (empty Return-Path <>)"
    for sender in [*senders, *textmail.mailboxes(message, "Sender")]:
        if sender.address.partition("@")[0] in _AUTOMATIC_SENDERS:
            return f"delivery report from {sender.address}"
    if textmail.content_type(message) == "multipart/report":
        return "delivery or read report (multipart/report)"
    subject = textmail.one_line(textmail.header_text(message, "Subject"))
    if _AUTO_SUBJECT.match(_strip_tags(subject)):
        return f"automatic reply (subject {show(subject)})"
    return ""


@lru_cache(maxsize=16)  # the same settings for every mail of a run
def id_domains(domains: frozenset[str], own: frozenset[str]) -> frozenset[str]:
    """The domains of the bot's Message-IDs: those configured, else those of its addresses."""
    chosen = domains or frozenset(a.rpartition("@")[2] for a in own)
    return frozenset(d.strip().lower() for d in chosen if d.strip())


def bot_mail_answered(message: EmailMessage, domains: frozenset[str]) -> str:
    """The first Message-ID of the bot's own mail named by In-Reply-To or References; ""."""
    for name in ("In-Reply-To", "References"):
        for msg_id in textmail.message_ids(message, name):
            match = _BOT_MESSAGE_ID.fullmatch(msg_id)
            if match and match.group("domain").lower() in domains:
                return show(msg_id, quote=False)
    return ""


def _strip_tags(subject: str) -> str:
    while True:
        match = _TAG.match(subject)
        if not match:
            return subject
        subject = subject[match.end():]
