"""One `mailbot run`: take new mail, decide, stage, deliver (design guide, "The job")."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from mailbot import decide as decisions
from mailbot import grammar, reply, scheduler, stage, textmail
from mailbot.archive import Archive, open_archive
from mailbot.config import Config
from mailbot.errors import (
    AlreadyRunning,
    ConfigError,
    ImapError,
    MailbotError,
    OutageError,
    TriggerDirError,
)
from mailbot.inbox import ImapSource, Incoming, MaildirSource, Source, TriggerSource
from mailbot.journal import Journal, now, parse_ts
from mailbot.model import Malformed, NotARequest, Request, VerdictCode
from mailbot.outbox import copy_for_review, flush, held_kind

log = logging.getLogger(__name__)

# How far apart the mail and the trigger file of one request may arrive (AOG's
# trigger cron ran hourly).
TWIN_WINDOW = timedelta(days=2)


@dataclass
class RunReport:
    kinds: Counter[str] = field(default_factory=Counter)  # request, malformed, ignored, shunted
    verdicts: Counter[str] = field(default_factory=Counter)
    started: int = 0
    finished: int = 0
    sent: int = 0
    held: int = 0
    active_jobs: int = 0
    outages: list[OutageError] = field(default_factory=list)

    def summary(self) -> str:
        unread = any(isinstance(o, ImapError | TriggerDirError) for o in self.outages)
        parts = [f"{n} {k}" for k, n in sorted(self.kinds.items())] or [
            "mail not read" if unread else "no new mail"]
        parts.append(f"{self.started} staging(s) started, {self.finished} finished,"
                     f" {self.active_jobs} active")
        parts.append(f"{self.sent} mail(s) sent" + (f", {self.held} held" if self.held else ""))
        parts += [str(outage) for outage in self.outages]
        return "; ".join(parts)


@contextmanager
def single_instance(path: Path) -> Iterator[None]:
    """An overlapping cron run finds the lock taken and leaves quietly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another mailbot run holds {path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def cutover(config: Config, journal: Journal) -> datetime:
    """Mail older than this is never answered: configured, or the first run's start."""
    if config.cutover is not None:
        return config.cutover
    stored = journal.get_meta("cutover")
    if stored is None:
        stored = now().isoformat(timespec="seconds")
        with journal.transaction():
            journal.set_meta("cutover", stored)
        log.info("first run: mail received before %s is left alone", stored)
    return parse_ts(stored)


def source_openers(config: Config, journal: Journal) -> list[Callable[[], Source]]:
    """One opener per configured source, so one source being down spares the others."""
    inbox = config.inbox

    def maildir() -> Source:
        return MaildirSource(config.path(inbox.maildir.path))

    def triggers() -> Source:
        return TriggerSource(config.path(inbox.triggers.path), inbox.triggers.pattern,
                             cutover=cutover(config, journal))

    def imap() -> Source:
        return ImapSource(inbox.imap, watermark=journal.watermark(inbox.imap.folder),
                          cutover=cutover(config, journal))

    openers = {"maildir": maildir, "triggers": triggers, "imap": imap}
    return [openers[name] for name in inbox.sources]


class Intake:
    """Turns each new mail into journal rows and queued mail, one transaction each."""

    def __init__(self, config: Config, journal: Journal,
                 archive_factory: Callable[[], Archive]) -> None:
        self.config = config
        self.journal = journal
        self.archive_factory = archive_factory
        self._archive: Archive | None = None
        self.report = RunReport()

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = self.archive_factory()
        return self._archive

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def take(self, source: Source) -> None:
        for row in self.journal.unmarked(source.name):
            # Recorded by an earlier run that died before touching the mailbox.
            if source.name != "triggers":
                source.mark_processed(row["source_key"])
                with self.journal.transaction():
                    self.journal.mark_message(row["id"])
        for incoming in source.fetch_new(lambda s, k: self.journal.seen(s, k) is not None):
            if incoming.skip:
                with self.journal.transaction():
                    self._advance(incoming)
                continue
            message = self.handle(incoming)
            if message is not None and not incoming.is_trigger:
                source.mark_processed(incoming.key)
                with self.journal.transaction():
                    self.journal.mark_message(message)

    def _advance(self, incoming: Incoming) -> None:
        if incoming.uidvalidity is not None and incoming.uid is not None:
            folder = incoming.source.partition(":")[2]
            self.journal.set_watermark(folder, incoming.uidvalidity, incoming.uid)

    def handle(self, incoming: Incoming) -> int | None:
        """Record one mail's outcome; returns the message row to mark, None to leave alone."""
        try:
            parsed = self._parse(incoming)
            if isinstance(parsed, NotARequest):
                self._record_ignored(incoming, parsed.reason)
                return None
            if not self.config.arc_contact(parsed.origin.sender):
                self._record_untrusted(incoming, parsed.origin.sender)
                return None
            if isinstance(parsed, Malformed):
                return self._record_malformed(incoming, parsed)
            return self._record_request(incoming, parsed)
        except (OutageError, ConfigError):
            raise  # not this mail's fault: it stays unrecorded for the next run
        except Exception as exc:  # a bug must not stop the other mails: shunt this one
            log.exception("mail %s %s shunted", incoming.source, incoming.key)
            reason = "".join(traceback.format_exception_only(exc)).strip()
            with self.journal.transaction():
                self.journal.record_message(
                    source=incoming.source, source_key=incoming.key, kind="shunted",
                    received=incoming.received, reason=reason, raw=incoming.raw,
                )
                self._advance(incoming)
            self.report.kinds["shunted"] += 1
            return None

    def _parse(self, incoming: Incoming) -> grammar.Parsed:
        own = self.config.own_addresses
        if incoming.is_trigger:
            text = textmail.decode_text_bytes(incoming.raw)
            return grammar.parse_trigger(text, received=incoming.received,
                                         file_name=incoming.key, own_addresses=own)
        return grammar.parse_message(incoming.raw, received=incoming.received,
                                     own_addresses=own,
                                     loop_header=self.config.replies.loop_header,
                                     own_id_domains=frozenset({self.config.message_id_domain}))

    def _record_ignored(self, incoming: Incoming, reason: str) -> None:
        with self.journal.transaction():
            self.journal.record_message(source=incoming.source, source_key=incoming.key,
                                        kind="ignored", received=incoming.received,
                                        reason=reason)
            self._advance(incoming)
        self.report.kinds["ignored"] += 1
        log.info("ignored %s %s: %s", incoming.source, incoming.key, reason)

    def _record_untrusted(self, incoming: Incoming, sender: str) -> None:
        """A request from outside the ARC: never served, never answered, kept for AOG."""
        with self.journal.transaction():
            self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind="untrusted",
                received=incoming.received, sender=sender, raw=incoming.raw,
                reason=f"{sender} is not an ARC contact (addresses.arc_contacts)")
            self._advance(incoming)
        self.report.kinds["untrusted"] += 1
        log.warning("request from %s, who is not an ARC contact: left for AOG", sender)

    def _record_malformed(self, incoming: Incoming, parsed: Malformed) -> int:
        origin = parsed.origin
        key = f"{self.journal.instance}:{incoming.source}:{incoming.key}"
        mail = reply.render_malformed(self.config, parsed, key=key, queued_at=now())
        # A loop breaker: an echoing responder would otherwise be answered for ever.
        recent = self.journal.malformed_from(origin.sender, since=now() - timedelta(days=1))
        flood = recent >= self.config.replies.malformed_per_day
        if flood:
            log.warning("%d malformed mails from %s in 24 h: holding the reply for AOG",
                        recent + 1, origin.sender)
        if not mail.rcpt_to:  # e.g. a trigger file without a usable ARC contact
            log.warning("malformed request %s has nobody to answer: holding the reply",
                        incoming.key)
            flood = True
        with self.journal.transaction():
            message = self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind="malformed",
                received=incoming.received, message_id=origin.message_id,
                reason="; ".join(parsed.problems), subject=origin.subject, sender=origin.sender,
            )
            self.journal.enqueue(mail, request=None, job=None, message=message,
                                 held=flood or held_kind(self.config, mail.kind))
            self._advance(incoming)
        self.report.kinds["malformed"] += 1
        log.info("malformed request %s: %s", origin.subject, "; ".join(parsed.problems))
        return message

    def _record_request(self, incoming: Incoming, request: Request) -> int:
        twin = self.journal.twin_of(request, TWIN_WINDOW)
        if twin is not None:
            return self._record_twin(incoming, request, twin)
        facts = self.archive.facts(request.mous)
        active = [
            decisions.ActiveRequest(mous=r["mous"], ticket=r["ticket"],
                                    calfields=tuple(f for f in r["calfields"].split(",") if f))
            for r in self.journal.active_requests()
        ]
        verdict = decisions.decide(request, facts, active, request.received.date())
        origin = request.origin
        with self.journal.transaction():
            message = self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind="request",
                received=incoming.received, message_id=origin.message_id,
                subject=origin.subject, sender=origin.sender,
            )
            state = "staging" if verdict.stages else "answered"
            request_id = self.journal.record_request(message, request, verdict, state)
            if verdict.stages:
                command = stage.command_line(stage.stagecalms_argv(self.config, request))
                self.journal.add_job(request_id, command)
            else:
                mail = reply.render_verdict(self.config, request, verdict,
                                            key=f"{self.journal.instance}:request:{request_id}",
                                            queued_at=now())
                self.journal.enqueue(mail, request=request_id, job=None, message=message,
                                     held=held_kind(self.config, mail.kind))
            self._advance(incoming)
        self.report.kinds["request"] += 1
        self.report.verdicts[verdict.code.value] += 1
        log.info("request %d %s ticket %s: %s (%s)", request_id, request.mous, request.ticket,
                 verdict.code.value, verdict.check)
        return message


    def _record_twin(self, incoming: Incoming, request: Request, twin: int) -> int:
        """A second arrival of a request (its mail or its trigger file): nothing to answer."""
        origin = request.origin
        with self.journal.transaction():
            message = self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind="twin",
                received=incoming.received, message_id=origin.message_id,
                reason=f"same request as request {twin}", subject=origin.subject,
                sender=origin.sender, request=twin,
            )
            self._advance(incoming)
        self.report.kinds["twin"] += 1
        log.info("%s %s is request %d again (other channel)", incoming.source, incoming.key,
                 twin)
        return message


