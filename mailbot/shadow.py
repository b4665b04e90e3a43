"""Shadow mode: the bot runs beside AOG's hand work, deciding everything and doing nothing.

A shadow pass reads, parses, decides, records and renders like a live one; the
seams below are the only places that differ. Its sources are wrapped so that
"mark this mail" is recorded in the journal only (no flag, no move, and a
trigger file stays); the steps that send, launch, copy and remove do not run;
and `shelve` turns what the pass queued (mail, stagings) into what it would
have done, so that no live run can ever send or launch it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every run asks `go_live`; only a shadow pass reads a source through here
    from mailbot.inbox import Channel, Incoming, SeenCheck, Skipped, Source
    from mailbot.journal import Journal

log = logging.getLogger(__name__)


class ShadowSource:
    """A source whose mail is read but never touched: marking is the journal's alone.
    (A plain class: every run imports this module, and only a shadow pass makes one.)"""

    marks = True  # every taken mail is marked in the journal, so no live run redoes it

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.channel: Channel = inner.channel

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming | Skipped]:
        return self.inner.fetch_new(seen)

    def mark_processed(self, key: str) -> None:
        """Would flag or move the mail; the shadow leaves the mailbox as AOG sees it."""

    def close(self) -> None:
        self.inner.close()


def begin(journal: Journal) -> None:
    """Start the shadow period, once: everything recorded above it is shelved at every pass."""
    if journal.shadow_period() is not None:
        return
    with journal.transaction():
        journal.begin_shadow()
    log.info("shadow mode: mail is read and judged, nothing is sent, launched or marked")


def shelve(journal: Journal) -> None:
    """What the shadow passes queued becomes what they would have done: never sent, never run."""
    period = journal.shadow_period()
    if period is not None:
        with journal.transaction():
            journal.shelve(*period)


def go_live(journal: Journal) -> None:
    """End a shadow period: shelve its last work and start a clean cut-over now.

    Shelving again covers a shadow pass killed between recording and shelving;
    the cut-over leaves the mail that arrived during the period to AOG, who
    answered it by hand.
    """
    period = journal.shadow_period()
    if period is None:
        return
    with journal.transaction():
        journal.shelve(*period)
        journal.end_shadow()
    log.info("live mode: the shadow period is over; earlier mail is left to AOG")
