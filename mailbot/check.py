"""`mailbot check`: what the bot would do with mails or trigger files; sends and records nothing.

For each file: the classification (request, malformed, ignored), and, when an
archive is configured, the verdict and the reply the bot would send. The
journal is only read (for the requests already staging, which make a repeat a
duplicate) and never created; the outbox is not touched.

`--json` prints one object per file with the keys of `JSON_KEYS`. Its `verdict`
is the verdict line of a request (`STAGE` when it would be staged), the
MALFORMED verdict line of a malformed request (its reply needs no archive),
and null for ignored mail and for a request when no archive is configured.
"""

from __future__ import annotations

import fnmatch
import json
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from mailbot import reply, stage
from mailbot.archive import Archive, open_archive
from mailbot.config import Config
from mailbot.decide import ActiveRequest, decide
from mailbot.errors import ConfigError
from mailbot.grammar import parse_message, parse_trigger
from mailbot.journal import ACTIVE_REQUEST_STATES
from mailbot.model import Malformed, NotARequest, OutgoingMail, Parsed, Request

EXIT_UNREADABLE = 2
STAGE = "STAGE"
JSON_KEYS = ("file", "kind", "request", "problems", "reason", "verdict")
# Headers of the would-be reply worth reading; the rest (Message-ID, loop guards) is plumbing.
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject")


@dataclass(frozen=True)
class Outcome:
    """What the bot would do with one parsed file."""

    verdict: str | None  # verdict line, STAGE, or None (ignored / no archive)
    why: str | None = None  # the check that refused, or the role that entitles
    mail: OutgoingMail | None = None  # the reply it would send
    command: str | None = None  # the staging command line it would run


def classify(config: Config, path: Path, raw: bytes, received: datetime) -> Parsed:
    """The grammar's reading of one file: a trigger file by its name, else a mail."""
    if fnmatch.fnmatch(path.name, config.inbox.triggers.pattern):
        return parse_trigger(raw.decode("utf-8", errors="replace"), received=received,
                             file_name=path.name, own_addresses=config.own_addresses)
    return parse_message(raw, received=received, own_addresses=config.own_addresses,
                         loop_header=config.replies.loop_header,
                         own_id_domains=frozenset({config.message_id_domain}))


def _archive_configured(config: Config, url: str | None) -> bool:
    """The embedded archive counts only once it exists (`mailbot demo` / `archive init`)."""
    if url or config.source:
        return True
    target = config.expand(config.archive.url)
    return not target.startswith("sqlite:///") or Path(target[len("sqlite:///"):]).exists()


def _active(config: Config) -> list[ActiveRequest]:
    """Active requests from the journal, read-only; none when there is no journal yet."""
    path = config.path(config.mailbot.journal)
    if not path.exists():
        return []  # and none is created: check records nothing
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(ACTIVE_REQUEST_STATES))
        rows = db.execute(f"SELECT mous, calfields, ticket FROM requests WHERE state IN ({marks})",
                          ACTIVE_REQUEST_STATES)
        return [ActiveRequest(mous=m, calfields=tuple(f for f in c.split(",") if f), ticket=t)
                for m, c, t in rows]
    except sqlite3.Error:
        return []  # a journal of an older or foreign schema: judge without it
    finally:
        db.close()


def _received(today: str | None) -> datetime:
    if not today:
        return datetime.now(UTC)
    try:
        return datetime.combine(date.fromisoformat(today), time(12), UTC)
    except ValueError:
        raise ConfigError(f"--today must be YYYY-MM-DD, not {today!r}") from None


