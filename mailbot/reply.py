"""Every mail the bot sends, rendered from Jinja2 templates (pure: no I/O but reading them).

Four kinds (spec sections 3-5): a *verdict* reply and a *malformed* reply to the
request's sender in the request's thread, the *completion* mail to the user with
the ARC contact, the maintainer and aog@ as blind copies, and the *failure* mail
with the entire stagecalms output to the maintainer.

Templates live in `config.replies.templates_dir` (empty: the ones shipped in
`mailbot/templates/replies/`): `verdict_<CODE>.txt.j2` for each verdict code but
STAGE, `malformed.txt.j2`, `completion.txt.j2` and `failure.txt.j2`. They render
the plain-text body; the completion and failure templates also set `subject`
(`{%- set subject = ... -%}`), so that its wording is theirs too. Top-level
variables are strict (a misspelt one fails loudly); `detail` is a plain dict, read
with `detail.get(...)` so that a key the decision did not record renders as nothing.

The bytes are built with `email.policy.SMTP` (CRLF): an ASCII body with short lines
stays 7bit, anything else is quoted-printable UTF-8, so no line exceeds 998 octets;
display names are RFC 2047 encoded. Blind copies exist only in `rcpt_to`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from mailbot.config import PACKAGE_DIR, Config
from mailbot.model import (
    Malformed,
    Origin,
    OutgoingMail,
    Request,
    StagingResult,
    Verdict,
)

# refold_source="none": the References/In-Reply-To values below are set pre-folded
# (one msg-id per line). Folded by the header registry instead, a msg-id longer than
# a 78-octet line is turned into RFC 2047 encoded words, which breaks threading.
_POLICY = SMTP.clone(refold_source="none")

# Octets of a physical line allowed by RFC 5322 section 2.1.1 (CRLF excluded).
MAX_LINE_OCTETS = 998

TRUNCATION_MARKER = "[... quoted text truncated ...]"

# Any run of leading reply prefixes ("Re:", "RE:", "Aw:", "re :", "Re[2]:", "SV:"):
# a reply carries exactly one "Re: ".
_REPLY_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:)+\s*", re.IGNORECASE
)
# A msg-id we are willing to copy into a header verbatim: printable ASCII, no spaces.
_MSG_ID = re.compile(r"^<[!-~]{1,900}>$")
# Characters of the original subject kept in a reply's Subject: a hostile mail's
# megabytes of subject must not make a reply of the same size.
_MAX_SUBJECT = 200
# References kept when the thread is long: the first one and the most recent ones.
_MAX_REFERENCES = 20
# Control characters and everything str.splitlines() breaks at: the email package
# refuses a header value that would split into two lines.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# The stdlib folder moves a value that fits a line of its own onto a continuation
# line ("Subject:\r\n stagecalms failed: ..."), and its own parser then keeps the
# leading space in the value. Joined back, the line stays far below 998 octets.
_EMPTY_FIRST_LINE = re.compile(rb"^([!-9;-~]+):\r\n[ \t]+", re.MULTILINE)


def message_id(config: Config, kind: str, key: str) -> str:
    """The deterministic Message-ID of one mail: a re-send carries the same ID."""
    digest = hashlib.sha256((kind + key).encode("utf-8")).hexdigest()[:24]
    return f"<mailbot.{kind}.{digest}@{config.message_id_domain}>"


def render_verdict(
    config: Config, request: Request, verdict: Verdict, *, key: str, queued_at: datetime
) -> OutgoingMail:
    """The reply that tells the request's sender the verdict, above the quoted request."""
    if verdict.stages:
        raise ValueError("a STAGE verdict is answered by staging, not by a reply")
    line = config.verdict_line(verdict.code.value)
    context = {
        **_request_context(request),
        "verdict_line": line,
        "code": verdict.code.value,
        "check": verdict.check,
        "detail": dict(verdict.detail),
        "request_day": request.received.date().isoformat(),
        **_quote_context(config, request.origin),
    }
    body = _render_body(config, f"verdict_{verdict.code.value}.txt.j2", context)
    return _reply(config, request.origin, "verdict", line, body, key=key, queued_at=queued_at)


def render_malformed(
    config: Config, malformed: Malformed, *, key: str, queued_at: datetime
) -> OutgoingMail:
    """The reply listing what is wrong with a request-shaped mail and how to fix it."""
    line = config.verdict_line("MALFORMED")
    context = {
        "verdict_line": line,
        "problems": list(malformed.problems),
        **_quote_context(config, malformed.origin),
    }
    body = _render_body(config, "malformed.txt.j2", context)
    return _reply(config, malformed.origin, "malformed", line, body, key=key, queued_at=queued_at)


