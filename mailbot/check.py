"""`mailbot check`: what the bot would do with mails or trigger files; sends and records nothing.

Each file goes through the same `plan()` as in a run (grammar, sender, malformed,
twin, archive checks), so the preview cannot drift from what a run does. The
journal is only read (requests already staging make a repeat a duplicate; an
earlier arrival makes a twin) and never created; the outbox is not touched.

`--json` prints one object per file with the keys of `JSON_KEYS`. Its `verdict`
is the verdict line of a request (`STAGE` when it would be staged), the
MALFORMED verdict line of a malformed request (its reply needs no archive),
and null when nothing would be answered (ignored, untrusted or kept mail, a twin)
or no archive is configured; `step` names the step of `mailbot.plan` that decided.
A file the bot fails on is one line on stderr (a run would shunt that mail); the
other files are still reported, and the exit status is then 2. Text from the
files is printed with controls escaped: they may be anyone's mail.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from mailbot import reply
from mailbot.archive import Archive, open_archive
from mailbot.clock import SYSTEM
from mailbot.config import Config
from mailbot.errors import MailbotError, UsageError
from mailbot.inbox import Channel, Incoming
from mailbot.journal import Journal
from mailbot.mailview import readable as decoded
from mailbot.model import Malformed, NotARequest, OutgoingMail, Parsed, Request
from mailbot.plan import (
    Answered,
    Disposition,
    Ignored,
    Kept,
    Planned,
    Rejected,
    Staged,
    Twin,
    Unjudged,
    Untrusted,
    plan,
)
from mailbot.run.planning import Ledger, parse, rules
from mailbot.text import one_line

EXIT_UNREADABLE = 2
STAGE = "STAGE"
JSON_KEYS = ("file", "kind", "request", "problems", "reason", "verdict", "step")
# Headers of the would-be reply worth reading; the rest (Message-ID, loop guards) is plumbing.
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject")


@dataclass(frozen=True)
class Outcome:
    """What the bot would do with one parsed file."""

    verdict: str | None  # verdict line, STAGE, or None (nothing answered / no archive)
    why: str | None = None  # the check that refused, the role that entitles, why held
    mail: OutgoingMail | None = None  # the reply it would send
    command: str | None = None  # the staging command line it would run


def _outcome(config: Config, d: Disposition) -> Outcome:
    """The disposition as `check` reports it (the verdict reply rendered as a run would)."""
    lines = config.reply_settings
    if isinstance(d, Rejected):
        held = f"held for AOG: {d.held}" if d.held else None
        return Outcome(lines.verdict_line("MALFORMED"), why=held, mail=d.mail)
    if isinstance(d, Staged):
        return Outcome(STAGE, why=f"entitled: {d.verdict.detail.get('role') or '?'}",
                       command=d.command)
    if isinstance(d, Answered):
        mail = _render_verdict(config, d)
        return Outcome(lines.verdict_line(d.verdict.code.value),
                       why=f"check: {d.verdict.check}", mail=mail)
    if isinstance(d, Twin):
        return Outcome(None, why=f"same request as request {d.of}: nothing to answer")
    return Outcome(None)


def _render_verdict(config: Config, d: Answered) -> OutgoingMail:
    return reply.render_verdict(config.reply_settings, config.templates, d.request, d.verdict,
                                key="check", queued_at=SYSTEM.now())


def _archive_configured(config: Config, url: str | None) -> bool:
    """The embedded archive counts only once it exists (`mailbot demo` / `archive init`)."""
    if url or config.source:
        return True
    target = config.expand(config.archive.url)
    return not target.startswith("sqlite:///") or Path(target[len("sqlite:///"):]).exists()


def _journal(config: Config) -> Journal | None:
    """The journal, read-only; none when there is none yet (and none is created)."""
    path = config.path(config.mailbot.journal)
    if not path.exists():
        return None
    try:
        return Journal(path, read_only=True)
    except MailbotError:
        return None  # a journal of an older or foreign schema: judge without it


def _received(today: str | None) -> datetime:
    if not today:
        return SYSTEM.now()
    try:
        return datetime.combine(date.fromisoformat(today), time(12), UTC)
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD, not {today!r}") from None


def check_files(config: Config, files: Sequence[str], *, as_json: bool,
                archive_url: str | None = None, queries_dir: str | None = None,
                today: str | None = None) -> int:
    """Report on each file; 0 when all were read, EXIT_UNREADABLE when one was not."""
    received = _received(today)
    archive: Archive | None = None
    if _archive_configured(config, archive_url):
        archive = open_archive(config, url=archive_url, queries_dir=queries_dir)
    journal = _journal(config)
    ledger = Ledger(journal, None if archive is None else lambda: archive)
    try:
        return _check_each(config, files, ledger, received, as_json=as_json)
    finally:
        ledger.close()
        if journal is not None:
            journal.close()


def _check_each(config: Config, files: Sequence[str], ledger: Ledger, received: datetime,
                *, as_json: bool) -> int:
    status = 0
    for name in files:
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"mailbot: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            status = EXIT_UNREADABLE
            continue
        try:
            _check_one(config, name, raw, ledger, received, as_json=as_json)
        except MailbotError:
            raise  # the archive is down, a setting is wrong: no file's fault
        except Exception as exc:  # a mail the bot fails on: a run would shunt it
            sys.stdout.flush()
            print(_printable(f"mailbot: {name}: the bot fails on this file (a run would shunt"
                             f" it): {one_line(str(exc) or type(exc).__name__, limit=300)}"),
                  file=sys.stderr)
            status = EXIT_UNREADABLE
        sys.stdout.flush()  # each file's report is out before a later one can fail
    return status


def _check_one(config: Config, name: str, raw: bytes, ledger: Ledger, received: datetime,
               *, as_json: bool) -> None:
    trigger = fnmatch.fnmatch(Path(name).name, config.inbox.triggers.pattern)
    incoming = Incoming("check", Path(name).name, raw, received,
                        Channel.TRIGGER if trigger else Channel.MAIL)
    parsed = parse(incoming, config)
    planned = plan(parsed, ledger, rules(config, key="check", clock=SYSTEM), SYSTEM.now())
    outcome = _outcome(config, planned.disposition)
    if as_json:
        record = as_json_record(name, parsed, planned, outcome)
        print(_printable(json.dumps(record, ensure_ascii=False), keep="\n"))
    else:
        _print_text(name, parsed, planned, outcome)


def as_json_record(name: str, parsed: Parsed, planned: Planned,
                   outcome: Outcome) -> dict[str, Any]:
    """The `--json` object of one file (keys: JSON_KEYS)."""
    kind = {Request: "request", Malformed: "malformed", NotARequest: "ignored"}[type(parsed)]
    request = None
    if isinstance(parsed, Request):
        request = {
            "mous": parsed.mous, "project": parsed.project, "calfields": list(parsed.calfields),
            "user_name": parsed.user_name, "user_email": parsed.user_email,
            "ticket": parsed.ticket,
        }
    return {
        "file": name,
        "kind": kind,
        "request": request,
        "problems": list(parsed.problems) if isinstance(parsed, Malformed) else [],
        "reason": _reason(planned.disposition),
        "verdict": outcome.verdict,
        "step": planned.step,
    }


def _reason(d: Disposition) -> str | None:
    """Why nothing would be answered: not a request, a sender who may not ask (or not
    now), a mail not read."""
    return d.reason if isinstance(d, Ignored | Untrusted | Kept) else None


# --- text output ----------------------------------------------------------------------------


def _printable(text: str, keep: str = "\n\t") -> str:
    """`text` with what a terminal would act on (escape sequences, other controls, lone
    surrogates) shown as escapes: the files checked may be anyone's mail."""
    return "".join(c if c.isprintable() or c in keep else c.encode(
        "unicode_escape", "backslashreplace").decode("ascii") for c in text)


