"""The journal's schema over time: a journal written before numbered migrations is
adopted with its rows, a migration is applied once and all or nothing, and a
journal of a newer mailbot is refused in one line (also read-only).

The old journal is built from tests/data/journal-schema-v1.sql: the schema text
of the mailbot that had no migrations, verbatim, with a few rows.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.clock import FixedClock
from mailbot.journal import SCHEMA_VERSION, Journal, JournalError, db, migrations
from mailbot.journal.migrations import MIGRATIONS, Migration
from mailbot.states import JobState, MailState, MessageKind, RequestState

V1_JOURNAL = Path(__file__).parent / "data" / "journal-schema-v1.sql"
OPENED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DATA_TABLES = ("meta", "messages", "requests", "jobs", "outbox", "imap_state")


def v1_journal(path: Path) -> Path:
    """A journal as the mailbot of before migrations left it (WAL, as it ran)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(V1_JOURNAL.read_text(encoding="utf-8"))
    conn.close()
    return path


def dump(path: Path, *tables: str) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return migrations.tables(conn)
    finally:
        conn.close()


def test_a_new_journal_records_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, clock=FixedClock(OPENED))
    try:
        assert journal.migrated == tuple(m.number for m in MIGRATIONS)
        assert journal.get_meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        journal.close()
    assert dump(path, "schema_migrations")["schema_migrations"] == [
        (m.number, m.name, "2024-06-01T12:00:00+00:00") for m in MIGRATIONS]


def test_a_journal_of_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    path = v1_journal(tmp_path / "journal.sqlite")
    before = dump(path, *DATA_TABLES)
    journal = Journal(path, clock=FixedClock(OPENED))
    try:
        assert journal.migrated == tuple(m.number for m in MIGRATIONS)
        assert journal.instance == "cafe0001"
        (job,) = journal.jobs(JobState.RUNNING)
        assert (job.name, job.pid, job.job_dir) == (
            "job-cafe0001-1-1", 4242, "/staging/job-cafe0001-1-1")
        assert journal.job_mous(job) == "uid://A001/X1296/X675"
        request = journal.request(job.request)
        assert (request.ticket, request.calfields, request.origin.channel) == (
            "16140", ("J0510+1800",), "mail")
        assert [(r.id, r.state) for r in journal.active_requests()] == [
            (1, RequestState.STAGING)]
        (shunted,) = journal.messages_of(MessageKind.SHUNTED)
        assert shunted.raw is not None and shunted.raw.startswith(b"From: someone@")
        (mail,) = journal.outbox(MailState.SENT)
        assert (mail.rcpt_to, mail.copied) == (("arc.contact@example.org",), True)
        assert journal.watermark("INBOX") == (42, 17)
    finally:
        journal.close()
    after = dump(path, *DATA_TABLES)
    # Migration 5 adds each mail's content digest and first arrival (unknown for mail
    # of before), and each outgoing mail's refused recipients (none) and their dismissal.
    assert [r[-2:] for r in after["messages"]] == [(None, None)] * len(before["messages"])
    after["messages"] = [r[:-2] for r in after["messages"]]
    assert [r[-2:] for r in after["outbox"]] == [(None, 0)] * len(before["outbox"])
    after["outbox"] = [r[:-2] for r in after["outbox"]]
    # Migration 4 adds what each request was judged on (facts, day, checks passed):
    # not known for requests of before.
    assert [r[-3:] for r in after["requests"]] == [(None, None, None)] * len(before["requests"])
    after["requests"] = [r[:-3] for r in after["requests"]]
    # Migration 2 adds the plan's step and passed steps, unknown for mail of before.
    assert [r[-2:] for r in after["messages"]] == [(None, None)] * len(before["messages"])
    after["messages"] = [r[:-2] for r in after["messages"]]
    # Migration 3 adds each job's reused MSs and EBs, unknown for a job still running.
    assert [r[-2:] for r in after["jobs"]] == [(None, None)] * len(before["jobs"])
    after["jobs"] = [r[:-2] for r in after["jobs"]]
    # The one key an older mailbot reads follows the last migration, so it refuses the file.
    assert ("schema_version", str(SCHEMA_VERSION)) in after["meta"]
    after["meta"] = [r for r in after["meta"] if r[0] != "schema_version"]
    before["meta"] = [r for r in before["meta"] if r[0] != "schema_version"]
    assert after == before
    assert dump(path, "schema_migrations")["schema_migrations"] == [
        (m.number, m.name, "2024-06-01T12:00:00+00:00") for m in MIGRATIONS]


