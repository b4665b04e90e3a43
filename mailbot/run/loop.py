"""One `mailbot run`: its steps in order, each one's outage collected, the others still run.

Cron starts a run every few minutes and most find nothing to do: each step imports
what does its work (the planning of mail, the scheduler's stagings, SMTP, the review
copies) only once the journal or the mailbox shows there is some.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot import faults, health, shadow, stage
from mailbot.clock import SYSTEM, Clock, parse_stamp, stamp
from mailbot.errors import AlreadyRunning, ImapError, MailbotError, OutageError
from mailbot.journal import LIVE_SINCE, Journal
from mailbot.run.intake import Intake, Recorded
from mailbot.run.summary import RunReport
from mailbot.states import MailState

if TYPE_CHECKING:  # imported by the step that uses them (the IMAP client: `_link`)
    from mailbot.archive import Archive
    from mailbot.config import Config
    from mailbot.inbox import ImapLink, Source

log = logging.getLogger(__name__)


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


def cutover(config: Config, journal: Journal, clock: Clock) -> datetime:
    """Mail older than this is never answered: configured, or the first run's start;
    and never mail older than the end of a shadow period (AOG answered it by hand)."""
    first, live_since = _first_cutover(config, journal, clock), journal.get_meta(LIVE_SINCE)
    return first if live_since is None else max(first, parse_stamp(live_since))


def _first_cutover(config: Config, journal: Journal, clock: Clock) -> datetime:
    if config.cutover is not None:
        return config.cutover
    stored = journal.get_meta("cutover")
    if stored is None:
        stored = stamp(clock.now())
        with journal.transaction():
            journal.set_meta("cutover", stored)
        log.info("first run: mail received before %s is left alone", stored)
    return parse_stamp(stored)


@dataclass(frozen=True)
class Held:
    """Requests recorded and not yet marked in their (still open) source."""

    source: Source
    intake: Intake
    recorded: Recorded


@dataclass
class Pass:
    """One run's parts and what it has done so far."""

    config: Config
    journal: Journal
    archive: Callable[[], Archive]
    transport: Callable[[], stage.Transport]
    clock: Clock
    report: RunReport = field(default_factory=RunReport)
    refused: MailbotError | None = None  # e.g. a host key that does not match
    shadow: bool = False  # decide and record everything, touch and send nothing
    imap: ImapLink | None = None  # the run's IMAP connection (kept by `mailbot watch`)
    held: list[Held] = field(default_factory=list)  # marked by `mark_taken`


def _open_source(p: Pass, name: str) -> Source:
    inbox = p.config.inbox
    if name == "maildir":
        from mailbot.inbox import MaildirSource

        return MaildirSource(p.config.path(inbox.maildir.path),
                             cutover=cutover(p.config, p.journal, p.clock))
    if name == "triggers":
        from mailbot.inbox import TriggerSource

        return TriggerSource(p.config.path(inbox.triggers.path), inbox.triggers.pattern,
                             cutover=cutover(p.config, p.journal, p.clock))
    from mailbot.inbox import ImapSource

    return ImapSource(inbox.imap, watermark=p.journal.watermark(inbox.imap.folder),
                      cutover=cutover(p.config, p.journal, p.clock), link=p.imap)


def _source(p: Pass, name: str) -> Source:
    """The seam of shadow mode's "would mark": its sources leave every mail as it is."""
    source = _open_source(p, name)
    return shadow.ShadowSource(source) if p.shadow else source


def take_mail(p: Pass) -> None:
    """Each configured source in turn: one being down spares the others. Each source's
    last batch is marked after the mail is sent (`mark_taken`)."""
    intake = Intake(p.config, p.journal, p.archive, p.clock, p.report)
    try:
        for name in p.config.inbox.sources:
            try:
                source = _source(p, name)
            except OutageError as exc:
                p.report.outages.append(exc)
                continue
            held: Recorded = []
            try:
                held = intake.take(source, hold_last=True)
            except OutageError as exc:
                p.report.outages.append(exc)
            finally:
                if held:
                    p.held.append(Held(source, intake, held))
                else:
                    source.close()
    finally:
        intake.close()


def mark_taken(p: Pass) -> None:
    """Mark the requests `take_mail` held back, now that their replies have left."""
    while p.held:
        held = p.held.pop(0)
        try:
            held.intake.mark(held.source, held.recorded)
        except OutageError as exc:
            p.report.outages.append(exc)  # the next run's intake marks them
        finally:
            held.source.close()


def run_stagings(p: Pass) -> None:
    """Poll the running stagings, start waiting ones, queue the mails of finished ones (with
    none waiting or running, the scheduler is not even imported)."""
    if not p.journal.has_active_jobs():
        return
    from mailbot import scheduler

    try:
        transport = p.transport()
        try:
            done = scheduler.step(p.config, p.journal, transport)
        finally:
            transport.close()
    except OutageError:
        raise
    except MailbotError as exc:
        p.refused = exc  # reported after this run's mail has left
        return
    p.report.started, p.report.active_jobs = len(done.started), done.running + done.waiting
    p.report.finished = len(done.succeeded) + len(done.failed)


