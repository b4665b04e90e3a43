"""The four kinds of mail, each rendered from its template into an `OutgoingMail`."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from mailbot.model import Malformed, Origin, OutgoingMail, Request, StagingResult, Verdict
from mailbot.reply.message import (
    address,
    new_message,
    outgoing,
    put_addresses,
    put_text,
    reply_recipients,
    sender_named,
    thread,
    unique,
)
from mailbot.reply.quoting import plain_lines, quote, reply_subject
from mailbot.reply.settings import ReplySettings, Templates


def render_verdict(
    settings: ReplySettings,
    templates: Templates,
    request: Request,
    verdict: Verdict,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """The reply that tells the request's sender the verdict, above the quoted request."""
    if verdict.stages:
        raise ValueError("a STAGE verdict is answered by staging, not by a reply")
    line = settings.verdict_line(verdict.code.value)
    context = {
        **_request_context(request),
        "verdict_line": line,
        "code": verdict.code.value,
        "check": verdict.check,
        "detail": dict(verdict.detail),
        # The day the checks judged it on (AOG's time zone), when they say.
        "request_day": (verdict.day or request.received.date()).isoformat(),
        **_quote_context(settings, request.origin, request.received),
    }
    body = templates.render(f"verdict_{verdict.code.value}.txt.j2", context)
    return _reply(settings, request.origin, "verdict", line, body, key=key, queued_at=queued_at)


def render_malformed(
    settings: ReplySettings,
    templates: Templates,
    malformed: Malformed,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """The reply listing what is wrong with a request-shaped mail and how to fix it."""
    line = settings.verdict_line("MALFORMED")
    context = {
        "verdict_line": line,
        "problems": list(malformed.problems),
        # Malformed keeps no receipt time: its reply is composed in the run that reads
        # the mail (or in the `reprocess` AOG asked for), so that run dates it.
        **_quote_context(settings, malformed.origin, queued_at),
    }
    body = templates.render("malformed.txt.j2", context)
    origin = malformed.origin
    return _reply(settings, origin, "malformed", line, body, key=key, queued_at=queued_at)


def render_completion(
    settings: ReplySettings,
    templates: Templates,
    request: Request,
    result: StagingResult,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """The download link for the user (spec section 5); staff get blind copies."""
    if not (result.ok and result.url):
        raise ValueError("a completion mail needs a successful staging with a download URL")
    context = {
        **_request_context(request),
        "url": result.url,
        "retention_days": settings.retention_days,
        # The day stagecalms said, else retention_days from the staging's end (the mail is
        # composed then): never "from now", which a held mail would read days later.
        "deletion_date": result.deletion_date or (
            queued_at.date() + timedelta(days=settings.retention_days)).isoformat(),
        "signature": settings.signature,
    }
    subject, body = templates.render_with_subject("completion.txt.j2", context)
    # The ARC contact pastes the completion into the ticket (spec section 5), but a
    # link to proprietary data goes only to one AOG listed by address: anyone at a
    # listed domain may ask, and a From address is easy to borrow.
    contact = request.calibrator_only or settings.may_receive_link(request.arc_contact)
    bcc = unique(
        [*([request.arc_contact] if contact else []), settings.maintainer, settings.aog],
        exclude={request.user_email},
    )
    draft = new_message(settings, "completion", subject, key=key, queued_at=queued_at)
    put_addresses(draft, "To", [address(request.user_email, request.user_name)])
    put_addresses(draft, "Reply-To", [address(settings.no_reply)])
    thread(draft, request.origin)
    draft.add("Auto-Submitted", "auto-generated")
    draft.set_body(body)
    return outgoing(settings, draft, "completion", subject, [request.user_email, *bcc])


def render_failure(
    settings: ReplySettings,
    templates: Templates,
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
        "output": plain_lines(output).rstrip("\n"),
        "job_name": job_name,
        "retry_hint": f"mailbot retry {job_name}",
        "exit_status": result.exit_status,
        "problems": list(result.problems),
        "failed_dir": result.failed_dir,
        "workdir": result.workdir,
    }
    subject, body = templates.render_with_subject("failure.txt.j2", context)
    to = settings.maintainer
    cc = unique([settings.aog], exclude={to})
    draft = new_message(settings, "failure", subject, key=key, queued_at=queued_at)
    put_addresses(draft, "To", [address(to)])
    if cc:
        put_addresses(draft, "Cc", [address(a) for a in cc])
    thread(draft, request.origin)
    draft.add("Auto-Submitted", "auto-generated")
    draft.set_body(body)
    return outgoing(settings, draft, "failure", subject, [to, *cc])


def render_notice(
    settings: ReplySettings,
    templates: Templates,
    sender: str,
    reason: str,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """AOG's notice that a sender's requests are being kept (`limits`); `key` names the
    sender and the day, so that one notice a day is queued (`message_id`)."""
    context = {"sender": sender, "reason": reason}
    subject, body = templates.render_with_subject("notice.txt.j2", context)
    draft = new_message(settings, "notice", subject, key=key, queued_at=queued_at)
    put_addresses(draft, "To", [address(settings.aog)])
    draft.add("Auto-Submitted", "auto-generated")
    draft.set_body(body)
    return outgoing(settings, draft, "notice", subject, [settings.aog])


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


def _quote_context(settings: ReplySettings, origin: Origin,
                   received: datetime) -> dict[str, str]:
    """The quoted request under its attribution line, always dated: by its Date header,
    else (a trigger file, a mail without Date) by when the bot received it."""
    who = f"{origin.sender_name} <{origin.sender}>" if origin.sender_name else origin.sender
    return {
        "attribution": f"On {format_datetime(origin.date or received)}, {who} wrote:",
        "quoted": quote(origin.text, settings.quote_max_bytes),
    }


def _reply(
    settings: ReplySettings,
    origin: Origin,
    kind: str,
    verdict_line: str,
    body: str,
    *,
    key: str,
    queued_at: datetime,
) -> OutgoingMail:
    """A reply-all to the request as AOG writes it, among ARC staff only
    (`reply_recipients`): the sender in To, the others in Cc."""
    to, cc = reply_recipients(settings, origin)
    subject = reply_subject(origin.subject)
    draft = new_message(settings, kind, subject, key=key, queued_at=queued_at)
    put_addresses(draft, "To", [sender_named(a, origin) for a in to])
    if cc:
        put_addresses(draft, "Cc", [sender_named(a, origin) for a in cc])
    thread(draft, origin)
    draft.add("Auto-Submitted", "auto-replied")
    draft.add("X-Auto-Response-Suppress", "All")
    put_text(draft, "X-Mailbot-Verdict", verdict_line, settings_text=True)
    draft.set_body(body)
    return outgoing(settings, draft, kind, subject, [*to, *cc])