def test_a_second_open_applies_nothing(tmp_path: Path) -> None:
    path = v1_journal(tmp_path / "journal.sqlite")
    Journal(path, clock=FixedClock(OPENED)).close()
    after_first = dump(path, *DATA_TABLES, "schema_migrations")
    journal = Journal(path, clock=FixedClock(datetime(2025, 1, 1, tzinfo=UTC)))
    journal.close()
    assert journal.migrated == ()
    assert dump(path, *DATA_TABLES, "schema_migrations") == after_first


def test_a_journal_of_before_migrations_is_read_as_it_is(tmp_path: Path) -> None:
    """`mailbot check` reads it without writing: no schema_migrations appears."""
    path = v1_journal(tmp_path / "journal.sqlite")
    journal = Journal(path, read_only=True)
    try:
        assert [r.ticket for r in journal.active_requests()] == ["16140"]
    finally:
        journal.close()
    assert "schema_migrations" not in tables(path)


def _with_migration(monkeypatch: pytest.MonkeyPatch, migration: Migration) -> None:
    monkeypatch.setattr(db, "MIGRATIONS", (*MIGRATIONS, migration))
    monkeypatch.setattr(db, "SCHEMA_VERSION", migration.number)


def test_a_new_migration_is_applied_once_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = v1_journal(tmp_path / "journal.sqlite")
    calls = []

    def add_notes(conn: sqlite3.Connection) -> None:
        calls.append(conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0])
        conn.execute("ALTER TABLE requests ADD COLUMN note TEXT")

    _with_migration(monkeypatch, Migration(SCHEMA_VERSION + 1, "request notes", add_notes))
    opened = [Journal(path, clock=FixedClock(OPENED)) for _ in range(2)]
    for journal in opened:
        journal.close()
    assert calls == [SCHEMA_VERSION], "run once, after the migrations before it were recorded"
    assert [j.migrated for j in opened] == [tuple(range(1, SCHEMA_VERSION + 2)), ()]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone() == (str(SCHEMA_VERSION + 1),)
        assert [r[1] for r in conn.execute("PRAGMA table_info(requests)")][-1] == "note"
    conn.close()


def test_a_failing_migration_leaves_the_journal_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    before = dump(path, *DATA_TABLES, "schema_migrations")

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        raise RuntimeError("migration bug")

    _with_migration(monkeypatch, Migration(SCHEMA_VERSION + 1, "notes", half_done))
    with pytest.raises(RuntimeError, match="migration bug"):
        Journal(path)
    assert "notes" not in tables(path)
    assert dump(path, *DATA_TABLES, "schema_migrations") == before


def _newer(path: Path) -> Path:
    """A journal on which a later mailbot applied a migration this one does not know."""
    Journal(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', '2030-01-01')",
                     (SCHEMA_VERSION + 1,))
    conn.close()
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_a_journal_of_a_newer_mailbot_is_refused(tmp_path: Path, read_only: bool) -> None:
    path = _newer(tmp_path / "journal.sqlite")
    before = dump(path, *DATA_TABLES, "schema_migrations")
    with pytest.raises(JournalError) as refused:
        Journal(path, read_only=read_only)
    assert str(refused.value) == (
        f"journal {path} was written by a newer mailbot (schema {SCHEMA_VERSION + 1},"
        f" this one knows {SCHEMA_VERSION}): upgrade mailbot")
    assert dump(path, *DATA_TABLES, "schema_migrations") == before


def test_the_cli_refuses_a_newer_journal_in_one_line(tmp_path: Path) -> None:
    path = _newer(tmp_path / "journal.sqlite")
    settings = tmp_path / "mailbot.toml"
    settings.write_text(f'[mailbot]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(settings),
                           "requests"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == (f"mailbot: journal {path} was written by a newer mailbot (schema "
                           f"{SCHEMA_VERSION + 1}, this one knows {SCHEMA_VERSION}):"
                           " upgrade mailbot\n")