def send_mail(p: Pass) -> None:
    """Flush the outbox. With no mail queued, nor any a run that died was sending, a flush
    would only count the held mail: counted here, without loading SMTP and the outbox."""
    if not p.journal.outbox_count(MailState.QUEUED, MailState.SENDING):
        p.report.held = p.journal.outbox_count(MailState.HELD)
        return
    from mailbot.outbox import flush

    sent = flush(p.config, p.journal)
    p.report.sent, p.report.held = len(sent.sent), sent.held


def copy_sent_mail(p: Pass) -> None:
    """A review copy of each sent mail, for AOG; an IMAP server found down is not waited for
    a second time (mail sent before an SMTP outage still gets its copy)."""
    if any(isinstance(o, ImapError) for o in p.report.outages) or not p.journal.any_uncopied():
        return
    from mailbot.review import copy_for_review

    copy_for_review(p.config, p.journal, p.imap)


def remove_finished_triggers(p: Pass) -> None:
    """A trigger file stays while its request is active (spec section 1)."""
    if "triggers" not in p.config.inbox.sources:
        return
    finished = p.journal.finished_triggers()
    if not finished:
        return
    from mailbot.inbox import TriggerSource

    t = p.config.inbox.triggers
    source = TriggerSource(p.config.path(t.path), t.pattern)
    for message_id, file_name in finished:
        source.remove(file_name)
        faults.reached(faults.Point.TRIGGER_REMOVED)
        with p.journal.transaction():
            p.journal.mark_message(message_id)


# The run, in order (design guide, "The job in one picture").
STEPS: tuple[Callable[[Pass], None], ...] = (
    take_mail,
    run_stagings,
    send_mail,
    mark_taken,
    copy_sent_mail,
    remove_finished_triggers,
)

# A shadow pass (`mailbot.mode = "shadow"`, `mailbot run --dry-run`): the same intake,
# then what it queued is shelved instead of launched, sent, copied or removed.
SHADOW_STEPS: tuple[Callable[[Pass], None], ...] = (
    take_mail,
    lambda p: shadow.shelve(p.journal),
    mark_taken,  # in the journal only: a shadow source leaves the mailbox alone
)


def run_once(config: Config, *, archive_factory: Callable[[], Archive] | None = None,
             transport_factory: Callable[[], stage.Transport] | None = None,
             clock: Clock = SYSTEM, dry_run: bool = False,
             imap: ImapLink | None = None) -> RunReport:
    """Everything one cron run does; outages are collected, the other steps still run.

    `dry_run`: this one pass is a shadow pass, whatever `mailbot.mode` says.
    `imap`, `transport_factory`: connections `mailbot watch` keeps from pass to pass
    (the pass closes what the factory gives; a kept transport ignores that).
    """
    with single_instance(config.path(config.mailbot.lock_file)):
        journal = Journal(config.path(config.mailbot.journal), clock)
        # One login a run, shared by the intake and the review copies (made on first use).
        link = imap or _link(config)
        try:
            p = Pass(config, journal, archive_factory or (lambda: _open_archive(config)),
                     transport_factory or (lambda: stage.open_transport(config)), clock,
                     shadow=dry_run or config.mailbot.mode == "shadow", imap=link)
            return _run(p)
        finally:
            journal.close()
            if imap is None and link is not None:
                link.drop()


def _open_archive(config: Config) -> Archive:
    """The archive, opened by the first mail that needs its facts."""
    from mailbot.archive import open_archive

    return open_archive(config)


def _link(config: Config) -> ImapLink | None:
    """The run's IMAP connection, if it reads or copies to the aog@ mailbox at all."""
    if "imap" not in config.inbox.sources and config.outbox.review.copy_to != "imap":
        return None
    from mailbot.inbox import ImapLink

    return ImapLink(config.inbox.imap)


def _run(p: Pass) -> RunReport:
    if p.shadow:
        shadow.begin(p.journal)
    else:
        shadow.go_live(p.journal)
    try:
        for step in SHADOW_STEPS if p.shadow else STEPS:
            try:
                step(p)
            except OutageError as exc:
                p.report.outages.append(exc)
    finally:
        for held in p.held:  # a step failed unexpectedly: the next run marks them
            held.source.close()
    _remember(p)
    if p.refused is not None:
        log.info("%s", p.report.summary())
        raise p.refused
    return p.report


def _remember(p: Pass) -> None:
    """What stopped this run, for `mailbot attention` (the last run's word only)."""
    problems = [str(o) for o in p.report.outages] + ([str(p.refused)] if p.refused else [])
    now = stamp(p.clock.now())
    with p.journal.transaction():
        p.journal.set_meta("last_run", json.dumps({"at": now, "problems": problems,
                                                   "shadow": p.shadow}))
        if not problems:
            p.journal.set_meta(health.LAST_OK, now)
    health.after_run(p.config, p.journal, p.clock.now())
