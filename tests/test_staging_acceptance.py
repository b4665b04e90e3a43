"""Staging over SSH, accepted end to end: two slots, one MOUS at a time, crashes, failures.

Each test drives the REAL command line (`python -m mailbot --config FILE run`,
`watch`, `requests`, `retry`, `cancel`) in subprocesses, with requests dropped
into the Maildir inbox, the seeded SQLite demo archive, the stagecalms
simulator reached through the real OpenSSH sshd, and the real SMTP server
receiving what leaves. What happened on the staging host is read from the
simulator's `runs.log` (one line per start and end of a staging) and from the
job directories; what the bot believes, from its journal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot import config as cfg
from mailbot import faults, grammar, stage
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.errors import SshError
from mailbot.journal import Journal
from mailbot.model import Malformed, Request, VerdictCode, mous_file_form
from mailbot.run import run_once
from mailbot.scheduler import cancel
from tests.mails import body, parse
from tests.servers.smtp import Received, SmtpServer
from tests.servers.sshd import SshServer
from tests.settings import (
    PAST,
    changed,
    config_in,
    simulator_command,
    smtp_table,
    ssh_table,
    write_settings,
)

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
NO_REPLY = "no_reply@example.org"
ARC = "arc.contact@example.org"  # the sender of mailbot.demo.request_mail
DURATION = 0.3  # seconds per simulated staging
ECHO = "printf '[%s]\\n'"  # as a "stagecalms" command: shows each argv word it received


def case(mous: str, project: str, user: str, email: str, ticket: str,
         calfields: tuple[str, ...] = ()) -> demo_archive.DemoCase:
    return demo_archive.DemoCase(f"ticket {ticket}", VerdictCode.STAGE, mous, project,
                                 user, email, ticket, calfields)


# Five requests the seeded archive accepts; the first two are for the same MOUS.
FIRST = case("uid://A001/X1296/X675", "2017.1.00727.S", "Judit Szulágyi",
             "judit.szulagyi@example.org", "16140")
SAME_MOUS = case("uid://A001/X1296/X675", "2017.1.00727.S", "Lina Kärrström",
                 "lina.karrstrom@example.org", "16153")
OTHER_1 = case("uid://A001/X1296/X67b", "2017.1.00727.S", "Lina Kärrström",
               "lina.karrstrom@example.org", "16152")
OTHER_2 = case("uid://A001/X87a/X4c1", "2016.1.00484.L", "Anna Müller",
               "anna.mueller@example.org", "16203")
OTHER_3 = case("uid://A001/X133d/X3cf3", "2018.1.01406.S", "Katarzyna Wójcik",
               "k.wojcik@example.org", "18712")
FIVE = (FIRST, SAME_MOUS, OTHER_1, OTHER_2, OTHER_3)


@dataclass(frozen=True)
class Event:
    """One line of the simulator's runs.log: `ISO start|end MOUS TICKET PID [status=N]`."""

    when: datetime
    what: str
    mous: str
    ticket: str
    pid: int
    status: int | None


