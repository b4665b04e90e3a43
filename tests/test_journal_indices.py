"""Every journal query on a run's hot path finds its rows by an index (issue 14): checked
with EXPLAIN QUERY PLAN on the very statements the journal runs, so a run over a journal
of years costs what one over a new journal does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.journal import Journal
from mailbot.model import Origin, Request
from mailbot.states import MailState, MessageKind

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REQUEST = Request(
    mous="uid://A001/X1296/X675", project="2017.1.00727.S", calfields=(),
    user_name="Judit Szulagyi", user_email="judits@example.org", ticket="16140",
    arc_contact="arc@example.org", cc=(), message_id="<r1@example.org>", received=WHEN,
    origin=Origin(channel="mail", sender="arc@example.org"),
)

HOT: dict[str, Callable[[Journal], object]] = {
    "seen": lambda j: j.seen("imap:INBOX", "<r1@example.org>"),
    "same_mail": lambda j: j.same_mail("<r1@example.org>", "digest"),
    "first_with_message_id": lambda j: j.first_with_message_id("<r1@example.org>"),
    "twin_of": lambda j: j.twin_of(REQUEST, timedelta(days=1)),
    "unmarked": lambda j: j.unmarked("imap:INBOX"),
    "requests_from (the limits)": lambda j: j.requests_from("arc@example.org", WHEN),
    "uncopied (review copies)": lambda j: j.uncopied(),
    "outbox to send": lambda j: j.outbox(MailState.QUEUED),
    # The health figures every run writes (mailbot status, the textfile).
    "oldest_unanswered (health)": lambda j: j.oldest_unanswered(),
    "kept mails (health)": lambda j: j.messages_of(MessageKind.UNTRUSTED),
    "partly_refused (health)": lambda j: j.partly_refused(),
    # What a run asks before it loads a step's machinery (an idle run asks only these).
    "mail to send (idle run)": lambda j: j.outbox_count(MailState.QUEUED, MailState.SENDING),
    "held mail (idle run)": lambda j: j.outbox_count(MailState.HELD),
    "review copies to store (idle run)": lambda j: j.any_uncopied(),
    "stagings to follow (idle run)": lambda j: j.has_active_jobs(),
}

# Where an index of the whole source or state would do, but read every row of it.
BY = {"twin_of": "requests_twin", "unmarked": "messages_unmarked",
      "uncopied (review copies)": "outbox_uncopied",
      "requests_from (the limits)": "messages_sender",
      "kept mails (health)": "messages_kind", "partly_refused (health)": "outbox_refused",
      "review copies to store (idle run)": "outbox_uncopied",
      "stagings to follow (idle run)": "jobs_state"}


def plan(journal: Journal, query: Callable[[Journal], object]) -> list[tuple[str, str]]:
    """(statement, plan line) of each SELECT the query runs."""
    statements: list[str] = []
    journal.db.set_trace_callback(statements.append)
    try:
        query(journal)
    finally:
        journal.db.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects, "the query ran no SELECT"
    return [(sql, str(detail)) for sql in selects
            for *_, detail in journal.db.execute(f"EXPLAIN QUERY PLAN {sql}")]


def scans(journal: Journal, query: Callable[[Journal], object]) -> list[str]:
    """The plan lines of the query's statements that read a whole table."""
    return [f"{detail}  <- {sql}" for sql, detail in plan(journal, query)
            if detail.startswith("SCAN") and detail != "SCAN CONSTANT ROW"]


@pytest.mark.parametrize("name", list(HOT))
def test_the_hot_queries_use_an_index(tmp_path: Path, name: str) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        assert scans(journal, HOT[name]) == []
        if name in BY:
            assert any(BY[name] in detail for _, detail in plan(journal, HOT[name]))
    finally:
        journal.close()


def test_the_check_sees_a_missing_index(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        journal.db.execute("DROP INDEX requests_twin")
        assert scans(journal, HOT["twin_of"]) != []
    finally:
        journal.close()