def _say(text: str) -> None:
    print(_printable(text))


def _print_text(name: str, parsed: Parsed, planned: Planned, outcome: Outcome) -> None:
    _say(f"== {name}")
    d = planned.disposition
    if isinstance(d, Ignored):
        _say(f"ignored: {d.reason}")
        return
    if isinstance(parsed, Malformed):
        _say("malformed request:")
        for problem in parsed.problems:
            _say(f"  - {problem}")
    elif isinstance(parsed, Request):
        calfields = ",".join(parsed.calfields) or "-"
        _say(f"request: MOUS {parsed.mous} project {parsed.project} ticket {parsed.ticket}")
        _say(f"  user {parsed.user_name} <{parsed.user_email}>, calfield {calfields}")
    _print_outcome(d, outcome)


def _print_outcome(d: Disposition, outcome: Outcome) -> None:
    if isinstance(d, Untrusted):
        _say(f"untrusted: {d.reason}; kept for AOG, nothing answered")
        return
    if isinstance(d, Kept):
        notice = "; AOG gets a notice (once a day per sender)" if d.notify else ""
        _say(f"kept for AOG: {d.reason}; nothing answered{notice}")
        return
    if isinstance(d, Unjudged):
        _say("verdict: (no archive configured)")
        return
    why = f" ({outcome.why})" if outcome.why else ""
    _say(f"verdict: {outcome.verdict or 'none'}{why}")
    if outcome.command is not None:
        _say(f"staging it would start:\n  {outcome.command}")
    if outcome.mail is not None:
        _say("reply it would send:")
        _say(_indent(readable(outcome.mail)))


def readable(mail: OutgoingMail) -> str:
    """The mail as a person reads it: key headers, Bcc from the envelope, decoded body."""
    headers, body = decoded(mail.data)
    lines = [f"{n}: {v}" for wanted in SHOWN_HEADERS for n, v in headers if n == wanted]
    # Bcc is not in the bytes (smtplib would leak it); it is what the envelope adds.
    shown = getaddresses([v for n, v in headers if n.lower() in ("to", "cc")])
    visible = {a.lower() for _, a in shown}
    bcc = [a for a in mail.rcpt_to if a.lower() not in visible]
    if bcc:
        lines.append(f"Bcc: {', '.join(bcc)}")
    return "\n".join(lines) + "\n\n" + body.replace("\r\n", "\n").rstrip("\n")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.split("\n"))
