"""`mailbot check`: what the bot would do with mails or trigger files; sends and records nothing."""

from __future__ import annotations

import fnmatch
import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from mailbot import grammar, reply
from mailbot.archive import Archive, open_archive
from mailbot.config import Config
from mailbot.decide import ActiveRequest, decide
from mailbot.errors import ConfigError
from mailbot.model import Malformed, NotARequest, OutgoingMail, Parsed, Request

EXIT_UNREADABLE = 2


def classify(config: Config, path: Path, raw: bytes, received: datetime) -> Parsed:
    if fnmatch.fnmatch(path.name, config.inbox.triggers.pattern):
        return grammar.parse_trigger(raw.decode("utf-8", errors="replace"), received=received,
                                     file_name=path.name, own_addresses=config.own_addresses)
    return grammar.parse_message(raw, received=received, own_addresses=config.own_addresses,
                                 loop_header=config.replies.loop_header)


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
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT mous, calfields, ticket FROM requests WHERE state = 'staging'")
        return [ActiveRequest(mous=m, calfields=tuple(f for f in c.split(",") if f), ticket=t)
                for m, c, t in rows]
    except sqlite3.Error:
        return []
    finally:
        db.close()


def check_files(config: Config, files: Sequence[str], *, as_json: bool,
                archive_url: str | None = None, queries_dir: str | None = None,
                today: str | None = None) -> int:
    received = datetime.now(UTC)
    if today:
        try:
            received = datetime.combine(date.fromisoformat(today), time(12), UTC)
        except ValueError:
            raise ConfigError(f"--today must be YYYY-MM-DD, not {today!r}") from None
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
                print(f"mailbot: cannot read {name}: {exc.strerror}", file=sys.stderr)
                status = EXIT_UNREADABLE
                continue
            parsed = classify(config, path, raw, received)
            verdict, mail = _outcome(config, parsed, archive, active, received)
            if as_json:
                print(json.dumps(_as_json(name, parsed, verdict), ensure_ascii=False))
            else:
                _print_text(name, parsed, verdict, mail)
    finally:
        if archive is not None:
            archive.close()
    return status


def _outcome(config: Config, parsed: Parsed, archive: Archive | None,
             active: list[ActiveRequest], received: datetime
             ) -> tuple[str | None, OutgoingMail | None]:
    stamp = datetime.now(UTC)
    if isinstance(parsed, Malformed):
        return config.verdict_line("MALFORMED"), reply.render_malformed(
            config, parsed, key="check", queued_at=stamp)
    if isinstance(parsed, NotARequest) or archive is None:
        return None, None
    verdict = decide(parsed, archive.facts(parsed.mous), active, received.date())
    if verdict.stages:
        return "STAGE", None
    mail = reply.render_verdict(config, parsed, verdict, key="check", queued_at=stamp)
    return config.verdict_line(verdict.code.value), mail


def _as_json(name: str, parsed: Parsed, verdict: str | None) -> dict[str, Any]:
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
        "verdict": verdict if not isinstance(parsed, NotARequest) else None,
    }


def _print_text(name: str, parsed: Parsed, verdict: str | None,
                mail: OutgoingMail | None) -> None:
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
    if verdict is None:
        print("verdict: (no archive configured)")
        return
    print(f"verdict: {verdict}")
    if mail is not None:
        print("reply it would send:")
        text = mail.data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        print("  " + text.rstrip("\n").replace("\n", "\n  "))