class Bot:
    """One bot installation in a temporary directory, driven through its command line."""

    def __init__(self, tmp: Path, smtp: SmtpServer, sshd: SshServer) -> None:
        self.tmp = tmp
        self.smtp = smtp
        self.sshd = sshd
        self.root = tmp / "staging"  # the simulator's ROOT on the staging host
        self.jobs_dir = tmp / "jobs"
        self.config = tmp / "mailbot.toml"
        self.sent: dict[str, str] = {}  # ticket -> Message-ID of the request mail
        self._mails = 0
        demo_archive.seed(tmp / "alma.sqlite")
        self.configure()

    # -- setup ------------------------------------------------------------------
    def configure(self, *, known_hosts: Path | None = None, duration: float = DURATION,
                  jobs_dir: Path | None = None, sources: Sequence[str] = ("maildir",)) -> None:
        ssh = ssh_table(self.sshd, known_hosts=known_hosts or self.sshd.known_hosts,
                        connect_timeout=5)
        write_settings(self.config, {
            "mailbot": {"data_dir": self.tmp, "cutover": PAST},
            "addresses": {"aog": AOG, "maintainer": MAINTAINER, "no_reply": NO_REPLY},
            "inbox": {"sources": sources, "triggers": {"path": self.tmp / "triggers"}},
            "archive": {"url": f"sqlite:///{self.tmp}/alma.sqlite"},
            "staging": {"transport": "ssh", "command": simulator_command(self.root, duration),
                        "slots": 2, "jobs_dir": jobs_dir or self.jobs_dir, "ssh": ssh},
            "outbox": {"transport": "smtp", "smtp": smtp_table(self.smtp, retry_seconds=1),
                       "review": {"copy_to": "none"}},
            # The hostile-calfield test sends more malformed mails than one sender
            # normally gets answered in a day.
            "replies": {"malformed_per_day": 100},
        })

    def loaded(self) -> cfg.Config:
        return cfg.load(self.config)

    def send(self, request: demo_archive.DemoCase, *, raw: bytes | None = None) -> str:
        """Deliver a request mail into the Maildir (arrival order = call order)."""
        raw = raw or request_mail(request, aog=AOG, maintainer=MAINTAINER)
        maildir = self.tmp / "inbox"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self._mails += 1
        name = f"{int(time.time())}.test{self._mails:03d}.acceptance"
        (maildir / "tmp" / name).write_bytes(raw)
        stamp = time.time() - 1000 + self._mails
        os.utime(maildir / "tmp" / name, (stamp, stamp))
        os.replace(maildir / "tmp" / name, maildir / "new" / name)
        message_id = str(parse(raw)["Message-ID"])
        self.sent[request.ticket] = message_id
        return message_id

    # -- the command line -------------------------------------------------------
    def cli(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailbot", "--config", str(config or self.config), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )

    def watch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(self.config), "watch",
             "--interval", "0.2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def run(self) -> None:
        done = self.cli("run")
        assert done.returncode == 0, done.stderr

    def run_until(self, condition: Callable[[], bool], limit: float = 30) -> int:
        deadline = time.monotonic() + limit
        runs = 0
        while not condition():
            assert time.monotonic() < deadline, f"not reached after {runs} runs: {self.jobs()}"
            self.run()
            runs += 1
        return runs

    def settle(self, limit: float = 30) -> None:
        """`mailbot watch` until the bot is idle (one process: no start-up cost per pass)."""
        watch = self.watch()
        try:
            deadline = time.monotonic() + limit
            while not self.idle():
                assert watch.poll() is None, watch.communicate()[1]
                assert time.monotonic() < deadline, f"not idle: {self.jobs()}"
                time.sleep(0.05)
        finally:
            watch.terminate()
            watch.wait(10)

    def idle(self) -> bool:
        """No mail left in the inbox, no job waiting or running, no mail waiting to leave."""
        new = self.tmp / "inbox" / "new"
        if not self.journal_path.exists() or (new.is_dir() and any(new.iterdir())):
            return False
        active = self.query("SELECT COUNT(*) FROM jobs WHERE state IN ('waiting', 'running')")
        queued = self.query("SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'held')")
        return bool(active[0][0] == 0 and queued[0][0] == 0)

    # -- what the bot recorded ----------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.tmp / "journal.sqlite"

    def query(self, sql: str, *params: object) -> list[sqlite3.Row]:
        # mode=rw: never create the journal; that is the bot's business.
        db = sqlite3.connect(f"{self.journal_path.as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, params))
        finally:
            db.close()

    def some_job_running(self) -> bool:
        """Whether the journal shows a running job (False while the bot creates it)."""
        try:
            return bool(self.query("SELECT 1 FROM jobs WHERE state = 'running'"))
        except sqlite3.OperationalError:  # no journal yet, or no tables in it yet
            return False

    def jobs(self) -> list[sqlite3.Row]:
        return self.query(
            "SELECT j.*, r.ticket, r.mous, r.state AS request_state, r.message_id"
            " FROM jobs j JOIN requests r ON r.id = j.request ORDER BY j.id")

    def job(self, ticket: str, attempt: int = 1) -> sqlite3.Row:
        return next(j for j in self.jobs() if j["ticket"] == ticket and j["attempt"] == attempt)

    # -- what happened on the staging host and on the wire -----------------------------
    def events(self) -> list[Event]:
        log = self.root / "runs.log"
        events = []
        for line in (log.read_text().splitlines() if log.exists() else []):
            words = line.split()
            status = int(words[5].removeprefix("status=")) if len(words) > 5 else None
            events.append(Event(datetime.fromisoformat(words[0]), words[1], words[2], words[3],
                                int(words[4]), status))
        return events

    def mails(self, kind: str) -> list[tuple[Received, EmailMessage]]:
        found = []
        for mail in self.smtp.messages:
            msg = parse(mail.data)
            if str(msg["Message-ID"]).startswith(f"<mailbot.{kind}."):
                found.append((mail, msg))
        return found

    def kill_stagings(self) -> None:
        """Leave no simulated staging behind: each job is a session led by its pid."""
        with contextlib.suppress(sqlite3.Error):
            for job in self.query("SELECT pid FROM jobs WHERE pid > 0"):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job["pid"], signal.SIGKILL)




def staging_host_down() -> stage.Transport:
    """A transport factory for runs that must record requests and launch nothing."""
    raise SshError("down for the test")


def alive(pid: int) -> bool:
    """A live process (a zombie left by a non-reaping init does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def one_completion_each(bot: Bot, tickets: list[str]) -> dict[str, str]:
    """Exactly one completion mail per request, threaded to it; returns ticket -> URL."""
    completions = bot.mails("completion")
    ids = Counter(str(msg["Message-ID"]) for _, msg in completions)
    assert all(n == 1 for n in ids.values()), ids
    per_request = Counter(str(msg["In-Reply-To"]) for _, msg in completions)
    assert per_request == Counter(bot.sent[t] for t in tickets)
    urls = {}
    for mail, msg in completions:
        ticket = next(t for t in tickets if bot.sent[t] == str(msg["In-Reply-To"]))
        found = re.search(r"https?://\S+/preview/[0-9a-f]{32}", body(msg))
        assert found, body(msg)
        urls[ticket] = found.group()
        assert msg["Subject"].endswith(f", helpdesk ticket {ticket}")
        assert msg["Reply-To"] == NO_REPLY
        assert {ARC, MAINTAINER, AOG} <= set(mail.rcpt_tos)
    return urls


@pytest.fixture
def bot(tmp_path: Path, smtp: SmtpServer, sshd: SshServer) -> Iterator[Bot]:
    installed = Bot(tmp_path, smtp, sshd)
    try:
        yield installed
    finally:
        installed.kill_stagings()


# ---------------------------------------------------------------------------
# 1. Two slots, FIFO, one MOUS at a time, reuse by the later request


def test_five_requests_two_slots_one_mous_at_a_time(bot: Bot) -> None:
    for request in FIVE:
        bot.send(request)
    bot.run()
    # Both slots taken at once, by the first two MOUSs; the same MOUS's second request waits.
    assert [(j["ticket"], j["state"]) for j in bot.jobs()] == [
        (FIRST.ticket, "running"), (SAME_MOUS.ticket, "waiting"), (OTHER_1.ticket, "running"),
        (OTHER_2.ticket, "waiting"), (OTHER_3.ticket, "waiting")]
    runs = bot.run_until(bot.idle)
    assert runs >= 2, "stagings run detached: no run waits for one"

    jobs = bot.jobs()
    assert [(j["ticket"], j["state"], j["request_state"]) for j in jobs] == [
        (r.ticket, "succeeded", "completed") for r in FIVE]

    events = bot.events()
    starts = [e for e in events if e.what == "start"]
    assert sorted(e.ticket for e in starts) == sorted(r.ticket for r in FIVE), "one start each"
    running: dict[int, str] = {}
    peak = 0
    for event in events:
        if event.what == "start":
            assert event.mous not in running.values(), f"two stagings of {event.mous} at once"
            running[event.pid] = event.mous
            peak = max(peak, len(running))
        else:
            assert event.status == 0
            del running[event.pid]
    assert running == {} and peak <= 2

    # FIFO by arrival: the order in which the bot launched the jobs (their command
    # files on the staging host) is the arrival order, except that the second
    # request for the shared MOUS waits until the first one has ended.
    launched = sorted(jobs, key=lambda j: (Path(j["job_dir"]) / "command").stat().st_mtime_ns)
    assert [j["ticket"] for j in launched if j["ticket"] != SAME_MOUS.ticket] == [
        FIRST.ticket, OTHER_1.ticket, OTHER_2.ticket, OTHER_3.ticket]
    first_end = next(e.when for e in events if e.what == "end" and e.ticket == FIRST.ticket)
    second_start = next(e.when for e in starts if e.ticket == SAME_MOUS.ticket)
    assert second_start > first_end

    # The later request profited from stagecalms' reuse of the first one's MSs.
    first, second = bot.job(FIRST.ticket), bot.job(SAME_MOUS.ticket)
    assert "Found pre-existing" not in first["output"]
    assert "Found pre-existing" in second["output"]
    reused = [Path(p) for p in re.findall(r"Found pre-existing (\S+)", second["output"])]
    assert reused and all(p.stat().st_nlink == 2 for p in reused), "hard links, not copies"

    urls = one_completion_each(bot, [r.ticket for r in FIVE])
    assert len(set(urls.values())) == 5, "each staging has its own download directory"
    for job in jobs:
        assert urls[job["ticket"]] == job["url"]
        assert (bot.root / "preview" / job["url"].rsplit("/", 1)[1]).is_dir()
    assert len(bot.smtp.messages) == 5, "completion mails only"

    bot.run()
    assert len(bot.smtp.messages) == 5, "a later run sends nothing again"


# ---------------------------------------------------------------------------
# 2. The bot killed while stagings run


def test_bot_killed_while_stagings_run_finishes_each_once(bot: Bot) -> None:
    bot.configure(duration=0.6)
    for request in FIVE:
        bot.send(request)
    watch = bot.watch()
    try:
        deadline = time.monotonic() + 20
        while not bot.some_job_running():
            assert time.monotonic() < deadline and watch.poll() is None, "no job started"
            time.sleep(0.02)
    finally:
        watch.send_signal(signal.SIGKILL)
        watch.wait()
    assert watch.returncode == -signal.SIGKILL
    running = [j for j in bot.jobs() if j["state"] == "running"]
    assert running and bot.smtp.messages == []
    # With no bot alive, the stagings go on and end with their exit status.
    deadline = time.monotonic() + 15
    for job in running:
        rc = Path(job["job_dir"]) / "rc"
        while not rc.exists():
            assert time.monotonic() < deadline, f"{rc} not written"
            time.sleep(0.05)
        assert rc.read_text().strip() == "0"

    again = bot.watch()
    try:
        bot.smtp.wait_for(5, timeout=30)
        time.sleep(0.5)  # room for a sixth mail, if one were to come
    finally:
        again.terminate()
        again.wait(10)
    bot.run()
    assert bot.idle()
    assert [j["state"] for j in bot.jobs()] == ["succeeded"] * 5
    starts = Counter(e.ticket for e in bot.events() if e.what == "start")
    assert starts == Counter(r.ticket for r in FIVE), "no staging launched twice"
    urls = one_completion_each(bot, [r.ticket for r in FIVE])
    assert len(set(urls.values())) == 5
    assert len(bot.smtp.messages) == 5


def test_launch_that_reached_the_host_before_a_crash_is_not_repeated(bot: Bot) -> None:
    """The bot died after the staging host started a job and before the journal said so."""
    bot.send(FIRST)
    config = bot.loaded()
    assert run_once(config, transport_factory=staging_host_down).outages  # records, no launch
    job = bot.job(FIRST.ticket)
    assert job["state"] == "waiting"
    journal = Journal(config.path(config.mailbot.journal))
    try:
        name = journal.job(job["id"]).name
    finally:
        journal.close()
    transport = stage.open_transport(config)
    try:  # what the dead run did: the launch, and nothing after it
        first = stage.launch(transport, str(bot.jobs_dir), name, job["command"])
    finally:
        transport.close()
    assert first.started

    bot.run()
    recorded = bot.job(FIRST.ticket)
    assert (recorded["state"], recorded["pid"], recorded["job_dir"]) in [
        ("running", first.pid, first.job_dir), ("succeeded", first.pid, first.job_dir)]
    bot.settle()
    assert [e.ticket for e in bot.events() if e.what == "start"] == [FIRST.ticket]
    one_completion_each(bot, [FIRST.ticket])


class _Died(Exception):
    """The bot, stopped at a fault point."""


def test_a_running_job_whose_start_never_happened_is_started_once(bot: Bot) -> None:
    """Its directory was prepared and nothing started it: the next poll starts it."""
    bot.send(FIRST)
    config = bot.loaded()

    def die_after_mkdir(point: faults.Point) -> None:
        if point is faults.Point.LAUNCH_AFTER_MKDIR:
            raise _Died(point)

    faults.install(die_after_mkdir)
    try:
        with pytest.raises(_Died):
            run_once(config)
    finally:
        faults.install(None)
    job = bot.job(FIRST.ticket)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        job_dir = bot.jobs_dir / journal.job(job["id"]).name
        assert sorted(p.name for p in job_dir.iterdir()) == ["command", "job.sh"]
        with journal.transaction():  # as if its start had been sent and lost
            journal.job_launched(job["id"], job_dir=str(job_dir), pid=None,
                                 command=job["command"])
    finally:
        journal.close()

    bot.settle()
    assert bot.job(FIRST.ticket)["state"] == "succeeded"
    assert [e.ticket for e in bot.events() if e.what == "start"] == [FIRST.ticket]
    one_completion_each(bot, [FIRST.ticket])


# ---------------------------------------------------------------------------
# 3. A failing staging: the maintainer's mail, then a retry


def test_failed_staging_mails_the_maintainer_once_and_a_retry_completes(bot: Bot) -> None:
    bot.root.mkdir()
    (bot.root / "fail").write_text(f"{FIRST.ticket}\n")
    bot.send(FIRST)
    bot.send(OTHER_1)
    bot.settle()

    failed = bot.job(FIRST.ticket)
    assert (failed["state"], failed["request_state"], failed["exit_status"]) == (
        "failed", "failed", 1)
    failures = bot.mails("failure")
    assert len(failures) == 1
    mail, msg = failures[0]
    assert sorted(mail.rcpt_tos) == sorted([MAINTAINER, AOG])
    assert [a for _, a in getaddresses([str(msg["To"])])] == [MAINTAINER]
    assert [a for _, a in getaddresses([str(msg["Cc"])])] == [AOG]
    text = body(msg)
    out_log = (Path(failed["job_dir"]) / "out.log").read_text()
    assert out_log == failed["output"]
    assert "Failed. Please investigate" in out_log
    assert out_log.rstrip("\n") in text, "the ENTIRE terminal output"
    assert failed["command"] in text, "the command line that was run"
    assert f"mailbot retry {failed['id']}" in text
    one_completion_each(bot, [OTHER_1.ticket])  # the other request is not held up

    bot.run()
    assert len(bot.mails("failure")) == 1, "the failure is mailed once"

    (bot.root / "fail").write_text("")
    retried = bot.cli("retry", str(failed["id"]))
    assert retried.returncode == 0, retried.stderr
    twice = bot.cli("retry", str(failed["id"]))
    assert twice.returncode == 1 and "already retried" in twice.stderr
    bot.settle()

    second = bot.job(FIRST.ticket, attempt=2)
    assert (second["state"], second["request_state"]) == ("succeeded", "completed")
    one_completion_each(bot, [FIRST.ticket, OTHER_1.ticket])
    assert len(bot.mails("failure")) == 1
    assert Counter(e.ticket for e in bot.events() if e.what == "start") == Counter(
        {FIRST.ticket: 2, OTHER_1.ticket: 1})


# ---------------------------------------------------------------------------
# 4. Nothing of a mail reaches the staging host's shell


def hostile_mail(calfield: str, ticket: str) -> bytes:
    raw = request_mail(case(FIRST.mous, FIRST.project, FIRST.user_name, FIRST.user_email,
                            ticket), aog=AOG, maintainer=MAINTAINER)
    msg = parse(raw)
    text = body(msg).replace(f"project {FIRST.project}\n",
                             f"project {FIRST.project}\ncalfield {calfield}\n")
    msg.set_content(text, charset="utf-8")
    return bytes(msg)


def test_shell_in_a_calfield_makes_the_mail_malformed(bot: Bot) -> None:
    marker = bot.tmp / "x"
    hostile = [f"J0510+1800;touch {marker}", f"J0510+1800,$(touch {marker})",
               f"`touch {marker}`", f"J0510+1800 && touch {marker}", f"J0510+1800|touch {marker}",
               "J0510+1800'\"", "J0510+1800>x"]
    for n, calfield in enumerate(hostile):
        bot.send(case(FIRST.mous, FIRST.project, FIRST.user_name, FIRST.user_email,
                      f"{17000 + n}"), raw=hostile_mail(calfield, f"{17000 + n}"))
    bot.run()

    kinds = bot.query("SELECT kind, COUNT(*) AS n FROM messages GROUP BY kind")
    assert {r["kind"]: r["n"] for r in kinds} == {"malformed": len(hostile)}
    assert bot.query("SELECT COUNT(*) FROM requests")[0][0] == 0
    assert bot.query("SELECT COUNT(*) FROM jobs")[0][0] == 0
    replies = bot.mails("malformed")
    assert len(replies) == len(hostile) == len(bot.smtp.messages)
    assert all(ARC in mail.rcpt_tos for mail, _ in replies)
    assert all(body(msg).splitlines()[0] == "MALFORMED REQUEST" for _, msg in replies)
    assert not marker.exists()
    assert not bot.jobs_dir.exists() and not bot.root.exists(), "nothing ran on the host"


def admitted_field_characters() -> str:
    """Every character the grammar lets into a calfield, found by asking the grammar."""
    # All of printable ASCII (the space and the comma separate fields), and letters,
    # digits and punctuation from elsewhere that look like admitted ones.
    candidates = [chr(c) for c in range(0x21, 0x7F) if chr(c) != ","]
    candidates += list("\u00a0\u00b5\u00e9\u00f8\u00df\u0131\u017f\u0660\u0967\u2010"
                       "\u2011\u2012\u2024\u2212\u2215\u2219\u2019\uff0b\uff0d\uff10\uff21")
    admitted = []
    for char in candidates:
        parsed = grammar.parse_message(hostile_mail(f"J0510{char}1800", "16140"),
                                       received=datetime.now(UTC))
        if isinstance(parsed, Request):
            admitted.append(char)
        else:
            assert isinstance(parsed, Malformed), parsed
    return "".join(admitted)


@pytest.fixture(scope="module")
def ssh_transport(sshd: SshServer, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[stage.Transport]:
    ssh = {"host": sshd.host, "port": sshd.port, "user": sshd.user,
           "key_file": str(sshd.key_file), "known_hosts": str(sshd.known_hosts),
           "connect_timeout": 5, "retry_seconds": 2}
    config = config_in(tmp_path_factory.mktemp("quoting"), staging={"transport": "ssh", "ssh": ssh})
    transport = stage.open_transport(config)
    yield transport
    transport.close()


def test_every_admitted_character_reaches_the_host_verbatim(
    ssh_transport: stage.Transport, tmp_path: Path
) -> None:
    chars = admitted_field_characters()
    assert set("AZaz09+-._") <= set(chars) and not set(";$`'\"|&<> ()\\{}*?~") & set(chars)
    # As many fields as the grammar takes, together holding every admitted character.
    fields = [chars[i:i + 60] for i in range(0, len(chars), 60)] + ["J0510+1800"]
    parsed = grammar.parse_message(hostile_mail(",".join(fields), "16140"),
                                   received=datetime.now(UTC))
    assert isinstance(parsed, Request), parsed
    assert parsed.calfields == tuple(fields)

    config = changed(cfg.Config(), staging={"command": ECHO})
    argv = stage.stagecalms_argv(config, parsed)
    assert argv[2:] == [FIRST.project, FIRST.mous, "16140", "X", ",".join(fields)]
    expected = "".join(f"[{word}]\n" for word in argv[2:])
    line = stage.command_line(argv)
    assert ssh_transport.run(line, 10) == (0, expected)
    # And through the detached launch, whose wrapper quotes the command line again.
    job = stage.launch(ssh_transport, str(tmp_path / "jobs"), "job-1-1", line)
    deadline = time.monotonic() + 10
    while not (status := stage.poll(ssh_transport, job)).finished:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (status.exit_status, status.output) == (0, expected)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(alphabet=st.characters(exclude_characters="\x00",
                                                     exclude_categories=["Cs"]),
                              max_size=40), min_size=1, max_size=8))
def test_any_word_reaches_the_host_verbatim(ssh_transport: stage.Transport,
                                            words: list[str]) -> None:
    """Quoting holds beyond what the grammar admits: any text but NUL arrives as sent."""
    status, output = ssh_transport.run(stage.command_line(["printf", "[%s]\\n", *words]), 10)
    assert (status, output) == (0, "".join(f"[{word}]\n" for word in words))


# ---------------------------------------------------------------------------
# 5. A staging host whose key does not match known_hosts


def sshd_connections(sshd: SshServer) -> int:
    log = (sshd.key_file.parent / "sshd.log").read_text(errors="replace")
    return log.count("Connection from ")


def test_wrong_host_key_stops_the_run_and_the_job_waits(bot: Bot) -> None:
    bot.configure(known_hosts=bot.sshd.wrong_known_hosts)
    bot.send(FIRST)
    before = sshd_connections(bot.sshd)
    done = bot.cli("run")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "key" in lines[0] and str(bot.sshd.wrong_known_hosts) in lines[0]
    assert f"port {bot.sshd.port}" in lines[0]
    assert sshd_connections(bot.sshd) == before + 1, "a key mismatch is never retried"
    assert not (bot.root / "runs.log").exists() and not bot.jobs_dir.exists()
    assert bot.job(FIRST.ticket)["state"] == "waiting"

    # `watch` keeps serving mail: one refused connection per pass, never a retry
    # loop, and it reports the refusal when stopped.
    second = next(c for c in demo_archive.DEMO_CASES
                  if c.expected is VerdictCode.NOT_ENTITLED and not c.calfields)
    bot.send(second)
    watch = bot.watch()
    try:
        deadline = time.monotonic() + 20
        while not bot.mails("verdict") and time.monotonic() < deadline:
            assert watch.poll() is None, "a refused host key must not stop the daemon"
            time.sleep(0.2)
        assert len(bot.mails("verdict")) == 1, "the other request was still answered"
    finally:
        watch.send_signal(signal.SIGTERM)
        _, stderr = watch.communicate(timeout=20)
    assert watch.returncode == 1 and b"does not match" in stderr
    passes = sshd_connections(bot.sshd) - before - 1
    assert 1 <= passes <= stderr.count(b"does not match")
    assert bot.job(FIRST.ticket)["state"] == "waiting"

    bot.configure()
    bot.settle()
    assert bot.job(FIRST.ticket)["state"] == "succeeded"
    one_completion_each(bot, [FIRST.ticket])


# ---------------------------------------------------------------------------
# 6. A staging killed on the host


def test_killed_staging_fails_with_its_log_and_frees_its_mous(bot: Bot) -> None:
    bot.configure(duration=6)  # about 0.3 s per line of output
    bot.send(FIRST)
    bot.send(SAME_MOUS)
    bot.run()
    job = bot.job(FIRST.ticket)
    assert job["state"] == "running" and bot.job(SAME_MOUS.ticket)["state"] == "waiting"
    out_log = Path(job["job_dir"]) / "out.log"
    deadline = time.monotonic() + 10
    while "accessible at" not in out_log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    simulator = next(e.pid for e in bot.events() if e.what == "start")

    # kill -9 of the pid in the journal (the job's wrapper): stagecalms lives on, so
    # the job still holds its slot and its MOUS.
    os.kill(job["pid"], signal.SIGKILL)
    bot.run()
    assert alive(simulator)
    assert bot.job(FIRST.ticket)["state"] == "running"
    assert bot.job(SAME_MOUS.ticket)["state"] == "waiting"
    assert bot.mails("failure") == []

    # Now stagecalms itself is gone, without an exit status.
    os.killpg(job["pid"], signal.SIGKILL)
    bot.run()
    failed = bot.job(FIRST.ticket)
    assert (failed["state"], failed["exit_status"]) == ("failed", None)
    assert "The staging directory will be accessible at" in failed["output"]
    problems = json.loads(bot.query("SELECT problems FROM jobs WHERE id = ?",
                                    failed["id"])[0][0])
    assert any("without an exit status" in p for p in problems)
    failures = bot.mails("failure")
    assert len(failures) == 1
    mail, msg = failures[0]
    assert sorted(mail.rcpt_tos) == sorted([MAINTAINER, AOG])
    assert failed["output"].rstrip("\n") in body(msg)
    assert bot.mails("completion") == []
    assert bot.job(SAME_MOUS.ticket)["state"] == "running", "the MOUS is free again"

    bot.run()
    assert len(bot.mails("failure")) == 1


# ---------------------------------------------------------------------------
# 7. `mailbot requests` and `mailbot cancel`


def requests_table(bot: Bot) -> dict[str, dict[str, str]]:
    done = bot.cli("requests")
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.split() == ["REQ", "STATE", "VERDICT", "TICKET", "MOUS", "AGE", "JOB",
                              "JOBSTATE", "DURATION"]
    rows = {}
    for line in lines:
        words = line.split()
        assert len(words) == 9, line
        rows[words[3]] = dict(zip(header.split(), words, strict=True))
    return rows


def test_requests_lists_states_and_cancel_stops_a_waiting_job(bot: Bot) -> None:
    for request in (FIRST, OTHER_1, OTHER_2):
        bot.send(request)
    bot.run()
    waiting = bot.job(OTHER_2.ticket)
    assert waiting["state"] == "waiting"

    table = requests_table(bot)
    assert set(table) == {FIRST.ticket, OTHER_1.ticket, OTHER_2.ticket}
    for request in (FIRST, OTHER_1, OTHER_2):
        row = table[request.ticket]
        assert row["VERDICT"] == "STAGE" and row["STATE"] == "staging"
        assert row["MOUS"] in (request.mous, mous_file_form(request.mous))
        assert re.fullmatch(r"\d+[smhd]", row["AGE"])
        assert row["JOB"] == str(bot.job(request.ticket)["id"])
    assert table[FIRST.ticket]["JOBSTATE"] == "running"
    assert re.fullmatch(r"0:00:0\d", table[FIRST.ticket]["DURATION"])
    assert (table[OTHER_2.ticket]["JOBSTATE"], table[OTHER_2.ticket]["DURATION"]) == (
        "waiting", "-")

    refused = bot.cli("cancel", str(bot.job(FIRST.ticket)["id"]))
    assert refused.returncode == 1 and "running" in refused.stderr
    cancelled = bot.cli("cancel", str(waiting["id"]))
    assert cancelled.returncode == 0, cancelled.stderr
    bot.settle()

    assert bot.job(OTHER_2.ticket)["state"] == "cancelled"
    assert OTHER_2.ticket not in {e.ticket for e in bot.events()}, "it never started"
    one_completion_each(bot, [FIRST.ticket, OTHER_1.ticket])
    table = requests_table(bot)
    assert (table[OTHER_2.ticket]["STATE"], table[OTHER_2.ticket]["JOBSTATE"]) == (
        "cancelled", "cancelled")
    for ticket in (FIRST.ticket, OTHER_1.ticket):
        assert (table[ticket]["STATE"], table[ticket]["JOBSTATE"]) == ("completed", "succeeded")
        assert re.fullmatch(r"0:00:0\d", table[ticket]["DURATION"])


# ---------------------------------------------------------------------------
# The staging host failing in the middle of a run


class LosesConnection:
    """The real SSH transport, whose connection breaks right after the N-th launch was sent.

    The staging host runs that launch; its answer is lost with the connection, and
    every later command meets the closed connection (paramiko's own SshError path).
    """

    def __init__(self, real: stage.Transport, *, at_launch: int) -> None:
        self.real = real
        self.at_launch = at_launch
        self.launches = 0

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        if "nohup setsid" in command:
            self.launches += 1
            if self.launches == self.at_launch:
                self.real.run(command, timeout)
                self.real.close()
        return self.real.run(command, timeout)

    def close(self) -> None:
        self.real.close()


def test_staging_host_lost_mid_run_ends_the_run_cleanly(bot: Bot) -> None:
    """The second launch reaches the host, its answer is lost, the connection with it."""
    for request in (FIRST, OTHER_1, OTHER_2):
        bot.send(request)
    config = bot.loaded()
    report = run_once(config, transport_factory=lambda: LosesConnection(
        stage.open_transport(config), at_launch=2))
    assert [type(e) for e in report.outages] == [SshError]
    states = {j["ticket"]: j["state"] for j in bot.jobs()}
    assert states == {FIRST.ticket: "running", OTHER_1.ticket: "waiting",
                      OTHER_2.ticket: "waiting"}

    bot.settle()
    assert [j["state"] for j in bot.jobs()] == ["succeeded"] * 3
    starts = Counter(e.ticket for e in bot.events() if e.what == "start")
    assert starts == Counter([FIRST.ticket, OTHER_1.ticket, OTHER_2.ticket])
    one_completion_each(bot, [FIRST.ticket, OTHER_1.ticket, OTHER_2.ticket])


def test_staging_host_refusing_jobs_ends_the_run_cleanly(bot: Bot) -> None:
    """A jobs_dir the staging host cannot create is a setting to fix: mail still leaves,
    jobs wait, one line, exit 78."""
    blocked = bot.tmp / "not-a-directory"
    blocked.write_text("")
    bot.configure(jobs_dir=blocked / "jobs")
    not_entitled = next(c for c in demo_archive.DEMO_CASES
                        if c.expected is VerdictCode.NOT_ENTITLED and not c.calfields)
    bot.send(FIRST)
    bot.send(not_entitled)
    done = bot.cli("run")
    assert done.returncode == 78
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot create or enter staging.jobs_dir" in lines[0]
    assert len(bot.mails("verdict")) == 1, "the verdict reply still left"
    assert bot.job(FIRST.ticket)["state"] == "waiting"
    assert not (bot.root / "runs.log").exists()

    bot.configure()
    bot.settle()
    assert bot.job(FIRST.ticket)["state"] == "succeeded"
    one_completion_each(bot, [FIRST.ticket])


class CancelsDuringLaunch:
    """The real SSH transport; `mailbot cancel JOB` is run while the first launch is sent."""

    def __init__(self, real: stage.Transport, journal: Path, job_id: int) -> None:
        self.real = real
        self.journal = journal
        self.job_id = job_id

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        if "nohup setsid" in command and self.job_id:
            other = Journal(self.journal)  # another process's connection, as the CLI's
            try:
                cancel(other, self.job_id)
            finally:
                other.close()
            self.job_id = 0
        return self.real.run(command, timeout)

    def close(self) -> None:
        self.real.close()


def test_job_cancelled_while_a_run_launches_others_is_not_launched(bot: Bot) -> None:
    bot.send(FIRST)
    bot.send(OTHER_1)
    config = bot.loaded()
    assert run_once(config, transport_factory=staging_host_down).outages  # records both
    second = bot.job(OTHER_1.ticket)
    report = run_once(config, transport_factory=lambda: CancelsDuringLaunch(
        stage.open_transport(config), bot.journal_path, second["id"]))
    assert report.outages == []
    assert bot.job(FIRST.ticket)["state"] == "running"
    assert bot.job(OTHER_1.ticket)["state"] == "cancelled"
    bot.configure()
    bot.settle()
    assert [e.ticket for e in bot.events() if e.what == "start"] == [FIRST.ticket]
    one_completion_each(bot, [FIRST.ticket])


# ---------------------------------------------------------------------------
# Trigger files go only once the completion mail has left


def test_trigger_file_stays_until_the_completion_mail_has_gone(bot: Bot) -> None:
    triggers = bot.tmp / "triggers"
    triggers.mkdir()
    bot.configure(sources=["triggers"])
    msg = parse(request_mail(FIRST, aog=AOG, maintainer=MAINTAINER))
    trigger = triggers / f"trigger-{mous_file_form(FIRST.mous)}-2019-09-02T14-00-27.txt"
    trigger.write_text(f"EU ARC contact {ARC}\nCC email {MAINTAINER}\n{msg['Subject']}\n\n"
                       f"{body(msg)}", encoding="utf-8")
    bot.run()
    assert bot.job(FIRST.ticket)["state"] == "running" and trigger.exists()

    bot.smtp.fail_next(1000)  # the SMTP server refuses every mail for now
    deadline = time.monotonic() + 20
    while bot.job(FIRST.ticket)["state"] == "running":
        assert time.monotonic() < deadline
        done = bot.cli("run")
        assert done.returncode in (0, 75), done.stderr
    assert bot.job(FIRST.ticket)["state"] == "succeeded"
    assert bot.query("SELECT state FROM outbox")[0][0] == "queued"
    assert trigger.exists(), "the user has not been told yet"

    bot.smtp.clear()
    bot.run()
    assert len(bot.mails("completion")) == 1
    assert not trigger.exists()
