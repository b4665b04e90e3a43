"""Review copies in aog@'s mailbox (real Dovecot): a folder per month, batches stored with
MULTIAPPEND or one APPEND each, and a batch a dead run left `storing` never stored twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.clock import parse_stamp
from mailbot.journal import Journal
from mailbot.outbox import flush, without_bcc
from mailbot.review import COPY_BATCH, append_copies, copy_for_review, review_folder
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.settings import changed
from tests.test_outbox import make_config, queue, rendered
from tests.test_outbox import review_folder as folder_contents


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


@pytest.fixture
def monthly(tmp_path: Path, smtp: SmtpServer, imap: ImapServer,
            monkeypatch: pytest.MonkeyPatch) -> cfg.Config:
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", imap.password)
    config = make_config(tmp_path, smtp, imap=imap)
    return changed(config, outbox={"review": replace(config.outbox.review, per_month=True)})


def sent_and_flushed(config: cfg.Config, journal: Journal, count: int) -> list[bytes]:
    queue(journal, [rendered(config, n) for n in range(count)])
    assert len(flush(config, journal).sent) == count
    return sorted(without_bcc(m.data) for m in journal.outbox())


def month_folder(config: cfg.Config, journal: Journal) -> str:
    months = {review_folder(config.outbox.review, parse_stamp(m.sent or ""))
              for m in journal.outbox()}
    assert len(months) == 1
    return months.pop()


def test_copies_go_to_the_folder_of_the_month_they_were_sent(
        monthly: cfg.Config, imap: ImapServer, journal: Journal) -> None:
    expected = sent_and_flushed(monthly, journal, 3)
    assert copy_for_review(monthly, journal) == 3

    folder = month_folder(monthly, journal)
    sent = parse_stamp(journal.outbox()[0].sent or "")
    assert folder == f"Mailbot/Sent/{sent.year:04d}-{sent.month:02d}"
    assert sorted(data for data, _ in folder_contents(imap, folder)) == expected
    assert all(m.copied and not m.copy_in_doubt for m in journal.outbox())


def test_per_month_off_keeps_one_folder() -> None:
    review = cfg.Review(copy_to="imap", imap_folder="AOG/Sent", per_month=False)
    assert review_folder(review, parse_stamp("2026-12-01T10:00:00Z")) == "AOG/Sent"
    monthly = replace(review, per_month=True)
    assert review_folder(monthly, parse_stamp("2026-12-01T10:00:00Z")) == "AOG/Sent/2026-12"
    assert review_folder(monthly, parse_stamp("2027-01-31T23:59:59Z")) == "AOG/Sent/2027-01"


def test_more_than_a_batch_is_stored_once_each(
        monthly: cfg.Config, imap: ImapServer, journal: Journal) -> None:
    count = COPY_BATCH + 3
    expected = sent_and_flushed(monthly, journal, count)
    assert copy_for_review(monthly, journal) == count

    copies = folder_contents(imap, month_folder(monthly, journal))
    assert sorted(data for data, _ in copies) == expected
    assert all(b"\\Seen" in flags for _, flags in copies)
    assert copy_for_review(monthly, journal) == 0


@pytest.mark.parametrize("multiappend", [True, False], ids=["MULTIAPPEND", "APPEND each"])
def test_copies_read_back_the_same_with_or_without_multiappend(
        monthly: cfg.Config, imap: ImapServer, journal: Journal, multiappend: bool) -> None:
    """A server without RFC 3502 gets one APPEND a copy: the same mails, flags and dates."""
    expected = sent_and_flushed(monthly, journal, 3)
    client = imap.client()
    try:
        assert client.has_capability("MULTIAPPEND"), "the test Dovecot offers it"
        client.create_folder("Copies")
        append_copies(client, "Copies", journal.outbox(), multiappend=multiappend)
        client.select_folder("Copies", readonly=True)
        dates = {parse_stamp(m.sent or "").replace(microsecond=0) for m in journal.outbox()}
        stored = client.fetch(client.search("ALL"), [b"INTERNALDATE"])
        assert {v[b"INTERNALDATE"].astimezone(UTC) for v in stored.values()} <= dates
    finally:
        client.logout()
    copies = folder_contents(imap, "Copies")
    assert sorted(data for data, _ in copies) == expected
    assert all(b"\\Seen" in flags for _, flags in copies)


def test_a_batch_left_storing_is_looked_for_and_never_stored_twice(
        monthly: cfg.Config, imap: ImapServer, journal: Journal) -> None:
    """A run died after marking the batch `storing`: one copy it had stored, two not."""
    expected = sent_and_flushed(monthly, journal, 3)
    mails = journal.outbox()
    with journal.transaction():
        journal.mark_copying([m.id for m in mails])
    folder = month_folder(monthly, journal)
    client = imap.client()
    try:
        client.create_folder(folder)
        client.append(folder, without_bcc(mails[1].data), flags=[b"\\Seen"])
    finally:
        client.logout()
    assert all(m.copy_in_doubt and not m.copied for m in journal.outbox())

    assert copy_for_review(monthly, journal) == 3

    assert sorted(data for data, _ in folder_contents(imap, folder)) == expected
    assert all(m.copied and not m.copy_in_doubt for m in journal.outbox())
