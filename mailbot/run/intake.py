"""Reading new mail: each item parsed, planned and recorded, and only then marked.

A mail already recorded under another key (a second copy, the same mail after
a UIDVALIDITY change) is recorded as a copy of the first and never served
again; another mail that reuses a recorded Message-ID is kept for AOG. A mail
that makes the bot fail unexpectedly is shunted (kept with its bytes and the
error, left untouched in its mailbox) and the other mails go on; an outage or
a settings error stops this source and leaves the mail for the next run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailbot import faults
from mailbot.errors import ConfigError, OutageError
from mailbot.inbox.base import FETCH_BATCH, BatchMarking, Skipped
from mailbot.run.planning import Ledger
from mailbot.run.summary import RunReport
from mailbot.states import MessageKind

if TYPE_CHECKING:  # planning and recording are imported with the first mail (`handle`)
    from mailbot.archive import Archive
    from mailbot.clock import Clock
    from mailbot.config import Config
    from mailbot.inbox import Incoming, Source
    from mailbot.journal import Journal, MessageRecord
    from mailbot.plan import Disposition
    from mailbot.run.record import Recorder

log = logging.getLogger(__name__)

# Recorded mails not yet marked in their mailbox: (message row, key in the source).
Recorded = list[tuple[int, str]]

# Recorded requests are flagged in batches of this many (IMAP: one STORE each), the
# batch of FETCH_BATCH mails read in one go.
MARK_BATCH = FETCH_BATCH


class Intake:
    """Turns each new mail into journal rows and queued mail, one transaction each."""

    def __init__(self, config: Config, journal: Journal, archive: Callable[[], Archive],
                 clock: Clock, report: RunReport | None = None) -> None:
        self.journal, self.config, self.clock = journal, config, clock
        self.ledger = Ledger(journal, archive)
        self.report = report or RunReport()
        self._recorder: Recorder | None = None

    @property
    def recorder(self) -> Recorder:
        """Made with the first mail: a run that finds none loads no recording machinery."""
        if self._recorder is None:
            from mailbot.run.record import Recorder

            self._recorder = Recorder(self.journal, self.config, self.clock)
        return self._recorder

    def close(self) -> None:
        self.ledger.close()

    def take(self, source: Source, *, hold_last: bool = False) -> Recorded:
        """Read the source's new mail, recording and then marking each request.

        `hold_last`: the last batch is returned unmarked, for the caller to `mark` once
        the replies have left: a watched mailbox's one new request is answered without
        waiting for its flags (the journal has it; a run that dies first leaves it to the
        next run's `_mark_unmarked`).
        """
        if source.marks:
            self._mark_unmarked(source)
        pending: Recorded = []
        batch = MARK_BATCH if isinstance(source, BatchMarking) else 1
        for item in source.fetch_new(lambda s, k: self.journal.seen(s, k) is not None):
            if isinstance(item, Skipped):
                if item.position is not None:
                    from mailbot.run.record import advance

                    with self.journal.transaction():
                        advance(self.journal, item.position)
                continue
            faults.reached(faults.Point.FETCHED)
            message = self.handle(item)
            faults.reached(faults.Point.RECORDED)
            if message is not None and source.marks:
                pending.append((message, item.key))
            if len(pending) >= batch:
                self.mark(source, pending)
                pending = []
        if hold_last:
            return pending
        self.mark(source, pending)
        return []

    def _mark_unmarked(self, source: Source) -> None:
        """Requests recorded by an earlier run that died before touching the mailbox."""
        self.mark(source, [(row.id, row.source_key) for row in self.journal.unmarked(source.name)])

    def mark(self, source: Source, recorded: Recorded) -> None:
        """Mark recorded requests in their mailbox, then note it: each is in the journal
        already, so a run that dies in between leaves them to `_mark_unmarked`."""
        if not recorded:
            return
        self.journal.durable()  # the records outlive even a power cut before the flags
        if isinstance(source, BatchMarking):
            source.mark_processed_all([key for _, key in recorded])
        else:
            for _, key in recorded:
                source.mark_processed(key)
        faults.reached(faults.Point.MOVED)
        with self.journal.transaction():
            for message, _ in recorded:
                self.journal.mark_message(message)

    def handle(self, incoming: Incoming, *, again: bool = False) -> int | None:
        """Record one mail's outcome; returns the message row to mark, None to leave alone.

        `again`: AOG asked for this recorded mail to be handled anew (`mailbot
        reprocess`), so it is not compared with the mails recorded before it.
        """
        from mailbot.plan import Judged, plan
        from mailbot.run.planning import parse, rules
        from mailbot.run.record import record

        try:
            first = None if again else self._first_arrival(incoming)
            if first is not None:
                return self._repeat(incoming, first)
            config, clock = self.config, self.clock
            key = f"{self.journal.instance}:{incoming.source}:{incoming.key}"
            planned = plan(parse(incoming, config), self.ledger,
                           rules(config, key=key, clock=clock), clock.now())
            message = record(self.recorder, incoming, planned)
            self.ledger.recorded(planned.disposition.kind, _sender(planned.disposition))
        except (OutageError, ConfigError):
            raise  # not this mail's fault: it stays unrecorded for the next run
        except Exception as exc:  # a bug must not stop the other mails: shunt this one
            self._shunt(incoming, exc)
            return None
        d = planned.disposition
        self.report.kinds[d.kind.value] += 1
        if isinstance(d, Judged):
            self.report.verdicts[d.verdict.code.value] += 1
        return message if d.kind in MARKED else None

    def _first_arrival(self, incoming: Incoming) -> MessageRecord | None:
        """The recorded mail this one is a copy of, or whose Message-ID it reuses."""
        if incoming.digest is None:  # a trigger file: known by its name alone
            return None
        same = self.journal.same_mail(incoming.message_id, incoming.digest)
        if same is not None or incoming.message_id is None:
            return same
        return self.journal.first_with_message_id(incoming.message_id)

    def _repeat(self, incoming: Incoming, first: MessageRecord) -> int | None:
        """A copy (marked as its first arrival is) or a reused Message-ID (kept for AOG)."""
        from mailbot.run.record import record_repeat

        message, kind = record_repeat(self.recorder, incoming, first)
        self.report.kinds[kind.value] += 1
        if kind is MessageKind.COPY and first.kind in MARKED:
            return message
        return None

    def _shunt(self, incoming: Incoming, exc: Exception) -> None:
        from mailbot.run.record import advance

        log.exception("mail %s %s shunted", incoming.source, incoming.key)
        reason = "".join(traceback.format_exception_only(exc)).strip()
        with self.journal.transaction():
            self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind=MessageKind.SHUNTED,
                received=incoming.received, reason=reason, raw=incoming.raw,
                message_id=incoming.message_id, digest=incoming.digest)
            advance(self.journal, incoming.position)
        self.report.kinds[MessageKind.SHUNTED.value] += 1


def _sender(d: Disposition) -> str | None:
    """Who sent a mail the limits may count (a request or a malformed one)."""
    from mailbot.plan import Judged, Rejected, Unjudged

    if isinstance(d, Rejected):
        return d.malformed.origin.sender
    if isinstance(d, Judged | Unjudged):
        return d.request.origin.sender
    return None


# Mail the bot answered (or will not answer twice) is flagged in its mailbox; the
# rest stays exactly as it was.
MARKED = frozenset({MessageKind.REQUEST, MessageKind.TWIN, MessageKind.MALFORMED})
