"""Staging against a real OpenSSH sshd and locally: detached launch, polling, quoting, faults.

The staging command is the stagecalms simulator (or `printf` to see what the
remote received); sshd and the tests run on this machine as the same user, so
the tests can look at the job files and processes the remote side created.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot import faults
from mailbot.config import Config
from mailbot.errors import ConfigError, HostKeyError, SshError
from mailbot.model import Origin, Request
from mailbot.stage import (
    JobStatus,
    LaunchedJob,
    LocalTransport,
    SshTransport,
    Transport,
    command_line,
    jobs_dir,
    launch,
    open_transport,
    parse_output,
    poll,
    stagecalms_argv,
    well_formed_url,
)
from mailbot.stage.jobs import still_running
from mailbot.stage.transport import KeptTransport
from tests.servers.sshd import SshServer, running_sshd, sshd_service
from tests.settings import changed, config_in

MOUS = "uid://A001/X1296/X675"
CALFIELD_WORD = r"[A-Za-z0-9+._-]+(,[A-Za-z0-9+._-]+)*"
ECHO = "printf '[%s]\\n'"  # as a "stagecalms" command: shows each argv word it received


@pytest.fixture(scope="module")
def sshd_server() -> Iterator[SshServer]:
    base_dir = Path(tempfile.mkdtemp(prefix="mailbot-sshd-"))
    try:
        with running_sshd(base_dir) as server:
            yield server
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def make_config(server: SshServer, data_dir: Path, kind: str = "ssh") -> Config:
    ssh = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "key_file": str(server.key_file),
        "known_hosts": str(server.known_hosts),
        "key_passphrase_env": "MAILBOT_TEST_SSH_PASSPHRASE",
        "connect_timeout": 5.0,
        "retry_seconds": 1.5,
    }
    return config_in(data_dir, staging={"transport": kind, "jobs_dir": "{data_dir}/jobs",
                                        "ssh": ssh})


def with_ssh(config: Config, **ssh: Any) -> Config:
    """`config` with some of its staging.ssh settings changed."""
    return changed(config, staging={"ssh": ssh})


@pytest.fixture(scope="module", params=["local", "ssh"])
def transport(
    request: pytest.FixtureRequest, sshd_server: SshServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Transport]:
    config = make_config(sshd_server, tmp_path_factory.mktemp("transport"), request.param)
    opened = open_transport(config)
    assert isinstance(opened, LocalTransport if request.param == "local" else SshTransport)
    yield opened
    opened.close()


def simulator_command(root: Path) -> str:
    return shlex.quote(sys.executable) + " -m mailbot.simulator --root " + shlex.quote(str(root))


def a_request(calfields: tuple[str, ...] = (), ticket: str = "16140") -> Request:
    return Request(
        mous=MOUS,
        project="2017.1.00727.S",
        calfields=calfields,
        user_name="Judit Szulagyi",
        user_email="judits@example.org",
        ticket=ticket,
        arc_contact="arc@example.org",
        cc=(),
        message_id="<r1@example.org>",
        received=datetime(2019, 9, 2, 14, 0, tzinfo=UTC),
        origin=Origin(channel="mail", sender="arc@example.org"),
    )


def wait_finished(transport: Transport, job: LaunchedJob, limit: float = 20) -> JobStatus:
    deadline = time.monotonic() + limit
    while True:
        status = poll(transport, job, timeout=10)
        if status.finished:
            return status
        assert time.monotonic() < deadline, f"job still running: {status}"
        time.sleep(0.05)


def starts(root: Path) -> list[str]:
    log = root / "runs.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.split()[1] == "start"]


# ---------------------------------------------------------------------------
# Launch and poll, over SSH and locally


def test_launch_returns_at_once_and_poll_follows_the_job(
    transport: Transport, tmp_path: Path
) -> None:
    root = tmp_path / "sim"
    root.mkdir()
    (root / "duration").write_text("3.0")
    config = config_in(tmp_path, staging={"command": simulator_command(root)})
    command = command_line(stagecalms_argv(config, a_request(("J0510+1800",))))

    job = launch(transport, jobs_dir(config), "job-17-1", command)
    running = poll(transport, job)  # the launch did not wait for the job

    assert job.started and job.pid is not None and running.pid == job.pid
    assert job.job_dir == str(tmp_path / "jobs" / "job-17-1")
    assert running.alive and not running.finished and running.exit_status is None
    done = wait_finished(transport, job)
    assert done.exit_status == 0 and not done.alive
    result = parse_output(done.output, done.exit_status)
    assert result.ok, result.problems
    assert result.url is not None and (root / "preview" / result.url.rsplit("/", 1)[1]).is_dir()
    assert result.notices[0].startswith("*** Based on your selection, only data for field J0510")
    assert (Path(job.job_dir) / "command").read_text() == command + "\n"
    assert (Path(job.job_dir) / "rc").read_text().strip() == "0"


def test_same_job_name_launches_once(transport: Transport, tmp_path: Path) -> None:
    root = tmp_path / "sim"
    command = simulator_command(root) + " --duration 0.5 2017.1.00727.S " + MOUS + " 16140"
    first = launch(transport, str(tmp_path / "jobs"), "job-3-1", command)
    again = launch(transport, str(tmp_path / "jobs"), "job-3-1", command)
    assert first.started and not again.started
    assert again == first  # same directory, same pid

    wait_finished(transport, first)
    after = launch(transport, str(tmp_path / "jobs"), "job-3-1", command)
    assert not after.started and after.pid == first.pid
    time.sleep(0.2)
    assert len(starts(root)) == 1


def test_a_launch_cut_short_after_mkdir_is_completed_once(
        transport: Transport, tmp_path: Path) -> None:
    """An empty job directory: its launch died before starting anything, so one starts now."""
    (tmp_path / "jobs" / "job-9-1").mkdir(parents=True)
    root = tmp_path / "sim"
    command = simulator_command(root) + " --duration 0.2 2017.1.00727.S " + MOUS + " 16140"
    job = launch(transport, str(tmp_path / "jobs"), "job-9-1", command, timeout=30)
    again = launch(transport, str(tmp_path / "jobs"), "job-9-1", command, timeout=30)
    assert job.started and job.pid is not None and again == job and not again.started
    assert wait_finished(transport, job).exit_status == 0
    assert len(starts(root)) == 1


def claimed_without_pid(job_dir: Path, command: str) -> None:
    """A job directory whose wrapper claimed the start and wrote no pid (yet)."""
    job_dir.mkdir(parents=True)
    (job_dir / "job.sh").write_text(f"mkdir started 2>/dev/null || exit 0\n({command})\n")
    (job_dir / "command").write_text(command + "\n")
    (job_dir / "started").mkdir()


def test_a_job_without_pid_is_in_doubt_never_dead(transport: Transport, tmp_path: Path) -> None:
    job_dir = tmp_path / "jobs" / "job-8-1"
    command = "echo never"
    claimed_without_pid(job_dir, command)
    job = launch(transport, str(tmp_path / "jobs"), "job-8-1", command, timeout=30)
    assert job.pid is None and not job.started, "the claimed start is not repeated"
    status = poll(transport, job)
    assert not status.finished and not status.alive and not status.unstarted
    assert status.pid is None and not (job_dir / "out.log").exists()
    # Its directory shows it finished: then it is.
    (job_dir / "rc").write_text("0\n")
    assert poll(transport, job).finished


class _Died(Exception):
    """The bot, stopped at a fault point."""


def test_a_prepared_job_that_never_started_is_found_unstarted(
        transport: Transport, tmp_path: Path) -> None:
    command = "echo started late"

    def die_after_mkdir(point: faults.Point) -> None:
        if point is faults.Point.LAUNCH_AFTER_MKDIR:
            raise _Died(point)

    faults.install(die_after_mkdir)
    try:
        with pytest.raises(_Died):
            launch(transport, str(tmp_path / "jobs"), "job-7-1", command, timeout=30)
    finally:
        faults.install(None)
    job_dir = tmp_path / "jobs" / "job-7-1"
    assert sorted(p.name for p in job_dir.iterdir()) == ["command", "job.sh"]
    status = poll(transport, LaunchedJob(str(job_dir), None))
    assert status.unstarted and not status.finished
    again = launch(transport, str(tmp_path / "jobs"), "job-7-1", command, timeout=30)
    assert again.started and again.pid is not None
    assert wait_finished(transport, again).output == "started late\n"


def test_jobs_dir_under_home(transport: Transport) -> None:
    name = f"mailbot-test-jobs-{uuid.uuid4().hex}"
    try:
        job = launch(transport, f"~/{name}", "job-1-1", "echo hello")
        assert job.job_dir == str(Path.home() / name / "job-1-1")
        status = wait_finished(transport, job)
        assert (status.exit_status, status.output) == (0, "hello\n")
    finally:
        shutil.rmtree(Path.home() / name, ignore_errors=True)


def test_killed_job_polls_as_finished_without_exit_status(
    transport: Transport, tmp_path: Path
) -> None:
    root = tmp_path / "sim"
    command = simulator_command(root) + " --duration 20 2017.1.00727.S " + MOUS + " 16140"
    job = launch(transport, str(tmp_path / "jobs"), "job-5-1", command)
    try:
        assert poll(transport, job).alive
        os.killpg(job.pid, signal.SIGKILL)  # the whole staging: wrapper and stagecalms
        status = wait_finished(transport, job, limit=5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)  # setsid made the job a process group
    assert status.finished and status.exit_status is None and not status.alive
    result = parse_output(status.output, status.exit_status)
    assert not result.ok and result.url is None
    assert any("without an exit status" in p for p in result.problems)


def test_missing_job_directory_polls_as_finished(transport: Transport, tmp_path: Path) -> None:
    status = poll(transport, LaunchedJob(job_dir=str(tmp_path / "gone"), pid=0))
    assert status.finished and status.exit_status is None and not status.alive
    assert "missing" in status.output


def test_failed_job_keeps_its_exit_status(transport: Transport, tmp_path: Path) -> None:
    job = launch(transport, str(tmp_path / "jobs"), "job-6-1", "echo broken >&2; exit 7")
    status = wait_finished(transport, job)
    assert (status.exit_status, status.output, status.alive) == (7, "broken\n", False)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a b", "job;id", "jöb", "a\nb"])
def test_invalid_job_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        launch(LocalTransport(), str(tmp_path), name, "true")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Transports


def test_run_merges_output_and_returns_exit_status(transport: Transport) -> None:
    status, output = transport.run("echo out; echo err >&2; exit 3", 10)
    assert status == 3
    assert output.splitlines() == ["out", "err"]


def test_run_timeout_is_a_fault_and_the_transport_stays_usable(transport: Transport) -> None:
    began = time.monotonic()
    with pytest.raises(SshError, match="within"):
        transport.run("sleep 5", 0.5)
    assert time.monotonic() - began < 3
    assert transport.run("echo still here", 10) == (0, "still here\n")


def test_commands_one_after_the_other_do_not_disturb_each_other(transport: Transport) -> None:
    """Over SSH they share one shell: an exit, a missing newline, a command reading its
    input, output that looks like the transport's own words, each stays its own."""
    assert transport.run("exit 7", 10) == (7, "")
    assert transport.run("printf 'no newline'", 10) == (0, "no newline")
    assert transport.run("cat", 10) == (0, ""), "no input: never the next command's"
    looks_like = "printf '\\n%s 0\\n' 0123456789abcdef0123456789abcdef; exit 4"
    assert transport.run(looks_like, 10) == (4, "\n0123456789abcdef0123456789abcdef 0\n")
    assert transport.run("head -c 300000 /dev/zero | tr '\\0' x", 10) == (0, "x" * 300000)
    assert transport.run("echo still one", 10) == (0, "still one\n")


