"""A server that goes down in the middle of a run: IMAP, SMTP, the staging host, the archive.

The bot (the real command line, through `tests.faults`) is held at a fault
point once the run is under way and has used the server; the test stops the
server, lets the bot go on, and the run must end with exit status 75 and one
line naming what is down. With the server back, the next runs finish the work,
and `tests.workload.verify` finds every request served exactly once, nothing
staged twice, nothing else touched and nothing half done.

The servers are this module's own (the others' are not to be stopped): a
Dovecot, an SMTP server and an sshd that each test may stop and start again.
The archive is the SQLite file: it "goes down" by becoming unreadable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailbot.archive import demo as demo_archive
from mailbot.faults import Point
from mailbot.model import VerdictCode
from tests import faults
from tests.installation import Installation
from tests.servers.dovecot import DovecotService, dovecot_service
from tests.servers.smtp import SmtpService, smtp_service
from tests.servers.sshd import SshService, sshd_service
from tests.workload import Expected, deliver, verify

CASES = [next(c for c in demo_archive.DEMO_CASES if c.expected is code and not c.calfields)
         for code in (VerdictCode.STAGE, VerdictCode.INVALID_MOUS, VerdictCode.CYCLE_0,
                      VerdictCode.NOT_ENTITLED)]
CASES.insert(1, next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE
                     and c.mous != CASES[0].mous and not c.calfields))


@dataclass
class Services:
    imap: DovecotService
    smtp: SmtpService
    ssh: SshService


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    dirs = [Path(tempfile.mkdtemp(prefix="mailbot-test-")) for _ in range(2)]
    for directory in dirs:
        directory.chmod(0o755)  # Dovecot's auth process must enter it
    try:
        with dovecot_service(dirs[0]) as imap, smtp_service() as smtp, \
                sshd_service(dirs[1]) as ssh:
            yield Services(imap, smtp, ssh)
    finally:
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bot(services: Services, tmp_path: Path) -> Iterator[tuple[Installation, Expected]]:
    services.imap.server.reset()
    services.smtp.server.clear()
    inst = Installation(tmp_path, services.imap.server, services.smtp.server,
                        services.ssh.server)
    yield inst, deliver(inst, CASES, extras=False)


def held_run(inst: Installation, point: Point, nth: int,
             meanwhile: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    """`mailbot run`, held at the nth reach of `point` while `meanwhile` happens."""
    with faults.pause() as held:
        env = {**inst.env, faults.ENV: held.at(point, nth).spec()}
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults", "--config", str(inst.config), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**{k: v for k, v in os.environ.items() if k != faults.ENV}, **env})
        try:
            assert held.reached() is point
            meanwhile()
            held.go_on()
            out, err = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def finish(inst: Installation, expected: Expected) -> None:
    """Runs with every server up until the bot is idle; then the whole check."""
    deadline = time.monotonic() + 60
    while True:
        done = inst.cli("run")
        assert done.returncode == 0 and done.stderr == "", done.stderr
        if inst.idle():
            break
        assert time.monotonic() < deadline, inst.busy()
        deadline_rc = time.monotonic() + 30
        while not all((d / "rc").exists() for d in inst.running_job_dirs()):
            assert time.monotonic() < deadline_rc, inst.busy()
            time.sleep(0.02)
    findings = verify(inst, expected, Counter())
    assert findings.wrong == [] and findings.resends == 0, findings


def assert_one_line(done: subprocess.CompletedProcess[str], party: str) -> None:
    assert done.returncode == 75, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mailbot: {party} unavailable: "), lines


def test_imap_going_down_mid_run(services: Services,
                                 bot: tuple[Installation, Expected]) -> None:
    inst, expected = bot
    # The second mail read: the first is recorded and flagged, the session is open.
    done = held_run(inst, Point.FETCHED, 2, services.imap.stop)
    services.imap.start()
    assert_one_line(done, "IMAP server")
    # Mail already fetched (a batch is read in one FETCH) is recorded, none of it marked
    # yet: the next run marks it and reads the rest, nothing lost or doubled (finish).
    [(recorded,)] = inst.query("SELECT COUNT(*) FROM messages")
    assert recorded >= 2
    finish(inst, expected)


def test_smtp_going_down_mid_run(services: Services,
                                 bot: tuple[Installation, Expected]) -> None:
    inst, expected = bot
    # The second mail claimed for sending, before its DATA: the first has left.
    done = held_run(inst, Point.SENDING, 2, services.smtp.stop)
    services.smtp.start()
    assert_one_line(done, "SMTP server")
    assert len(services.smtp.server.messages) == 1
    assert inst.query("SELECT COUNT(*) FROM outbox WHERE state = 'sending'") == [(0,)]
    finish(inst, expected)


def test_staging_host_going_down_mid_run(services: Services,
                                         bot: tuple[Installation, Expected]) -> None:
    inst, expected = bot
    # The first staging started on the host, its pid not yet recorded.
    done = held_run(inst, Point.LAUNCH_BEFORE_PID, 1, services.ssh.stop)
    services.ssh.start()
    assert_one_line(done, "staging host")
    assert inst.query("SELECT state FROM jobs ORDER BY id") == [("running",), ("waiting",)]
    finish(inst, expected)


def test_archive_going_down_mid_run(bot: tuple[Installation, Expected]) -> None:
    inst, expected = bot
    content = inst.archive.read_bytes()

    def unreadable() -> None:
        # The volume the archive lives on goes away under the open connection.
        inst.archive.write_bytes(b"\0" * len(content))

    # The second request read: the first was judged, the archive is open.
    done = held_run(inst, Point.FETCHED, 2, unreadable)
    inst.archive.write_bytes(content)
    assert_one_line(done, "archive database")
    assert inst.query("SELECT COUNT(*) FROM requests") == [(1,)], "the rest waits"
    finish(inst, expected)