def render_completion(
    config: Config, request: Request, result: StagingResult, *, key: str, queued_at: datetime
) -> OutgoingMail:
    """The download link for the user (spec section 5); staff get blind copies."""
    if not (result.ok and result.url):
        raise ValueError("a completion mail needs a successful staging with a download URL")
    context = {
        **_request_context(request),
        "url": result.url,
        "retention_days": config.replies.retention_days,
        "deletion_date": result.deletion_date,
        "signature": config.replies.signature,
    }
    subject, body = _render_with_subject(config, "completion.txt.j2", context)
    to = [_address(request.user_email, request.user_name)]
    bcc = _unique(
        [request.arc_contact, config.addresses.maintainer, config.addresses.aog],
        exclude={request.user_email},
    )
    msg = _message(config, "completion", subject, key=key, queued_at=queued_at)
    msg["To"] = to
    msg["Reply-To"] = _address(config.addresses.no_reply)
    _thread(msg, request.origin)
    msg["Auto-Submitted"] = "auto-generated"
    _set_body(msg, body)
    return _outgoing(config, msg, "completion", subject, [request.user_email, *bcc])


def render_failure(
    config: Config,
    request: Request,
    *,
    command: str,
    output: str,
    result: StagingResult,
    job_name: str,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """The maintainer's mail about a failed staging, with the ENTIRE terminal output."""
    context = {
        **_request_context(request),
        "command": command,
        "output": _plain_lines(output).rstrip("\n"),
        "job_name": job_name,
        "retry_hint": f"mailbot retry {job_name}",
        "exit_status": result.exit_status,
        "problems": list(result.problems),
        "failed_dir": result.failed_dir,
        "workdir": result.workdir,
    }
    subject, body = _render_with_subject(config, "failure.txt.j2", context)
    to = config.addresses.maintainer
    cc = _unique([config.addresses.aog], exclude={to})
    msg = _message(config, "failure", subject, key=key, queued_at=queued_at)
    msg["To"] = [_address(to)]
    if cc:
        msg["Cc"] = [_address(a) for a in cc]
    _thread(msg, request.origin)
    msg["Auto-Submitted"] = "auto-generated"
    _set_body(msg, body)
    return _outgoing(config, msg, "failure", subject, [to, *cc])


def reply_subject(original: str) -> str:
    """`Re: ` and the original subject without its own reply prefixes (never `Re: Re:`)."""
    rest = _REPLY_PREFIXES.sub("", _one_line(original)).strip()
    if len(rest) > _MAX_SUBJECT:
        rest = rest[:_MAX_SUBJECT].rstrip() + "…"
    return f"Re: {rest}" if rest else "Re: (no subject)"


def quote(text: str, max_bytes: int) -> str:
    """`text` quoted with `> `, cut at `max_bytes` UTF-8 octets with a visible marker."""
    lines = _plain_lines(text).rstrip("\n").split("\n")
    kept: list[str] = []
    used = 0
    truncated = False
    for line in lines:
        size = len(line.encode("utf-8")) + 1
        if used + size > max_bytes:
            room = max_bytes - used
            if room > 1:
                kept.append(_cut_utf8(line, room - 1))
            truncated = True
            break
        kept.append(line)
        used += size
    quoted = "\n".join(f"> {line}" if line else ">" for line in kept)
    if truncated:
        quoted += f"\n{TRUNCATION_MARKER}"
    return quoted


# --- templates -----------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text mail, not HTML  # noqa: S701
        keep_trailing_newline=True,
    )


def templates_dir(config: Config) -> Path:
    """Where the reply templates are read from."""
    configured = config.replies.templates_dir
    return config.path(configured) if configured else PACKAGE_DIR / "templates" / "replies"


def _template(config: Config, name: str) -> jinja2.Template:
    return _environment(str(templates_dir(config))).get_template(name)


def _render_body(config: Config, name: str, context: Mapping[str, Any]) -> str:
    return _template(config, name).render(context)


