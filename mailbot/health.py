"""Health for monitoring that does not travel by mail: `mailbot status` and a Prometheus textfile.

The figures are read from the journal (the last run's word, stagings, requests,
what needs a person); `judge` turns them into a Nagios level by the `[health]`
thresholds, and `textfile` into node_exporter's textfile collector format.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path

from mailbot.clock import parse_stamp, stamp
from mailbot.config import Config
from mailbot.journal import Journal
from mailbot.states import JobState, MailState, MessageKind
from mailbot.thresholds import Health

log = logging.getLogger(__name__)

# Journal meta: the end of the last run that met no outage, and since when
# `mailbot attention` has not been empty.
LAST_OK = "last_ok"
ATTENTION_SINCE = "attention_since"

# The mails `mailbot attention` lists, by kind of what was kept.
_KEPT_KINDS = (MessageKind.SHUNTED, MessageKind.UNTRUSTED, MessageKind.KEPT, MessageKind.REUSED)


class Level(IntEnum):
    """Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Figures:
    """What monitoring looks at, as of `now`."""

    now: datetime
    last_run: datetime | None
    last_ok: datetime | None
    shadow: bool  # the last run was a shadow pass
    outages: tuple[str, ...]  # what stopped the last run
    running: tuple[datetime, ...]  # the start of each running staging
    waiting: int  # stagings waiting for a slot
    oldest_unanswered: datetime | None
    attention: int  # entries of `mailbot attention`, the last run's outages aside
    attention_since: datetime | None


def attention_count(journal: Journal) -> int:
    """How many entries `mailbot attention` lists (besides the last run's outages)."""
    deferred = [o for o in journal.outbox(MailState.QUEUED) if o.error]
    return (sum(len(journal.messages_of(kind)) for kind in _KEPT_KINDS)
            + len(journal.failed_jobs())
            + sum(1 for j in journal.jobs(JobState.RUNNING) if not j.pid)
            + len(journal.outbox(MailState.FAILED, MailState.HELD))
            + len(journal.partly_refused()) + len(deferred))


def gather(journal: Journal, now: datetime) -> Figures:
    """The figures of the journal as they stand."""
    last = json.loads(journal.get_meta("last_run") or "{}")
    running = journal.jobs(JobState.RUNNING)
    return Figures(
        now=now,
        last_run=_time(last.get("at")),
        last_ok=_time(journal.get_meta(LAST_OK)),
        shadow=bool(last.get("shadow")),
        outages=tuple(last.get("problems", ())),
        running=tuple(parse_stamp(j.started) for j in running if j.started),
        waiting=len(journal.jobs(JobState.WAITING)),
        oldest_unanswered=_time(journal.oldest_unanswered()),
        attention=attention_count(journal),
        attention_since=_time(journal.get_meta(ATTENTION_SINCE)),
    )


def _time(value: str | None) -> datetime | None:
    return parse_stamp(value) if value else None


def judge(f: Figures, limits: Health) -> tuple[Level, list[str]]:
    """The level and a reason for each threshold crossed."""
    found: list[tuple[Level, str]] = []
    interval = timedelta(minutes=limits.interval_minutes)
    quiet = f.now - f.last_ok if f.last_ok else None
    if quiet is None or quiet > interval * limits.critical_missed_runs:
        found.append((Level.CRITICAL, "no successful run " + _since(f.last_ok, f.now)))
    elif quiet > interval * limits.warning_missed_runs:
        found.append((Level.WARNING, "no successful run " + _since(f.last_ok, f.now)))
    too_long = [s for s in f.running if f.now - s > timedelta(hours=limits.staging_hours)]
    if too_long:
        found.append((Level.CRITICAL, f"{len(too_long)} staging(s) running longer than "
                      f"{limits.staging_hours:g} h"))
    if f.attention and f.attention_since and (
            f.now - f.attention_since > timedelta(hours=limits.attention_hours)):
        found.append((Level.WARNING, f"`mailbot attention` not empty "
                      f"{_since(f.attention_since, f.now)}"))
    return max((level for level, _ in found), default=Level.OK), [why for _, why in found]


def _since(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "ever"
    return f"for {(now - when).total_seconds() / 3600:.1f} h (since {stamp(when)})"


def textfile(f: Figures, level: Level) -> str:
    """The figures in the Prometheus text exposition format (node_exporter textfile)."""
    def ts(value: datetime | None) -> float:
        return value.timestamp() if value else 0.0

    oldest = f.now - f.oldest_unanswered if f.oldest_unanswered else timedelta(0)
    longest = max((f.now - s for s in f.running), default=timedelta(0))
    metrics = [
        ("status", "Nagios level of `mailbot status`: 0 OK, 1 WARNING, 2 CRITICAL", int(level)),
        ("last_run_timestamp_seconds", "end of the last run (0: never)", ts(f.last_run)),
        ("last_success_timestamp_seconds", "end of the last run without outage (0: never)",
         ts(f.last_ok)),
        ("last_run_outages", "servers the last run found down", len(f.outages)),
        ("shadow_mode", "1 when the last run was a shadow pass", int(f.shadow)),
        ("stagings_running", "stagings running", len(f.running)),
        ("stagings_waiting", "stagings waiting for a slot", f.waiting),
        ("staging_longest_running_seconds", "age of the oldest running staging",
         longest.total_seconds()),
        ("oldest_unanswered_request_age_seconds", "age of the oldest request not answered yet "
         "(0: none)", oldest.total_seconds()),
        ("attention_items", "entries of `mailbot attention`", f.attention),
    ]
    lines: list[str] = []
    for name, doc, value in metrics:
        lines += [f"# HELP mailbot_{name} {doc}", f"# TYPE mailbot_{name} gauge",
                  f"mailbot_{name} {value}"]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """node_exporter must never read half a file: write beside it, then rename over it."""
    import tempfile  # only where the textfile is configured

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def after_run(config: Config, journal: Journal, now: datetime) -> None:
    """Note since when attention is not empty; write the textfile when configured."""
    figures = gather(journal, now)
    since = "" if figures.attention == 0 else stamp(figures.attention_since or now)
    if since != (journal.get_meta(ATTENTION_SINCE) or ""):
        with journal.transaction():
            journal.set_meta(ATTENTION_SINCE, since)
    if not config.health.textfile:
        return
    figures = gather(journal, now)
    path = config.path(config.health.textfile)
    try:
        write_atomically(path, textfile(figures, judge(figures, config.health)[0]))
    except OSError as exc:  # monitoring sees the file's age; the run itself went well
        log.warning("health textfile %s not written: %s", path, exc)
