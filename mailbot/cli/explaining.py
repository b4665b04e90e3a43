"""The work of `mailbot explain` (declared in `mailbot.cli.explain`): the facts and checks."""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from mailbot import decide
from mailbot import explain as text
from mailbot.archive import open_archive
from mailbot.cli.context import Context
from mailbot.errors import MailbotError, UsageError
from mailbot.inbox import Channel, Incoming
from mailbot.journal import Journal
from mailbot.model import MOUS_FILE, MOUS_URI, Malformed, Origin, Request, Verdict, VerdictCode
from mailbot.run.planning import Ledger, parse

_PER_REQUEST = ("email", "calfield", "project", "ticket")


def explain(ctx: Context) -> int:
    """Explain a request number, a mail or trigger file, or a MOUS given with options."""
    what: str = ctx.args.what
    if what.isdigit():
        _refuse_request_options(ctx, "a past request was judged on what it said then")
        return _recorded(ctx, int(what))
    if Path(what).is_file():
        _refuse_request_options(ctx, "a mail file says them itself")
        request = _from_file(ctx, Path(what))
    else:
        request = _from_options(ctx, _mous_uri(what))
    if request is None:
        return 0
    return _live(ctx, request)


def _refuse_request_options(ctx: Context, why: str) -> None:
    given = [f"--{name}" for name in _PER_REQUEST if getattr(ctx.args, name)]
    if given:
        raise UsageError(f"{', '.join(given)}: only for a MOUS ({why})")


def _mous_uri(text: str) -> str:
    for pattern in (MOUS_URI, MOUS_FILE):
        match = pattern.fullmatch(text.strip())
        if match:
            return "uid://" + "/".join(match.groups())
    raise UsageError(f"{text!r} is neither a MOUS UID, a readable file, nor a request number")


def _received(ctx: Context) -> datetime:
    """When the request counts as received: now, or noon (in AOG's zone) of --today."""
    if ctx.args.today is None:
        return ctx.clock.now()
    try:
        day = date.fromisoformat(ctx.args.today)
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD, not {ctx.args.today!r}") from None
    return datetime.combine(day, time(12), ctx.config.zone).astimezone(UTC)


def _from_options(ctx: Context, mous: str) -> Request:
    a = ctx.args
    return Request(mous=mous, project=a.project or "",
                   calfields=tuple(f.strip() for f in a.calfield.split(",") if f.strip()),
                   user_name="", user_email=a.email, ticket=a.ticket, arc_contact="", cc=(),
                   message_id=None, received=_received(ctx),
                   origin=Origin(channel="explain", sender=""))


def _from_file(ctx: Context, path: Path) -> Request | None:
    """The request a mail or trigger file makes; None (and why) when it makes none."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    trigger = fnmatch.fnmatch(path.name, ctx.config.inbox.triggers.pattern)
    incoming = Incoming("explain", path.name, raw, _received(ctx),
                        Channel.TRIGGER if trigger else Channel.MAIL)
    parsed = parse(incoming, ctx.config)
    if isinstance(parsed, Request):
        return parsed
    if isinstance(parsed, Malformed):
        print(f"{path}: a malformed request, answered with its problems; no archive check:")
        print("\n".join(f"  - {problem}" for problem in parsed.problems))
    else:
        print(f"{path}: not a request ({parsed.reason}); never answered")
    return None


def _live(ctx: Context, request: Request) -> int:
    config = ctx.config
    with open_archive(config, url=ctx.args.archive, queries_dir=ctx.args.queries) as archive:
        facts = archive.facts(request.mous)
        queries = {name: str(query.path) for name, query in archive.queries.items()}
        where = archive.url
    if not request.project:  # a bare MOUS: the project check is about the archive's own
        request = replace(request, project=next((r.project_code for r in facts.entitlement), ""))
    journal = _read_only_journal(ctx)
    try:
        active = Ledger(journal, None).active_requests()
    finally:
        if journal is not None:
            journal.close()
    day = decide.request_day(request.received, config.zone)
    decision = decide.explain(request, facts, active, day)
    lines = [*text.request_lines(request, day, config.mailbot.timezone), f"archive {where}", ""]
    lines += [*text.facts_lines(facts, queries), ""]
    lines += text.checks_lines(text.live_checks(decision, config.verdict_line),
                               decision.verdict, config.verdict_line)
    print("\n".join(lines))
    return 0


def _read_only_journal(ctx: Context) -> Journal | None:
    """The journal's active requests make a repeat a duplicate; none is created."""
    if not ctx.has_journal():
        return None
    try:
        return Journal(ctx.config.path(ctx.config.mailbot.journal), read_only=True)
    except MailbotError:
        return None  # a journal of a newer mailbot: judge without its requests


def _recorded(ctx: Context, request_id: int) -> int:
    config = ctx.config
    if not ctx.has_journal():
        raise MailbotError(f"no request {request_id}: no journal yet")
    with ctx.journal() as journal:
        request = journal.request(request_id)
        record = journal.request_record(request_id)
        basis = journal.judged_on(request_id)
    verdict = Verdict(VerdictCode(record.verdict), record.check, basis.detail)
    lines = [f"request {request_id}, received {record.received}, now {record.state}",
             *text.request_lines(request, basis.day, config.mailbot.timezone), ""]
    lines += [*text.facts_lines(basis.facts, {}, "archive facts, as recorded when judged"), ""]
    lines += text.checks_lines(text.recorded_checks(basis.passed, verdict, config.verdict_line),
                               verdict, config.verdict_line)
    print("\n".join(lines))
    return 0
