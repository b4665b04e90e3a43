"""Reading new mail: each item parsed, planned and recorded, and only then marked.

A mail that makes the bot fail unexpectedly is shunted (kept with its bytes
and the error, left untouched in its mailbox) and the other mails go on; an
outage or a settings error stops this source and leaves the mail for the next run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from mailbot.archive import Archive
from mailbot.clock import Clock
from mailbot.config import Config
from mailbot.errors import ConfigError, OutageError
from mailbot.inbox import Incoming, Skipped, Source
from mailbot.journal import Journal
from mailbot.plan import Judged, plan
from mailbot.run.planning import Ledger, parse, rules
from mailbot.run.record import Recorder, advance, record
from mailbot.run.summary import RunReport
from mailbot.states import MessageKind

log = logging.getLogger(__name__)


class Intake:
    """Turns each new mail into journal rows and queued mail, one transaction each."""

    def __init__(self, config: Config, journal: Journal, archive: Callable[[], Archive],
                 clock: Clock, report: RunReport | None = None) -> None:
        self.recorder = Recorder(journal, config, clock)
        self.ledger = Ledger(journal, archive)
        self.report = report or RunReport()

    @property
    def journal(self) -> Journal:
        return self.recorder.journal

    def close(self) -> None:
        self.ledger.close()

    def take(self, source: Source) -> None:
        """Read the source's new mail, recording and then marking each request."""
        if source.marks:
            self._mark_unmarked(source)
        for item in source.fetch_new(lambda s, k: self.journal.seen(s, k) is not None):
            if isinstance(item, Skipped):
                with self.journal.transaction():
                    advance(self.journal, item.position)
                continue
            message = self.handle(item)
            if message is not None and source.marks:
                source.mark_processed(item.key)
                with self.journal.transaction():
                    self.journal.mark_message(message)

    def _mark_unmarked(self, source: Source) -> None:
        """Requests recorded by an earlier run that died before touching the mailbox."""
        for row in self.journal.unmarked(source.name):
            source.mark_processed(row.source_key)
            with self.journal.transaction():
                self.journal.mark_message(row.id)

    def handle(self, incoming: Incoming) -> int | None:
        """Record one mail's outcome; returns the message row to mark, None to leave alone."""
        try:
            config, clock = self.recorder.config, self.recorder.clock
            key = f"{self.journal.instance}:{incoming.source}:{incoming.key}"
            planned = plan(parse(incoming, config), self.ledger,
                           rules(config, key=key, clock=clock), clock.now())
            message = record(self.recorder, incoming, planned)
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

    def _shunt(self, incoming: Incoming, exc: Exception) -> None:
        log.exception("mail %s %s shunted", incoming.source, incoming.key)
        reason = "".join(traceback.format_exception_only(exc)).strip()
        with self.journal.transaction():
            self.journal.record_message(
                source=incoming.source, source_key=incoming.key, kind=MessageKind.SHUNTED,
                received=incoming.received, reason=reason, raw=incoming.raw)
            advance(self.journal, incoming.position)
        self.report.kinds[MessageKind.SHUNTED.value] += 1


# Mail the bot answered (or will not answer twice) is flagged in its mailbox; the
# rest stays exactly as it was.
MARKED = frozenset({MessageKind.REQUEST, MessageKind.TWIN, MessageKind.MALFORMED})