def _render_with_subject(config: Config, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
    module = _template(config, name).make_module(dict(context))
    subject = getattr(module, "subject", None)
    if not isinstance(subject, str) or not subject.strip():
        raise jinja2.TemplateError(f"template {name} sets no subject")
    return _one_line(subject), str(module)


def _request_context(request: Request) -> dict[str, Any]:
    return {
        "request": request,
        "mous": request.mous,
        "mous_file": request.mous_file,
        "project": request.project,
        "calfields": list(request.calfields),
        "calibrator_only": request.calibrator_only,
        "user_name": request.user_name,
        "user_email": request.user_email,
        "ticket": request.ticket,
        "arc_contact": request.arc_contact,
    }


def _quote_context(config: Config, origin: Origin) -> dict[str, str]:
    who = f"{origin.sender_name} <{origin.sender}>" if origin.sender_name else origin.sender
    when = f"On {format_datetime(origin.date)}, " if origin.date else ""
    return {
        "attribution": f"{when}{who} wrote:",
        "quoted": quote(origin.text, config.replies.quote_max_bytes),
    }


# --- messages ------------------------------------------------------------------


def _reply(
    config: Config,
    origin: Origin,
    kind: str,
    verdict_line: str,
    body: str,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """A reply-all to the request as AOG writes it: sender in To, the others in Cc.

    A Reply-To (other than the bot's own addresses) takes the To; the sender, the ARC
    contact, is then copied, so that the verdict always reaches the one who asked.
    """
    own = config.own_addresses
    to = _unique(origin.reply_to, exclude=own) or _unique([origin.sender], exclude=())
    cc = _unique([origin.sender, *origin.to, *origin.cc], exclude={*own, *to})
    subject = reply_subject(origin.subject)
    msg = _message(config, kind, subject, key=key, queued_at=queued_at)
    msg["To"] = [_sender_named(a, origin) for a in to]
    if cc:
        msg["Cc"] = [_sender_named(a, origin) for a in cc]
    _thread(msg, origin)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Mailbot-Verdict"] = _one_line(verdict_line)
    _set_body(msg, body)
    return _outgoing(config, msg, kind, subject, [*to, *cc])


def _message(
    config: Config, kind: str, subject: str, *, key: str, queued_at: datetime
) -> EmailMessage:
    if queued_at.tzinfo is None or queued_at.utcoffset() is None:
        raise ValueError("queued_at must be an aware datetime")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(config.addresses.aog, config.addresses.aog_name)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(queued_at)
    msg["Message-ID"] = message_id(config, kind, key)
    # Marks the mail as the bot's own, so that it is never read as a request.
    msg[config.replies.loop_header] = config.addresses.aog
    return msg


def _thread(msg: EmailMessage, origin: Origin) -> None:
    """In-Reply-To and References per RFC 5322 section 3.6.4 (none without a Message-ID)."""
    parent = _clean_msg_id(origin.message_id)
    if parent is None:
        return
    references = [r for r in (_clean_msg_id(x) for x in origin.references) if r]
    references = [r for r in dict.fromkeys(references) if r != parent]
    if len(references) >= _MAX_REFERENCES:
        references = [references[0], *references[-(_MAX_REFERENCES - 2) :]]
    msg.set_raw("In-Reply-To", parent)
    msg.set_raw("References", "\n ".join([*references, parent]))


def _clean_msg_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _MSG_ID.match(value) else None


def _set_body(msg: EmailMessage, body: str) -> None:
    body = _plain_lines(body)
    short = all(len(line) <= MAX_LINE_OCTETS for line in body.split("\n"))
    cte = "7bit" if body.isascii() and short else "quoted-printable"
    msg.set_content(body, charset="utf-8", cte=cte)


def _outgoing(
    config: Config, msg: EmailMessage, kind: str, subject: str, rcpt_to: Iterable[str]
) -> OutgoingMail:
    return OutgoingMail(
        kind=kind,
        message_id=str(msg["Message-ID"]),
        mail_from=config.addresses.aog,
        rcpt_to=tuple(_unique(rcpt_to, exclude=())),
        data=_serialize(msg),
        subject=subject,
    )


def _serialize(msg: EmailMessage) -> bytes:
    head, sep, body = msg.as_bytes(policy=_POLICY).partition(b"\r\n\r\n")
    return _EMPTY_FIRST_LINE.sub(rb"\1: ", head) + sep + body


# --- small helpers ---------------------------------------------------------------


def _address(addr: str, name: str = "") -> Address:
    display, spec = parseaddr(addr)
    return Address(display_name=_one_line(name or display), addr_spec=spec or addr.strip())


def _sender_named(addr: str, origin: Origin) -> Address:
    """The address, with the request's From display name when it is the sender's."""
    return _address(addr, origin.sender_name if _same(addr, origin.sender) else "")


def _bare(addr: str) -> str:
    return (parseaddr(addr)[1] or addr).strip()


def _same(a: str, b: str) -> bool:
    return _bare(a).lower() == _bare(b).lower()


def _unique(addresses: Iterable[str], *, exclude: Iterable[str]) -> list[str]:
    """Bare addresses in their first order, without blanks, repeats or `exclude`."""
    seen = {_bare(a).lower() for a in exclude}
    kept: list[str] = []
    for addr in addresses:
        bare = _bare(addr)
        if bare and bare.lower() not in seen:
            seen.add(bare.lower())
            kept.append(bare)
    return kept


def _one_line(value: str) -> str:
    return _HEADER_BREAKS.sub(" ", value).strip()


def _plain_lines(text: str) -> str:
    """LF line ends only, and text that encodes as UTF-8 (lone surrogates become '?')."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.encode("utf-8", "replace").decode("utf-8")


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


__all__ = [
    "MAX_LINE_OCTETS",
    "TRUNCATION_MARKER",
    "message_id",
    "quote",
    "render_completion",
    "render_failure",
    "render_malformed",
    "render_verdict",
    "reply_subject",
    "templates_dir",
]
