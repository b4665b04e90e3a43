"""A whole bot against the real servers, for the crash harness and the outage tests.

IMAP in (Dovecot, requests moved to a processed folder once recorded) and a
trigger directory, the seeded SQLite archive, stagings by the stagecalms
simulator through sshd, SMTP out, review copies in an IMAP folder: every step
a run can take, each against the real thing. The bot runs as its own process
through `tests.faults` (so that a test can kill it or hold it at a fault point),
either as the command line in a fresh interpreter (`cli`) or forked from a warm
server process (`forked`: the same code, without the import time of each run).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mailbot.archive import demo as demo_archive
from tests import faults
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.servers.sshd import SshServer
from tests.settings import (
    PAST,
    imap_table,
    simulator_command,
    smtp_table,
    ssh_table,
    write_settings,
)

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
NO_REPLY = "no_reply@example.org"
PROCESSED = "Mailbot/Done"
REVIEW = "Mailbot/Sent"
PASSWORD_ENV = "MAILBOT_IMAP_PASSWORD"

# One warm process, forked for each bot run: it has imported the bot already.
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.faults", "mailbot.cli.main", "mailbot.run",
                               "mailbot.stage", "mailbot.archive", "paramiko", "imapclient"])


@dataclass(frozen=True)
class Ran:
    """How one bot process ended: its exit status (-9: killed), its output, where it died."""

    status: int
    output: str
    killed_at: faults.Point | None


class Installation:
    """One bot installation in a directory, with its settings for the given servers."""

    def __init__(self, tmp: Path, imap: ImapServer, smtp: SmtpServer, sshd: SshServer,
                 *, duration: float = 0.1) -> None:
        self.tmp = tmp
        self.imap = imap
        self.smtp = smtp
        self.sshd = sshd
        self.triggers = tmp / "triggers"
        self.triggers.mkdir(parents=True, exist_ok=True)
        self.staging_root = tmp / "staging"  # the simulator's state on the "staging host"
        self.jobs_dir = tmp / "jobs"
        self.archive = tmp / "alma.sqlite"
        demo_archive.seed(self.archive)
        self.config = write_settings(tmp / "mailbot.toml", {
            "mailbot": {"data_dir": tmp, "cutover": PAST},
            "addresses": {"aog": AOG, "maintainer": MAINTAINER, "no_reply": NO_REPLY},
            "inbox": {"sources": ["imap", "triggers"],
                      "imap": imap_table(imap, processed_folder=PROCESSED, retry_seconds=1),
                      "triggers": {"path": self.triggers}},
            "archive": {"url": f"sqlite:///{self.archive}", "retry_seconds": 1},
            "staging": {"transport": "ssh", "slots": 2, "jobs_dir": self.jobs_dir,
                        "command": simulator_command(self.staging_root, duration),
                        "ssh": ssh_table(sshd, retry_seconds=1)},
            "outbox": {"transport": "smtp", "smtp": smtp_table(smtp, retry_seconds=1),
                       "review": {"copy_to": "imap", "imap_folder": REVIEW}},
            # A day's workload comes from one ARC contact: no sender limit in the way.
            "limits": {"requests_per_day": 1000, "requests_per_run": 1000},
        })

    @property
    def env(self) -> dict[str, str]:
        return {PASSWORD_ENV: self.imap.password}

    # -- running the bot ---------------------------------------------------------------------
    def cli(self, *args: str,
            fault: faults.Fault | None = None) -> subprocess.CompletedProcess[str]:
        """The command line in a fresh interpreter, with `fault` armed."""
        env = {**os.environ, **self.env}
        env.pop(faults.ENV, None)
        if fault is not None:
            env[faults.ENV] = fault.spec()
        return subprocess.run(
            [sys.executable, "-m", "tests.faults", "--config", str(self.config), *args],
            capture_output=True, text=True, env=env, timeout=120, check=False)

    def forked(self, fault: faults.Fault | None = None) -> Ran:
        """`mailbot run` forked from the warm process, with `fault` armed."""
        output, died = self.tmp / "run.out", self.tmp / "died-at"
        died.unlink(missing_ok=True)
        env = {**self.env, faults.LOG_ENV: str(died), faults.ENV: fault.spec() if fault else ""}
        process = _FORKS.Process(target=faults.run_bot,
                                 args=(["--config", str(self.config), "run"], env, str(output)))
        process.start()
        process.join(120)
        if process.exitcode is None:
            process.kill()
            raise AssertionError(f"the bot did not end: {output.read_text()}")
        killed_at = faults.Point(died.read_text()) if died.exists() else None
        return Ran(process.exitcode, output.read_text(errors="replace"), killed_at)

    # -- what the bot recorded ------------------------------------------------------------
    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        path = self.tmp / "journal.sqlite"
        if not path.exists():
            return []
        db = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            return [tuple(row) for row in db.execute(sql, params)]
        finally:
            db.close()

    def idle(self) -> bool:
        """Nothing left to do: no staging to follow, no mail to send or copy, no trigger file."""
        busy = self.query(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE state IN ('waiting', 'running'))"
            " + (SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')"
            "    OR (state = 'sent' AND copied = 0))")
        return bool(busy) and busy[0][0] == 0 and not any(self.triggers.iterdir())

    def busy(self) -> str:
        """What keeps the bot from being idle, for a message."""
        jobs = self.query("SELECT id, state, pid, job_dir FROM jobs"
                          " WHERE state IN ('waiting', 'running')")
        mails = self.query("SELECT id, state, copied, error FROM outbox WHERE state IN"
                           " ('queued', 'sending') OR (state = 'sent' AND copied = 0)")
        return f"jobs {jobs}, mails {mails}, trigger files {sorted(self.triggers.iterdir())}"

    def running_job_dirs(self) -> list[Path]:
        return [Path(str(d)) for (d,) in self.query(
            "SELECT job_dir FROM jobs WHERE state = 'running' AND job_dir IS NOT NULL")]