def test_still_running_tells_in_one_command_which_jobs_run_on(
        transport: Transport, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    jobs = str(tmp_path / "jobs")
    long = launch(transport, jobs, "long", f"while [ ! -f {shlex.quote(str(stop))} ]; "
                  "do sleep 0.05; done")
    short = launch(transport, jobs, "short", "true")
    wait_finished(transport, short)
    counted = CountingTransport(transport)
    assert still_running(counted, [long, short]) == {long.job_dir}
    assert counted.commands == 1
    assert long.pid is not None
    # In doubt, its pid new, or its directory gone: for a whole poll, never "running".
    assert still_running(transport, [LaunchedJob(long.job_dir, None)]) == set()
    assert still_running(transport, [LaunchedJob(long.job_dir, long.pid + 1)]) == set()
    assert still_running(transport, [LaunchedJob(jobs + "/nowhere", long.pid)]) == set()
    stop.touch()
    wait_finished(transport, long)
    assert still_running(transport, [long, short]) == set()


class CountingTransport:
    """A transport that counts the commands sent through it."""

    def __init__(self, real: Transport) -> None:
        self.real = real
        self.commands = 0

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        self.commands += 1
        return self.real.run(command, timeout)

    def close(self) -> None:
        self.real.close()


def test_a_kept_connection_serves_every_pass_and_is_made_anew_once_lost(
        tmp_path: Path) -> None:
    base_dir = Path(tempfile.mkdtemp(prefix="mailbot-sshd-"))
    try:
        with sshd_service(base_dir) as service:
            config = make_config(service.server, tmp_path)
            opened: list[Transport] = []

            def opener() -> Transport:
                opened.append(open_transport(config))
                return opened[-1]

            kept = KeptTransport(opener)
            try:
                assert kept.run("echo one", 10) == (0, "one\n")
                kept.close()  # a pass's end: the connection stays
                assert kept.run("echo two", 10) == (0, "two\n")
                assert len(opened) == 1
                service.stop()  # the host goes down and up between passes
                service.start()
                first = opened[0]
                assert isinstance(first, SshTransport)
                wait_closed(first)
                ran = tmp_path / "ran"
                command = f"echo x >> {shlex.quote(str(ran))}; echo three"
                assert kept.run(command, 10) == (0, "three\n")
                assert len(opened) == 2 and ran.read_text() == "x\n"
            finally:
                kept.end()
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def wait_closed(transport: SshTransport, limit: float = 20) -> None:
    """Until paramiko has seen the connection end (the event the kept transport meets)."""
    deadline = time.monotonic() + limit
    connection = transport._client.get_transport()
    while connection is not None and connection.is_active():
        assert time.monotonic() < deadline, "the connection stays open"
        time.sleep(0.02)


def test_paramiko_and_imapclient_are_loaded_only_to_connect() -> None:
    """Start-up cost: most runs follow no staging, and many read no IMAP mailbox."""
    code = ("import sys, mailbot.stage.ssh, mailbot.stage.transport, mailbot.stage.jobs, "
            "mailbot.scheduler, mailbot.inbox.imap, mailbot.inbox.folders; "
            "print(sorted({'paramiko', 'imapclient'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_open_transport_refuses_an_unknown_kind(tmp_path: Path) -> None:
    config = changed(Config(), staging={"transport": "telnet"})
    with pytest.raises(ConfigError):
        open_transport(config)


def test_wrong_host_key_is_refused_and_nothing_runs(sshd_server: SshServer, tmp_path: Path) -> None:
    # retry_seconds must not be spent: a key mismatch is never retried.
    config = with_ssh(make_config(sshd_server, tmp_path),
                      known_hosts=str(sshd_server.wrong_known_hosts), retry_seconds=10)
    began = time.monotonic()
    with pytest.raises(HostKeyError) as caught:
        launch(open_transport(config), jobs_dir(config), "job-1-1", "touch ran")
    assert time.monotonic() - began < 3
    message = str(caught.value)
    assert sshd_server.host in message and str(sshd_server.port) in message
    assert str(sshd_server.wrong_known_hosts) in message
    assert not (tmp_path / "jobs").exists()


@pytest.mark.parametrize("other_host", [False, True])
def test_unknown_host_is_refused(sshd_server: SshServer, tmp_path: Path, other_host: bool) -> None:
    known_hosts = tmp_path / "known_hosts"
    # Empty, or the server's own key listed under another port (so another host).
    line = sshd_server.known_hosts.read_text().replace(f":{sshd_server.port} ", ":2222 ")
    known_hosts.write_text(line if other_host else "")
    config = with_ssh(make_config(sshd_server, tmp_path), known_hosts=str(known_hosts))
    with pytest.raises(HostKeyError, match=re.escape(str(known_hosts))):
        open_transport(config)


def test_damaged_known_hosts_is_refused(sshd_server: SshServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n")
    config = with_ssh(make_config(sshd_server, tmp_path), known_hosts=str(known_hosts))
    with pytest.raises(HostKeyError, match="cannot read known_hosts"):
        open_transport(config)


def test_missing_known_hosts_is_refused(sshd_server: SshServer, tmp_path: Path) -> None:
    config = with_ssh(make_config(sshd_server, tmp_path), known_hosts=str(tmp_path / "nowhere"))
    with pytest.raises(HostKeyError, match="does not exist"):
        open_transport(config)


def test_closed_port_is_retried_then_an_outage(sshd_server: SshServer, tmp_path: Path) -> None:
    config = make_config(sshd_server, tmp_path)
    with socket_closed_port() as port:
        config = with_ssh(config, port=port)
        began = time.monotonic()
        with pytest.raises(SshError) as caught:
            open_transport(config)
        elapsed = time.monotonic() - began
    found = re.search(r"after (\d+) attempts", str(caught.value))
    assert found is not None, caught.value
    attempts = int(found.group(1))
    assert attempts >= 2
    assert elapsed < config.staging.ssh.retry_seconds + 1.0
    assert caught.value.exit_status == 75


@contextlib.contextmanager
def socket_closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_refused_key_is_not_retried(sshd_server: SshServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    config = with_ssh(make_config(sshd_server, tmp_path), key_file=str(stranger), retry_seconds=10)
    began = time.monotonic()
    with pytest.raises(ConfigError, match="refused the key"):
        open_transport(config)
    assert time.monotonic() - began < 3


def test_key_passphrase_comes_from_the_environment(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    shutil.copy(sshd_server.key_file, locked)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "", "-N", "s3cret phrase", "-f", str(locked)],
        check=True,
        capture_output=True,
    )
    config = with_ssh(make_config(sshd_server, tmp_path), key_file=str(locked))
    monkeypatch.delenv("MAILBOT_TEST_SSH_PASSPHRASE", raising=False)
    with pytest.raises(ConfigError, match="passphrase"):
        open_transport(config)

    monkeypatch.setenv("MAILBOT_TEST_SSH_PASSPHRASE", "wrong phrase")
    with pytest.raises(
        ConfigError, match=re.escape("wrong passphrase in $MAILBOT_TEST_SSH_PASSPHRASE")
    ):
        open_transport(config)

    monkeypatch.setenv("MAILBOT_TEST_SSH_PASSPHRASE", "s3cret phrase")
    transport = open_transport(config)
    try:
        assert transport.run("echo in", 10) == (0, "in\n")
    finally:
        transport.close()


# ---------------------------------------------------------------------------
# Quoting: what the staging host receives is exactly the argv


@settings(max_examples=25, deadline=None)
@given(calfield=st.from_regex(CALFIELD_WORD, fullmatch=True))
def test_calfields_reach_the_staging_host_verbatim(transport: Transport, calfield: str) -> None:
    config = changed(Config(), staging={"command": ECHO})
    request = a_request(tuple(calfield.split(",")))
    argv = stagecalms_argv(config, request)
    status, output = transport.run(command_line(argv), 10)
    assert status == 0
    assert output == "".join(f"[{word}]\n" for word in argv[2:])
    assert argv[2:] == ["2017.1.00727.S", MOUS, "16140", "X", calfield]


def hostile_words(marker: Path) -> list[str]:
    touch = f"touch {marker}"
    return [
        f";{touch}",
        f"$({touch})",
        f"`{touch}`",
        f"'; {touch}; '",
        f'"; {touch}; "',
        f"a\n{touch}\nb",
        f"|| {touch} &&",
        f"> {marker}",
        "'",
        '"',
        "\\",
        "\\'",
        "$HOME",
        "${HOME}",
        "~",
        "*",
        "!!",
        "%s",
        "-n",
        "",
        " leading and trailing ",
        "tab\there",
        "FOO=bar",
        "{a,b}",
        "é ü ø",
    ]


def test_hostile_words_arrive_verbatim_in_a_launched_job(
    transport: Transport, tmp_path: Path
) -> None:
    marker = tmp_path / "x"
    words = hostile_words(marker)
    job = launch(
        transport, str(tmp_path / "jobs"), "job-1-1", command_line(["printf", "[%s]\n", *words])
    )
    status = wait_finished(transport, job)
    assert status.exit_status == 0
    assert status.output == "".join(f"[{word}]\n" for word in words)
    assert not marker.exists()


def test_hostile_first_words_are_not_assignments_or_options(transport: Transport) -> None:
    # Quoted, `A=b` is a command name, not an assignment that would run the next word.
    status, output = transport.run(command_line(["A=b", "echo", "ran"]), 10)
    assert status == 127 and "ran" not in output


# ---------------------------------------------------------------------------
# Pure parts: command line, output parsing


def test_stagecalms_argv_expands_data_dir_in_each_word() -> None:
    config = config_in("/srv/mail bot",
                       staging={"command": "/opt/bin/stagecalms.sh --root {data_dir}/staging"})
    assert stagecalms_argv(config, a_request()) == [
        "/opt/bin/stagecalms.sh",
        "--root",
        "/srv/mail bot/staging",
        "2017.1.00727.S",
        MOUS,
        "16140",
    ]
    assert stagecalms_argv(config, a_request(("J0217-0820", "J0238+1636")))[-2:] == [
        "X",
        "J0217-0820,J0238+1636",
    ]


def test_command_line_quotes_every_word() -> None:
    assert command_line(["stagecalms.sh", "2019.1.00337.S", "it's"]) == (
        "'stagecalms.sh' '2019.1.00337.S' 'it'\"'\"'s'"
    )
    with pytest.raises(ValueError):
        command_line([])


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\x00")), min_size=1))
def test_command_line_round_trips_through_shell_splitting(words: list[str]) -> None:
    assert shlex.split(command_line(words)) == words


URL = "http://almascience.eso.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"

SEED_SUCCESS = "\n".join(
    [
        f"The staging directory will be accessible at {URL}",
        "Looking for cluster node with low load ...",
        "DATAMACHINE chosen: arcp14",
        "Working as arcproc@arcp14.hq.eso.org ...",
        "(re-)creating directory /opsw/work/pipeproc/autopipeline/tmp/WORK23067",
        "Now generating the calibrated MS(s) ...",
        "Checking for pre-existing MSs for the following EBs ...",
        "uid___A002_Xd33a12_X15be",
        "MS for uid___A002_Xd33a12_X15be was not found among the already staged MSs. "
        "Will not search further ...",
        "None or not all of the needed MSs found: Will regenerate all the MSs ...",
        "Copying over the generated MSs ...",
        "receiving incremental file list",
        "uid___A002_Xd33a12_X15be.ms.split.cal.tar",
        "",
        "sent 42 bytes  received 5765728719 bytes  64421550.40 bytes/sec",
        "total size is 5764321280  speedup is 1.00",
        "Deleting redundant logs ...",
        "Deleting temporary work directory ...",
        "",
        "Staging of calibrated MS(s) for 2018.1.01406.S uid___A001_X133d_X3cf3 helpdesk ticket "
        "#16267 completed",
        f"at {URL}",
        "Data will be deleted 28 days from Wed Jul 17 17:09:18 UTC 2019unless you put a "
        ".donotremove into the directory.",
        "",
    ]
)

# The later wiki revision shows the same output with its lines run together.
SEED_ONE_LINE = (
    f"The staging directory will be accessible at {URL}\n"
    "Looking for cluster node with low load ...\n"
    "DATAMACHINE chosen: arcp14 Working as arcproc@arcp14.hq.eso.org ... (re-)creating directory "
    "/opsw/work/pipeproc/autopipeline/tmp/WORK23067\n"
    " Now generating the calibrated MS(s) ... Checking for pre-existing MSs for the following "
    "EBs ...\n"
    "uid___A002_Xd33a12_X15be MS for uid___A002_Xd33a12_X15be was not found among the already "
    "staged MSs. Will not search further ...\n"
    "sent 42 bytes received 5765728719 bytes 64421550.40 bytes/sec total size is 5764321280 "
    "speedup is 1.00\n"
    "Staging of calibrated MS(s) for 2018.1.01406.S uid___A001_X133d_X3cf3 helpdesk ticket "
    f"#16267 completed at {URL} Data will be deleted 28 days from Fri Sep 27 14:04:04 UTC 2019 "
    "unless you put a .donotremove into the directory.\n"
)

SEED_FAILURE = (
    "The staging directory will be accessible at http://almascience.eso.org/arcdistribution/"
    "preview/cdb386950af8ee148b3a9bc633942c6a\n"
    "Failed. Please investigate  /var/www/html/arcdistribution/preview/"
    "cdb386950af8ee148b3a9bc633942c6a and possibly remove incomplete data belonging to MOUS "
    "uid://A001/X11f/X9c\n"
    "The working directory /opsw/work/pipeproc/autopipeline/tmp/WORK23486 on the EU ARC "
    "cluster was not removed.\n"
)


@pytest.mark.parametrize(
    ("output", "deletion"),
    [
        # "Data will be deleted 28 days from DATE": the day it says
        (SEED_SUCCESS, "2019-08-14"),
        (SEED_ONE_LINE, "2019-10-25"),
    ],
)
def test_seed_success_output(output: str, deletion: str) -> None:
    result = parse_output(output, 0)
    assert result.ok and result.problems == ()
    assert result.url == URL
    assert result.deletion_date == deletion
    assert result.ebs == ("uid___A002_Xd33a12_X15be",)
    assert result.total_bytes == 5764321280
    assert result.failed_dir is None and result.workdir is None


def test_seed_reuse_and_notices() -> None:
    reuse = (
        "*** Based on your selection, only data for field J0217-0820 will be staged. ***\n"
        "Old project, using RHEL5 build of CASA.\n"
        "Found pre-existing /home/arcdistribution/arcdistribution/preview/"
        "8b6db8a851c558b1669e7a0d987e6f87/uid___A002_Xd15514_X8bfa.ms.split.cal.tar .\n"
        "   Will try to use this instead of recreating it (making hard link) ...\n"
    )
    result = parse_output(reuse + SEED_SUCCESS, 0)
    assert result.ok
    assert result.reused == (
        "/home/arcdistribution/arcdistribution/preview/8b6db8a851c558b1669e7a0d987e6f87/"
        "uid___A002_Xd15514_X8bfa.ms.split.cal.tar",
    )
    assert result.notices == (
        "*** Based on your selection, only data for field J0217-0820 will be staged. ***",
        "Old project, using RHEL5 build of CASA.",
    )


def test_seed_failure_output() -> None:
    result = parse_output(SEED_FAILURE, 1)
    assert not result.ok and result.url is None
    assert (
        result.failed_dir
        == "/var/www/html/arcdistribution/preview/cdb386950af8ee148b3a9bc633942c6a"
    )
    assert result.workdir == "/opsw/work/pipeproc/autopipeline/tmp/WORK23486"
    assert any("status 1" in p for p in result.problems)
    assert any("Failed. Please investigate" in p for p in result.problems)


@pytest.mark.parametrize(
    ("output", "exit_status", "why"),
    [
        (SEED_SUCCESS, 1, "exited with status 1"),
        (SEED_SUCCESS, None, "without an exit status"),
        (SEED_SUCCESS + SEED_FAILURE.splitlines(keepends=True)[1], 0, "Failed. Please"),
        (SEED_SUCCESS.replace("completed\nat", "stopped at"), 0, "no completion line"),
        (SEED_SUCCESS.replace("accessible at", "ready at"), 0, "The staging directory"),
        (SEED_SUCCESS.replace(f"at {URL}\nData", f"at {URL[:-1]}0\nData"), 0, "differ"),
        (SEED_SUCCESS.replace(URL, "ftp://almascience.eso.org/x"), 0, "well-formed"),
        (SEED_SUCCESS.replace(URL, 'http://almascience.eso.org/x"><script>'), 0, "well-formed"),
        (SEED_SUCCESS.replace(URL, "http:///preview/abc"), 0, "well-formed"),
        (SEED_SUCCESS.replace(URL, "javascript:alert(1)"), 0, "well-formed"),
        ("", 0, "no completion line"),
    ],
)
def test_failures_are_never_ok(output: str, exit_status: int | None, why: str) -> None:
    result = parse_output(output, exit_status)
    assert not result.ok and result.url is None
    assert any(why in problem for problem in result.problems), result.problems


FRAGMENTS = [
    f"The staging directory will be accessible at {URL}\n",
    "The staging directory will be accessible at http://other.example/x\n",
    f"Staging of calibrated MS(s) for P M helpdesk ticket #1 completed at {URL}\n",
    "Staging of calibrated MS(s) for P M helpdesk ticket #1 completed at http://other.example/x\n",
    "Staging of calibrated MS(s) for P M helpdesk ticket #1 completed at ftp://x/y\n",
    "Failed. Please investigate  /var/www/x and possibly remove incomplete data\n",
    "total size is 12  speedup is 1.00\n",
    "uid___A002_Xd33a12_X15be\n",
    "noise\n",
]


@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=6),
    exit_status=st.one_of(st.none(), st.integers(-1, 3)),
)
def test_ok_always_means_exit_zero_and_a_verified_url(
    parts: list[str], exit_status: int | None
) -> None:
    result = parse_output("".join(parts), exit_status)
    assert result.ok == (not result.problems)
    if result.ok:
        assert exit_status == 0 and result.url is not None and well_formed_url(result.url)
        assert f"The staging directory will be accessible at {result.url}\n" in parts
        assert not any(p.startswith("Failed.") for p in parts)
    else:
        assert result.url is None