class _StillBroken(Exception):
    """The shunted mail fails again: undo the attempt."""


def reprocess(config: Config, message_id: int, *,
              archive_factory: Callable[[], Archive] | None = None) -> str:
    """Handle a shunted mail again from its stored bytes, after the fault was fixed.

    One transaction: the shunted record is replaced by the new outcome, or stays
    when the archive is down; the next run flags the mail in its mailbox.
    """
    with single_instance(config.path(config.mailbot.lock_file)):
        journal = Journal(config.path(config.mailbot.journal))
        intake = Intake(config, journal, archive_factory or (lambda: open_archive(config)))
        try:
            row = journal.message(message_id)
            if row["kind"] not in ("shunted", "untrusted"):
                raise MailbotError(f"mail {message_id} is {row['kind']}, not shunted or "
                                   "untrusted")
            incoming = Incoming(row["source"], row["source_key"], bytes(row["raw"]),
                                parse_ts(row["received"]),
                                is_trigger=row["source"] == "triggers")
            try:
                with journal.transaction():
                    journal.forget_message(message_id)
                    intake.handle(incoming)
                    outcome = journal.seen(incoming.source, incoming.key)
                    assert outcome is not None
                    if outcome["kind"] == row["kind"]:
                        raise _StillBroken(outcome["reason"])
            except _StillBroken as exc:
                # Keep the original record (AOG knows it by its id), with the new reason.
                with journal.transaction():
                    journal.set_reason(message_id, str(exc))
                return str(row["kind"])
            return str(outcome["kind"])
        finally:
            intake.close()
            journal.close()


