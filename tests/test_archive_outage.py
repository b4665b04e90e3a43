"""An archive outage through the real CLI: oracledb against a closed loopback port.

`mailbot run` retries the connection with backoff for `archive.retry_seconds`,
then exits 75 with ONE line on stderr; the request mail stays unprocessed
(Maildir: in new/, not in the journal; IMAP: not flagged) and the next run, with
a working SQLite archive, handles it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.demo import prepare, request_mail
from mailbot.model import VerdictCode
from tests.servers.dovecot import ImapServer
from tests.settings import PAST, imap_table, simulator_command, write_settings

ARCHIVE_PASSWORD = "archive-secret-not-to-be-shown"
ATTEMPTS = re.compile(r"\((\d+) attempts? in ([\d.]+) s\)$")
# Interpreter start, imports and the rest of the run, beyond the retry budget.
OVERHEAD_SECONDS = 4.0


def mailbot(config: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The real CLI in a subprocess; returns its result and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "MAILBOT_ARCHIVE_PASSWORD": ARCHIVE_PASSWORD, **env},
    )
    return done, time.monotonic() - started


def with_oracle_down(config: Path, port: int, retry_seconds: float) -> Path:
    """A copy of `config` whose archive is an Oracle DSN on a port nobody listens on."""
    down = config.with_name("archive-down.toml")
    down.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[archive]\nurl = "oracle://aog@127.0.0.1:{port}/ALMA"\n'
        f"retry_seconds = {retry_seconds}\n",
        encoding="utf-8",
    )
    return down


def assert_one_outage_line(stderr: str, port: int, retry_seconds: float, wall: float) -> None:
    """Exactly one line naming the archive; several attempts, within the configured time."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(
        f"mailbot: archive database unavailable: oracle://aog@127.0.0.1:{port}/ALMA: DPY-6005"
    ), line
    assert ARCHIVE_PASSWORD not in line and "CONNECTION_ID" not in line
    match = ATTEMPTS.search(line)
    assert match, line
    attempts, spent = int(match.group(1)), float(match.group(2))
    assert attempts >= 3, "a refused connect is retried, with backoff"
    # stop_before_delay: no attempt starts after the budget, and the budget is spent.
    assert retry_seconds / 2 <= spent <= retry_seconds + 0.5, line
    assert retry_seconds / 2 <= wall <= retry_seconds + OVERHEAD_SECONDS, wall


def journal_rows(config: cfg.Config, sql: str) -> list[tuple[object, ...]]:
    path = config.path(config.mailbot.journal)
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


# --- the embedded setup: Maildir in, .eml files out -------------------------------------------


@pytest.mark.parametrize("retry_seconds", [1.0, 2.5])
def test_oracle_down_exits_75_and_the_next_run_handles_the_mail(
    tmp_path: Path, closed_port: int, retry_seconds: float
) -> None:
    config, labels = prepare(tmp_path / "demo", duration=0.2)
    assert config.source is not None
    source = Path(config.source)
    maildir = config.path(config.inbox.maildir.path)
    outbox = config.path(config.outbox.directory)
    mails = {name for name, _ in labels}
    requests = {name for name, label in labels if "out-of-office" not in label
                and "malformed" not in label}
    down = with_oracle_down(source, closed_port, retry_seconds)

    done, wall = mailbot(down, "run")

    assert done.returncode == 75, done.stderr
    assert_one_outage_line(done.stderr, closed_port, retry_seconds, wall)
    assert {p.name for p in (maildir / "new").iterdir()} == mails
    assert not any((maildir / "cur").iterdir())
    assert journal_rows(config, "SELECT source_key FROM messages WHERE kind = 'request'") == []
    assert journal_rows(config, "SELECT id FROM requests") == []
    assert not outbox.exists() or not any(outbox.iterdir()), "no reply for an unjudged mail"

    done, _ = mailbot(source, "run")  # the demo's own config: its SQLite archive

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    recorded = journal_rows(config, "SELECT source_key FROM messages WHERE kind = 'request'")
    assert {key for (key,) in recorded} == requests
    verdicts = journal_rows(config, "SELECT ticket, verdict FROM requests ORDER BY id")
    assert verdicts == [(c.ticket, c.expected.value) for c in demo_archive.DEMO_CASES]
    assert requests.isdisjoint(p.name for p in (maildir / "new").iterdir())
    rejected = sum(c.expected is not VerdictCode.STAGE for c in demo_archive.DEMO_CASES)
    assert len(list(outbox.glob("*.eml"))) >= rejected


# --- IMAP in: the request is neither flagged nor moved ----------------------------------------


def imap_config(tmp: Path, imap: ImapServer) -> Path:
    return write_settings(tmp / "mailbot.toml", {
        "mailbot": {"data_dir": tmp, "cutover": PAST},
        "inbox": {"sources": ["imap"], "imap": imap_table(imap)},
        "staging": {"command": simulator_command(tmp / "staging", 0.2)},
    })


def test_oracle_down_leaves_the_imap_mail_unflagged(
    imap: ImapServer, tmp_path: Path, closed_port: int
) -> None:
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED
                and not c.calfields)
    config = imap_config(tmp_path, imap)
    loaded = cfg.load(config)
    client = imap.client()
    try:
        client.append("INBOX", request_mail(case, aog=loaded.addresses.aog,
                                            maintainer=loaded.addresses.maintainer))
    finally:
        client.logout()
    down = with_oracle_down(config, closed_port, 1.0)

    done, wall = mailbot(down, "run", MAILBOT_IMAP_PASSWORD=imap.password)

    assert done.returncode == 75, done.stderr
    assert_one_outage_line(done.stderr, closed_port, 1.0, wall)
    assert inbox_flags(imap) == [()]
    assert journal_rows(loaded, "SELECT id FROM requests") == []

    demo_archive.seed(tmp_path / "alma.sqlite")
    working = config.with_name("working.toml")
    working.write_text(config.read_text(encoding="utf-8")
                       + f'\n[archive]\nurl = "sqlite:///{tmp_path}/alma.sqlite"\n',
                       encoding="utf-8")
    done, _ = mailbot(working, "run", MAILBOT_IMAP_PASSWORD=imap.password)

    assert done.returncode == 0, done.stderr
    [flags] = inbox_flags(imap)
    assert b"$MailbotProcessed" in flags and b"\\Seen" in flags
    assert journal_rows(loaded, "SELECT ticket, verdict FROM requests") == [
        (case.ticket, VerdictCode.NOT_ENTITLED.value)]


def inbox_flags(imap: ImapServer) -> list[tuple[bytes, ...]]:
    client = imap.client()
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS"])
        return [tuple(item[b"FLAGS"]) for item in fetched.values()]
    finally:
        client.logout()
