"""Commits survive the process's death at once (WAL, synchronous=NORMAL); they reach the
disk itself (an fsync of the WAL) before any act outside the journal relies on them:
before mail is marked handled in its mailbox, and before the first mail is sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailbot import outbox
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.inbox import MaildirSource
from mailbot.journal import Journal
from mailbot.model import VerdictCode
from mailbot.outbox import DURABLE_EVERY
from mailbot.run import run_once
from tests.test_run_embedded import empty_demo


def test_the_journal_commits_in_wal_with_synchronous_normal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        journal.close()


def test_durable_fsyncs_the_write_ahead_log(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    try:
        with journal.transaction():
            journal.set_meta("probe", "1")
        journal.durable()
    finally:
        journal.close()
    assert synced[0] == str(tmp_path / "journal.sqlite-wal")


def test_records_are_durable_before_mail_is_marked_and_before_mail_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    cases = [c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED]
    count = DURABLE_EVERY + 2
    for n in range(count):
        raw = request_mail(cases[0], aog=config.addresses.aog,
                           maintainer=config.addresses.maintainer).replace(
            b"Message-ID: <", f"Message-ID: <n{n}-".encode())
        (inbox_new / f"{n}.request").write_bytes(raw)
    events: list[str] = []
    durable, mark = Journal.durable, MaildirSource.mark_processed
    monkeypatch.setattr(Journal, "durable",
                        lambda self: (events.append("durable"), durable(self))[1])
    monkeypatch.setattr(MaildirSource, "mark_processed",
                        lambda self, key: (events.append("mark"), mark(self, key))[1])
    write = outbox.write_eml
    monkeypatch.setattr(outbox, "write_eml",
                        lambda d, m: (events.append("send"), write(d, m))[1])

    report = run_once(config)

    assert report.kinds == {"request": count}
    first_mark = events.index("mark")
    assert "durable" in events[:first_mark], "records on disk before any mail is marked"
    last_mark = len(events) - events[::-1].index("mark")
    flushed = events[last_mark:events.index("send") + count + 1]
    # One barrier before the first mail leaves, then one every DURABLE_EVERY mails sent.
    assert flushed == ["durable", *["send"] * DURABLE_EVERY, "durable", "send", "send"]
    assert events[-1] == "durable", "what the run wrote last is made durable too"