def remove_finished_triggers(config: Config, journal: Journal) -> int:
    """A trigger file stays while its request is active (spec section 1)."""
    if "triggers" not in config.inbox.sources:
        return 0
    finished = journal.finished_triggers()
    if not finished:
        return 0
    t = config.inbox.triggers
    source = TriggerSource(config.path(t.path), t.pattern)
    removed = 0
    for message_id, file_name in finished:
        source.remove(file_name)
        with journal.transaction():
            journal.mark_message(message_id)
        removed += 1
    return removed


def run_once(config: Config, *,
             archive_factory: Callable[[], Archive] | None = None,
             transport_factory: Callable[[], stage.Transport] | None = None) -> RunReport:
    """Everything one cron run does; outages are collected, the other steps still run."""
    with single_instance(config.path(config.mailbot.lock_file)):
        journal = Journal(config.path(config.mailbot.journal))
        try:
            return _run(config, journal,
                        archive_factory or (lambda: open_archive(config)),
                        transport_factory or (lambda: stage.open_transport(config)))
        finally:
            journal.close()


def _run(config: Config, journal: Journal, archive_factory: Callable[[], Archive],
         transport_factory: Callable[[], stage.Transport]) -> RunReport:
    intake = Intake(config, journal, archive_factory)
    report = intake.report
    try:
        for source in _each_source(config, journal, report):
            try:
                intake.take(source)
            except OutageError as exc:
                report.outages.append(exc)
            finally:
                source.close()
    finally:
        intake.close()
    refused: MailbotError | None = None
    if scheduler.has_work(journal):
        try:
            transport = transport_factory()
            try:
                step = scheduler.step(config, journal, transport)
            finally:
                transport.close()
            report.started, report.active_jobs = len(step.started), step.running + step.waiting
            report.finished = len(step.succeeded) + len(step.failed)
        except OutageError as exc:
            report.outages.append(exc)
        except MailbotError as exc:
            # E.g. a host key that does not match: reported after this run's mail left.
            refused = exc
    try:
        sent = flush(config, journal)
        report.sent, report.held = len(sent.sent), sent.held
    except OutageError as exc:
        report.outages.append(exc)
    # Mail sent before an SMTP outage still gets its review copy and trigger cleanup;
    # an IMAP server found down while reading is not waited for a second time.
    imap_down = any(isinstance(o, ImapError) for o in report.outages)
    for after_flush in (remove_finished_triggers,) if imap_down else (
            copy_for_review, remove_finished_triggers):
        try:
            after_flush(config, journal)
        except OutageError as exc:
            report.outages.append(exc)
    _remember(journal, report, refused)
    if refused is not None:
        log.info("%s", report.summary())
        raise refused
    return report


def _remember(journal: Journal, report: RunReport, refused: MailbotError | None) -> None:
    """What stopped this run, for `mailbot attention` (the last run's word only)."""
    problems = [str(o) for o in report.outages] + ([str(refused)] if refused else [])
    with journal.transaction():
        journal.set_meta("last_run", json.dumps({"at": now().isoformat(timespec="seconds"),
                                                 "problems": problems}))


def _each_source(config: Config, journal: Journal, report: RunReport) -> Iterator[Source]:
    for opener in source_openers(config, journal):
        try:
            source = opener()
        except OutageError as exc:
            report.outages.append(exc)
            continue
        yield source


__all__ = ["RunReport", "VerdictCode", "run_once"]
