"""`mailbot report` through the real CLI, `mailbot demo`'s sheet, and the journal facts behind
the sheet: reuse recorded when a staging ends, and recovered for jobs of before (migration 3).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot import stage
from mailbot.clock import FixedClock
from mailbot.journal import Journal, db
from mailbot.journal.migrations import MIGRATIONS
from tests.report_fixture import fill

# What stagecalms prints when it hard-links one MS and regenerates the other.
REUSE_OUTPUT = """\
The staging directory will be accessible at http://example.org/preview/0123abcd
Checking for pre-existing MSs for the following EBs ...
uid___A002_Xd33a12_X15be
Found pre-existing /staging/old/uid___A002_Xd33a12_X15be.ms.split.cal.tar .
   Will try to use this instead of recreating it (making hard link) ...
uid___A002_Xd33a12_X2000 MS for uid___A002_Xd33a12_X2000 was not found among the already \
staged MSs. Will not search further ...
sent 42 bytes  received 2048 bytes  20480.00 bytes/sec
total size is 1024  speedup is 1.00
Staging of calibrated MS(s) for 2019.1.00001.S uid___A001_X1_X1 helpdesk ticket #16001 \
completed at http://example.org/preview/0123abcd
"""


def mailbot(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    env["MAILBOT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An embedded setup whose journal holds the fixture's requests."""
    fill(tmp_path / "journal.sqlite")
    return tmp_path


def test_report_writes_the_page_and_the_csv_of_a_window(home: Path) -> None:
    out = home / "out"
    done = mailbot("report", "--since", "2024-03-01", "--until", "2024-03-31",
                   "--html", str(out / "sheet.html"), "--csv", str(out / "stats.csv"),
                   home=home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2024-03     4 request(s)    1 staged    2 failed attempt(s)")
    assert f"HTML: {out / 'sheet.html'}" in lines
    assert f"CSV: {out / 'stats-months.csv'}" in lines and len(
        [line for line in lines if line.startswith("CSV: ")]) == 11
    page = (out / "sheet.html").read_text(encoding="utf-8")
    assert "received from 2024-03-01 to 2024-03-31" in page
    with (out / "stats-months.csv").open(encoding="utf-8-sig", newline="") as f:
        assert [r["month"] for r in csv.DictReader(f)] == ["2024-03"]
    assert not list(out.glob(".*.tmp")), "no temporary file is left behind"


def test_report_refuses_bad_dates_and_an_upside_down_window(home: Path) -> None:
    bad = mailbot("report", "--since", "2024-13-01", home=home)
    assert bad.returncode == 2 and "not a day YYYY-MM-DD: '2024-13-01'" in bad.stderr
    upside = mailbot("report", "--since", "2024-04-01", "--until", "2024-03-01", home=home)
    assert upside.returncode == 2
    assert upside.stderr == "mailbot: --until 2024-03-01 is before --since 2024-04-01\n"


def test_report_names_a_file_it_cannot_write(home: Path) -> None:
    (home / "taken").write_text("a file, not a directory")
    done = mailbot("report", "--html", str(home / "taken" / "sheet.html"), home=home)
    assert done.returncode == 1
    assert done.stderr.startswith(f"mailbot: cannot write {home / 'taken' / 'sheet.html'}")


def test_report_on_a_fresh_home_writes_an_empty_page_and_no_journal(tmp_path: Path) -> None:
    done = mailbot("report", "--html", str(tmp_path / "sheet.html"), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "(no journal yet: no request was handled)"
    assert "nothing in this window" in (tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert not (tmp_path / "journal.sqlite").exists()


def test_demo_writes_the_sheet_and_says_where(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    done = mailbot("demo", "--dir", str(directory), "--duration", "0.1", home=tmp_path)
    assert done.returncode == 0, done.stderr
    sheet = directory.resolve() / "report.html"
    assert f"stats sheet: {sheet}" in done.stdout
    page = sheet.read_text(encoding="utf-8")
    assert 'id="chart-months"' in page and "INVALID MOUS UID" in page


def test_a_finished_staging_records_its_reuse(tmp_path: Path) -> None:
    """What the scheduler stores from stagecalms' output is what the sheet reads back."""
    fill(tmp_path / "journal.sqlite")
    journal = Journal(tmp_path / "journal.sqlite",
                      clock=FixedClock(datetime(2024, 4, 12, 13, 0, tzinfo=UTC)))
    try:
        waiting = 10  # R10 of the fixture: its job waits for a slot
        job_id = next(a.job for r in journal.request_facts() if r.id == waiting
                      for a in r.attempts)
        journal.job_launched(job_id, job_dir="/jobs/x", pid=1, command="stagecalms.sh")
        result = stage.parse_output(REUSE_OUTPUT, 0)
        assert result.ok, result.problems
        journal.job_finished(job_id, result, REUSE_OUTPUT)
        (attempt,) = next(r for r in journal.request_facts() if r.id == waiting).attempts
    finally:
        journal.close()
    assert (attempt.reused, attempt.ebs, attempt.total_bytes) == (1, 2, 1024)


def test_migration_3_recovers_the_reuse_of_jobs_of_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.sqlite"
    before = tuple(m for m in MIGRATIONS if m.number < 3)
    with monkeypatch.context() as patch:
        patch.setattr(db, "MIGRATIONS", before)
        patch.setattr(db, "SCHEMA_VERSION", before[-1].number)
        Journal(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO requests(id, mous, project, calfields, user_name, user_email,"
                     " ticket, arc_contact, cc, received, origin, verdict, check_name, detail,"
                     " state, created, updated) VALUES (1, 'uid://A001/X1/X1', '2019.1.00001.S',"
                     " '', 'U', 'u@example.org', '16001', 'arc@example.org', '[]',"
                     " '2024-01-01T00:00:00+00:00', '{}', 'STAGE', 'fixture', '{}', 'completed',"
                     " '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')")
        conn.executemany("INSERT INTO jobs(id, request, state, command, queued, output)"
                         " VALUES (?, 1, ?, 'stagecalms.sh', '2024-01-01T00:00:00+00:00', ?)",
                         [(1, "succeeded", REUSE_OUTPUT), (2, "running", None)])
    conn.close()
    journal = Journal(path)
    try:
        assert 3 in journal.migrated
        (request,) = journal.request_facts()
    finally:
        journal.close()
    assert [(a.job, a.reused, a.ebs) for a in request.attempts] == [(1, 1, 2), (2, None, None)]
