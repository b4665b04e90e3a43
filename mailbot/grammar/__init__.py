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

The steps, one module each: `automatic` (mail never read), `origin` (who sent it,
answering what), `lines` (finding the request lines), `values` and `mous`
(validating them), `trigger` (the head of a trigger file), `problems` (how
problem lines show values).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from functools import lru_cache

from mailbot import textmail
from mailbot.grammar.authres import authentication
from mailbot.grammar.automatic import id_domains, unread_reason
from mailbot.grammar.lines import flatten, request_shape, scan_lines
from mailbot.grammar.mous import file_name_mous
from mailbot.grammar.origin import is_reply, is_reply_subject, mail_origin, without
from mailbot.grammar.problems import show
from mailbot.grammar.trigger import trigger_ccs, trigger_contact, trigger_head
from mailbot.grammar.values import email_problem, validate
from mailbot.model import Malformed, NotARequest, Origin, Parsed

__all__ = ["Parsed", "parse_message", "parse_trigger"]


def parse_message(
    raw: bytes | EmailMessage,
    *,
    received: datetime,
    own_addresses: frozenset[str] = frozenset(),
    loop_header: str = "X-Mailbot-Loop",
    own_id_domains: frozenset[str] = frozenset(),
    authserv_id: str = "",
) -> Parsed:
    """Read one mail of the aog@ mailbox: a `Request`, `Malformed` problems, or `NotARequest`.

    `own_id_domains` are the right-hand sides of the bot's Message-IDs
    (`config.message_id_domain`); empty: the domains of `own_addresses`. With an
    `authserv_id`, the origin says whether that MTA vouches for From (`authres`).
    """
    message = raw if isinstance(raw, EmailMessage) else textmail.parse_bytes(raw)
    own = _lowered(own_addresses)
    senders = textmail.mailboxes(message, "From")
    unread = unread_reason(message, senders, own=own, loop_header=loop_header,
                           id_domains=id_domains(own_id_domains, own))
    if unread:
        return NotARequest(unread, keep=textmail.too_deep(message))
    body = textmail.read_body(message)
    vouched = authentication(message, senders, authserv_id) if authserv_id else None
    origin = mail_origin(message, senders, body.text, vouched)
    if not origin.sender or email_problem("From address", origin.sender):
        return NotARequest(f"no usable From address ({show(origin.sender)})")
    reply_subject = is_reply_subject(origin.subject)
    scan = scan_lines(body.text.split("\n"), reply_subject=reply_subject)
    for forwarded in flatten(body.forwarded):
        scan.absorb_forwarded(forwarded)
    shape = request_shape(scan, origin.subject, is_reply=is_reply(message, reply_subject))
    if shape is not None:
        return NotARequest(shape)
    request, problems = validate(scan, [origin.subject, *scan.subjects], file_name_mous=None)
    if problems:
        return Malformed(problems, origin)
    return request(arc_contact=origin.sender, cc=without(origin.cc, own),
                   message_id=origin.message_id, received=received, origin=origin)


def parse_trigger(
    text: str,
    *,
    received: datetime,
    file_name: str = "",
    own_addresses: frozenset[str] = frozenset(),
) -> Parsed:
    """Read one trigger file (`EU ARC contact`, `CC email` lines, subject, then the request)."""
    normalized = textmail.normalize_text(text)
    head = trigger_head(normalized.split("\n"))
    scan = scan_lines(head.body, reply_subject=False)
    shape = request_shape(scan, head.subject, is_reply=False)
    if shape is not None and not head.contacts:
        return NotARequest(f"not a trigger file: {shape}")
    contact, ccs = trigger_contact(head.contacts), trigger_ccs(head.ccs)
    origin = Origin(channel="trigger", sender=contact.value, cc=ccs.value,
                    subject=head.subject, text=normalized.strip("\n"))
    request, problems = validate(scan, [head.subject, *scan.subjects],
                                 file_name_mous=file_name_mous(file_name))
    problems = (*problems, *contact.problems, *ccs.problems)
    if problems:
        return Malformed(problems, origin)
    return request(arc_contact=contact.value, cc=without(ccs.value, _lowered(own_addresses)),
                   message_id=origin.message_id, received=received, origin=origin)


# The same few addresses for every mail of a run: lowered once.
@lru_cache(maxsize=16)
def _lowered(addresses: frozenset[str]) -> frozenset[str]:
    return frozenset(a.strip().lower() for a in addresses)
