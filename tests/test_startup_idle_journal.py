"""What a run asks the journal before it loads a step's machinery (issue 14, row B2): is
there mail to send, a review copy to store, a staging to follow. Each answer is the one
the full listing gives, and is found by an index, so that an idle run over years of
history costs what one over a new journal does (their indices: `test_journal_indices`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.journal import Journal
from mailbot.states import ACTIVE_JOB_STATES, MailState
from tests.report_fixture import fill


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal with requests answered, staged, held, failed and sent (the report's)."""
    opened = Journal(fill(tmp_path / "journal.sqlite"))
    try:
        yield opened
    finally:
        opened.close()


def agree(journal: Journal) -> None:
    """Each question's answer is what the listing it stands in for says."""
    assert journal.outbox_count(MailState.QUEUED, MailState.SENDING) == len(
        journal.outbox(MailState.QUEUED, MailState.SENDING))
    assert journal.outbox_count(MailState.HELD) == len(journal.outbox(MailState.HELD))
    assert journal.any_uncopied() == bool(journal.uncopied())
    assert journal.has_active_jobs() == bool(journal.jobs(*ACTIVE_JOB_STATES))


def test_the_answers_are_the_listings_as_the_journal_changes(journal: Journal) -> None:
    held = journal.outbox(MailState.HELD)
    assert held and journal.uncopied() and journal.jobs(*ACTIVE_JOB_STATES)  # all asked
    agree(journal)
    # AOG approves a held mail; a run claims it and dies before sending it.
    assert journal.set_outbox_state(held[0].id, MailState.QUEUED, only_from=[MailState.HELD])
    agree(journal)
    assert journal.claim_for_sending(held[0].id)
    assert journal.outbox_count(MailState.QUEUED, MailState.SENDING) == 1
    agree(journal)
    # Every review copy stored, every staging over: nothing left for those steps.
    journal.mark_copied([m.id for m in journal.uncopied()])
    for job in journal.jobs(*ACTIVE_JOB_STATES):
        journal.job_cancelled(job.id)
    assert not journal.any_uncopied() and not journal.has_active_jobs()
    agree(journal)


def test_a_new_journal_has_nothing_to_do(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        assert journal.outbox_count(MailState.QUEUED, MailState.SENDING) == 0
        assert journal.outbox_count(MailState.HELD) == 0
        assert not journal.any_uncopied() and not journal.has_active_jobs()
    finally:
        journal.close()