def check_files(config: Config, files: Sequence[str], *, as_json: bool,
                archive_url: str | None = None, queries_dir: str | None = None,
                today: str | None = None) -> int:
    """Report on each file; 0 when all were read, EXIT_UNREADABLE when one was not."""
    received = _received(today)
    archive: Archive | None = None
    if _archive_configured(config, archive_url):
        archive = open_archive(config, url=archive_url, queries_dir=queries_dir)
    active = _active(config)
    status = 0
    try:
        for name in files:
            path = Path(name)
            try:
                raw = path.read_bytes()
            except OSError as exc:
                print(f"mailbot: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
                status = EXIT_UNREADABLE
                continue
            parsed = classify(config, path, raw, received)
            outcome = _outcome(config, parsed, archive, active, received)
            if as_json:
                print(json.dumps(as_json_record(name, parsed, outcome), ensure_ascii=False))
            else:
                _print_text(name, parsed, outcome)
            sys.stdout.flush()  # each file's report is out before a later one can fail
    finally:
        if archive is not None:
            archive.close()
    return status


def _outcome(config: Config, parsed: Parsed, archive: Archive | None,
             active: list[ActiveRequest], received: datetime) -> Outcome:
    stamp = datetime.now(UTC)
    if isinstance(parsed, Malformed):
        mail = reply.render_malformed(config, parsed, key="check", queued_at=stamp)
        return Outcome(config.verdict_line("MALFORMED"), mail=mail)
    if isinstance(parsed, NotARequest) or archive is None:
        return Outcome(None)
    verdict = decide(parsed, archive.facts(parsed.mous), active, received.date())
    if verdict.stages:
        command = stage.command_line(stage.stagecalms_argv(config, parsed))
        return Outcome(STAGE, why=f"entitled: {verdict.detail.get('role') or '?'}",
                       command=command)
    mail = reply.render_verdict(config, parsed, verdict, key="check", queued_at=stamp)
    return Outcome(config.verdict_line(verdict.code.value), why=f"check: {verdict.check}",
                   mail=mail)


def as_json_record(name: str, parsed: Parsed, outcome: Outcome) -> dict[str, Any]:
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
        "reason": parsed.reason if isinstance(parsed, NotARequest) else None,
        "verdict": outcome.verdict,
    }


# --- text output ----------------------------------------------------------------------------


def _print_text(name: str, parsed: Parsed, outcome: Outcome) -> None:
    print(f"== {name}")
    if isinstance(parsed, NotARequest):
        print(f"ignored: {parsed.reason}")
        return
    if isinstance(parsed, Malformed):
        print("malformed request:")
        for problem in parsed.problems:
            print(f"  - {problem}")
    else:
        calfields = ",".join(parsed.calfields) or "-"
        print(f"request: MOUS {parsed.mous} project {parsed.project} ticket {parsed.ticket}")
        print(f"  user {parsed.user_name} <{parsed.user_email}>, calfield {calfields}")
    if outcome.verdict is None:
        print("verdict: (no archive configured)")
        return
    why = f" ({outcome.why})" if outcome.why else ""
    print(f"verdict: {outcome.verdict}{why}")
    if outcome.command is not None:
        print(f"staging it would start:\n  {outcome.command}")
    if outcome.mail is not None:
        print("reply it would send:")
        print(_indent(readable(outcome.mail)))


def readable(mail: OutgoingMail) -> str:
    """The mail as a person reads it: key headers, Bcc from the envelope, decoded body."""
    msg = BytesParser(policy=policy.default).parsebytes(mail.data)
    assert isinstance(msg, EmailMessage)  # policy.default builds EmailMessage objects
    lines = [f"{h}: {msg[h]}" for h in SHOWN_HEADERS if msg[h] is not None]
    # Bcc is not in the bytes (smtplib would leak it); it is what the envelope adds.
    visible = {a.lower() for _, a in getaddresses([str(msg[h]) for h in ("To", "Cc") if msg[h]])}
    bcc = [a for a in mail.rcpt_to if a.lower() not in visible]
    if bcc:
        lines.append(f"Bcc: {', '.join(bcc)}")
    part = msg.get_body(("plain", "html"))
    body = str(part.get_content()).replace("\r\n", "\n") if part is not None else ""
    return "\n".join(lines) + "\n\n" + body.rstrip("\n")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.split("\n"))
