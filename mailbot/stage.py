"""Staging: run stagecalms on the staging host (over SSH or locally), detached, and read its output.

A staging takes hours, longer than any one `mailbot run`. So a job is started
detached (`nohup setsid`) into its own job directory on the staging host,
which then holds everything the bot needs to follow it from later runs on fresh
connections: `pid`, `out.log` (stdout and stderr) and `rc` (the exit status,
written atomically when the command ends). Launching is idempotent: the job
directory is made with a plain `mkdir`, which succeeds for exactly one caller,
so a bot that crashed between launching and recording the launch may launch
again and is handed the first launch's pid instead of a second staging.

Everything sent to the staging host is one POSIX `sh -c WORD` command line, so
the login shell of the staging account only has to pass one quoted word on.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, Protocol
from urllib.parse import urlsplit

import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    SSHException,
)

from mailbot.config import Config, Ssh, secret
from mailbot.errors import ConfigError, HostKeyError, MailbotError, SshError
from mailbot.model import Request, StagingResult
from mailbot.retry import ConnectRetry

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Transports


class Transport(Protocol):
    """Runs shell command lines on the staging host."""

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command`; return its exit status and its stdout and stderr, interleaved."""
        ...

    def close(self) -> None:
        """Release the connection (if any)."""
        ...


class LocalTransport:
    """The staging host is this machine (the embedded setup with the simulator)."""

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command` with /bin/sh; a command that outlives `timeout` is a fault."""
        try:
            completed = subprocess.run(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SshError(f"local command did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise SshError(f"cannot run /bin/sh: {exc}") from exc
        return completed.returncode, completed.stdout.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Nothing to release."""


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising our HostKeyError so that it is never retried."""

    def __init__(self, port: int, known_hosts: Path) -> None:
        self.port = port
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise HostKeyError(
            f"staging host {hostname} (port {self.port}) is not in {self.known_hosts}; "
            f"it offered a {key.get_name()} key with fingerprint {key.fingerprint}. "
            "Add its key there after checking it out of band."
        )


def _transient(exc: BaseException) -> bool:
    """A connect failure worth another try: network trouble, not a refusal of who we are."""
    if isinstance(exc, HostKeyError | BadHostKeyException | AuthenticationException):
        return False
    if isinstance(exc, NoValidConnectionsError | OSError | EOFError):
        return True  # refused, unreachable, reset, timed out (socket.timeout is an OSError)
    # Plain SSHException is what paramiko raises for a missing or garbled banner and a
    # negotiation cut short; its subclasses are specific, permanent conditions.
    return type(exc) is SSHException


class SshTransport:
    """A paramiko connection to the staging host with strict host-key checking."""

    def __init__(self, client: paramiko.SSHClient, settings: Ssh) -> None:
        self._client = client
        self._settings = settings

    @classmethod
    def connect(cls, settings: Ssh, key_file: Path, known_hosts: Path) -> SshTransport:
        """Connect, retrying transient failures for up to `settings.retry_seconds`.

        Raises HostKeyError (unknown or changed host key), ConfigError (key file
        unreadable, key refused) at once, and SshError when the host stays unreachable.
        """
        pkey = _load_key(key_file, settings.key_passphrase_env)
        _check_known_hosts(known_hosts, settings)
        where = f"{settings.user}@{settings.host} port {settings.port}"
        retry = ConnectRetry(f"staging host {where}", settings.retry_seconds, _transient)
        try:
            client = retry(lambda: _connect_once(settings, pkey, known_hosts))
        except (HostKeyError, ConfigError):
            raise
        except BadHostKeyException as exc:
            raise HostKeyError(
                f"staging host {settings.host} port {settings.port} presented a "
                f"{exc.key.get_name()} key ({exc.key.fingerprint}) that does not match "
                f"the one in {known_hosts} ({exc.expected_key.fingerprint}): refusing to "
                "connect. If the host was re-installed, check its new key out of band."
            ) from None
        except AuthenticationException as exc:
            # Not an outage: retrying with the same key cannot succeed until someone
            # fixes the key or authorized_keys, so it is a configuration fault.
            raise ConfigError(
                f"staging host {where} refused the key {key_file}: {exc}. "
                "Check staging.ssh.user, staging.ssh.key_file and the authorized_keys there."
            ) from None
        except (OSError, EOFError, SSHException) as exc:
            raise SshError(
                f"{where}: {str(exc) or type(exc).__name__} "
                f"(gave up after {retry.summary})"
            ) from None
        return cls(client, settings)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command` once (never retried: a re-run could repeat an action)."""
        deadline = time.monotonic() + timeout
        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise SshError(f"connection to {self._settings.host} is closed")
            channel = transport.open_session(timeout=self._settings.connect_timeout)
            try:
                channel.set_combine_stderr(True)
                channel.settimeout(timeout)
                channel.exec_command(command)
                output = _read_all(channel, deadline)
                if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                    raise SshError(f"command did not finish within {timeout:g} s")
                status = channel.exit_status
            finally:
                channel.close()
        except TimeoutError:
            raise SshError(f"command did not finish within {timeout:g} s") from None
        except (OSError, EOFError, SSHException) as exc:
            raise SshError(f"{self._settings.host}: {str(exc) or type(exc).__name__}") from None
        return status, output.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


def _check_known_hosts(known_hosts: Path, settings: Ssh) -> None:
    """Fail early, and without retrying, when known_hosts cannot vouch for any host."""
    where = f"staging host {settings.host} port {settings.port}"
    if not known_hosts.is_file():
        raise HostKeyError(f"known_hosts file {known_hosts} does not exist: cannot verify {where}")
    try:
        paramiko.HostKeys(str(known_hosts))
    except (OSError, ValueError, SSHException) as exc:
        # A damaged entry makes paramiko raise (e.g. a truncated ed25519 key).
        raise HostKeyError(
            f"cannot read known_hosts file {known_hosts} ({exc}): cannot verify {where}"
        ) from None


def _load_key(key_file: Path, passphrase_env: str) -> paramiko.PKey:
    passphrase = secret(passphrase_env)
    try:
        # paramiko wants the passphrase as bytes at runtime, whatever its stubs say.
        return paramiko.PKey.from_path(
            key_file,
            passphrase.encode() if passphrase else None,  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        raise ConfigError(f"SSH key file {key_file} does not exist") from None
    except (OSError, SSHException, ValueError, TypeError) as exc:
        # cryptography raises TypeError for a protected key without passphrase,
        # ValueError for a wrong one.
        hint = (
            f"wrong passphrase in ${passphrase_env}, or not a private key"
            if passphrase
            else f"a passphrase-protected key needs its passphrase in ${passphrase_env}"
        )
        raise ConfigError(f"cannot read SSH key file {key_file} ({hint}): {exc}") from None


def _connect_once(settings: Ssh, pkey: paramiko.PKey, known_hosts: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    try:
        # Only the configured file: no system host keys, never AutoAdd.
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_RejectUnknownHost(settings.port, known_hosts))
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.user,
            pkey=pkey,
            look_for_keys=False,
            allow_agent=False,
            timeout=settings.connect_timeout,
            banner_timeout=settings.connect_timeout,
            auth_timeout=settings.connect_timeout,
            channel_timeout=settings.connect_timeout,
        )
        transport = client.get_transport()
        if transport is not None and settings.keepalive > 0:
            transport.set_keepalive(settings.keepalive)
    except BaseException:
        client.close()
        raise
    return client


def _read_all(channel: paramiko.Channel, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        channel.settimeout(remaining)
        chunk = channel.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def open_transport(config: Config) -> Transport:
    """The transport named by `staging.transport`: "local" or "ssh"."""
    kind = config.staging.transport
    if kind == "local":
        return LocalTransport()
    if kind == "ssh":
        ssh = config.staging.ssh
        return SshTransport.connect(
            ssh,
            key_file=config.path(ssh.key_file),
            known_hosts=config.path(ssh.known_hosts),
        )
    raise ConfigError(f"staging.transport: {kind!r} is not one of local, ssh")


# ---------------------------------------------------------------------------
# The stagecalms command line


def stagecalms_argv(config: Config, request: Request) -> list[str]:
    """`stagecalms.sh PROJCODE MOUSUID TICKET [X CALFIELD]` as a list of words."""
    argv = [config.expand(word) for word in shlex.split(config.staging.command)]
    argv += [request.project, request.mous, request.ticket]
    if request.calfields:
        argv += ["X", ",".join(request.calfields)]
    return argv


def _quote(word: str) -> str:
    # Always quoted, even where shlex.quote would not: a bare `A=b` first word would
    # be read by the shell as an assignment, not as the command.
    return "'" + word.replace("'", "'\"'\"'") + "'"


def command_line(argv: list[str]) -> str:
    """The argv as one POSIX shell command line in which every word is quoted."""
    if not argv:
        raise ValueError("empty command")
    return " ".join(_quote(word) for word in argv)


def jobs_dir(config: Config) -> str:
    """`staging.jobs_dir` with `{data_dir}` expanded; a leading `~/` stays for the remote shell."""
    return config.expand(config.staging.jobs_dir)


# ---------------------------------------------------------------------------
# Detached launch and polling

_JOB_NAME = re.compile(r"[A-Za-z0-9._-]+")
_LOG_MARKER = "--- mailbot: job log follows ---"


@dataclass(frozen=True)
class LaunchedJob:
    """A job on the staging host: its directory there and the pid of its process group."""

    job_dir: str
    pid: int  # 0: unknown (the directory existed without a pid file)
    started: bool = field(default=True, compare=False)  # False: an earlier launch's job


@dataclass(frozen=True)
class JobStatus:
    """What a poll saw: finished (rc written or process gone), exit status, whole log."""

    finished: bool
    exit_status: int | None
    output: str
    alive: bool


def _remote_path(path: str) -> str:
    """Quote a path for sh, leaving a leading `~/` to the staging host's $HOME."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + _quote(path[2:])
    if path.startswith("~"):
        raise ValueError(f"jobs directory {path!r}: only `~/` is expanded")
    return _quote(path)


def _one_line(text: str, limit: int = 300) -> str:
    """Remote output fit for the one line an outage is reported in."""
    line = " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _sh(script: str) -> str:
    return "sh -c " + _quote(script)


def _fields(output: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            values[key] = value
    return values


def launch(
    transport: Transport, jobs_dir: str, job_name: str, command: str, timeout: float = 60
) -> LaunchedJob:
    """Start `command` detached in `jobs_dir/job_name` unless that job already exists.

    Returns at once. A second call with the same job name starts nothing and
    returns the recorded pid, so launching is safe to repeat after a crash.
    """
    if not _JOB_NAME.fullmatch(job_name) or job_name in (".", ".."):
        raise ValueError(f"invalid job name {job_name!r}: use letters, digits and . _ -")
    # The wrapper writes rc only when the command ends: via rc.tmp + mv, so a poll
    # never reads a half-written status.
    wrapper = f"({command}); echo $? > rc.tmp && mv rc.tmp rc"
    job = _quote(job_name)
    script = "\n".join(
        [
            f"mkdir -p {_remote_path(jobs_dir)} || exit 3",
            f"cd {_remote_path(jobs_dir)} || exit 3",
            f"if mkdir {job} 2>/dev/null; then",
            f"  cd {job} || exit 3",
            f"  printf '%s\\n' {_quote(command)} > command",
            # All three streams redirected, or the channel stays open until the job
            # ends; setsid puts the job out of reach of the session's hangup.
            f"  nohup setsid sh -c {_quote(wrapper)} > out.log 2>&1 < /dev/null &",
            "  echo $! > pid.tmp && mv pid.tmp pid",
            "  echo started=1",
            "else",
            f"  cd {job} || exit 3",
            # An earlier launch may still be between its mkdir and its pid file.
            "  n=0",
            '  while [ ! -s pid ] && [ "$n" -lt 20 ]; do sleep 0.1; n=$((n + 1)); done',
            "  echo started=0",
            # Another job of the same name (a lost journal, a second installation
            # sharing jobs_dir) must never be adopted as this one.
            f'  if [ -f command ] && [ "$(cat command)" != {_quote(command)} ]; then'
            " echo foreign=1; fi",
            "fi",
            'echo "pid=$(cat pid 2>/dev/null)"',
            'echo "dir=$(pwd)"',
        ]
    )
    status, output = transport.run(_sh(script), timeout)
    values = _fields(output)
    if status == 3:
        # The host answered: its jobs directory is wrong, which no retry can mend.
        raise ConfigError(
            f"cannot create or enter staging.jobs_dir {jobs_dir} on the staging host "
            f"(a path on that host, e.g. ~/mailbot-jobs): {_one_line(output)}")
    if status != 0 or "dir" not in values:
        # The staging host did not take the job (jobs_dir not writable, a broken
        # shell): an outage of the staging host, so the run still sends its mail
        # and the job stays waiting for the next run.
        raise SshError(
            f"could not launch job {job_name} in {jobs_dir} (exit status {status}): "
            f"{_one_line(output)}"
        )
    if values.get("foreign") == "1":
        raise MailbotError(
            f"job directory {values['dir']} already exists for another command: a lost "
            f"journal or another installation shares staging.jobs_dir {jobs_dir}; "
            "refusing to adopt it (nothing was started)"
        )
    pid = values.get("pid", "")
    return LaunchedJob(
        job_dir=values["dir"],
        pid=int(pid) if pid.isdigit() else 0,
        started=values.get("started") == "1",
    )


def _alive_check(pid: int) -> str:
    """Shell lines setting `alive=1` while any process of the job's session still runs.

    setsid made the launched pid the leader of a new session holding the wrapper
    and stagecalms. Asking for the whole session, not the leader alone, keeps a
    job running while stagecalms lives on after its wrapper was killed: the job's
    slot and its MOUS stay taken until stagecalms really ends. Zombies (a staging
    host whose init does not reap them) run no more and do not count.
    """
    return "\n".join(
        [
            "if command -v ps >/dev/null 2>&1; then",
            f"  if ps -o stat= -s {pid} 2>/dev/null"
            " | awk '$1 !~ /^Z/ {n++} END {exit n == 0}'; then alive=1; else alive=0; fi",
            # Without ps (a minimal host): the session leader alone.
            f"elif kill -0 {pid} 2>/dev/null; then",
            "  alive=1",
            f'  case "$(cat /proc/{pid}/stat 2>/dev/null)" in *") Z "*) alive=0;; esac',
            "else alive=0; fi",
        ]
    )


def poll(transport: Transport, job: LaunchedJob, timeout: float = 60) -> JobStatus:
    """Read a job's exit status, whether its process lives, and its whole log."""
    # Liveness is read BEFORE rc: a job that ends in between then shows as
    # "dead with rc" (finished) instead of "dead without rc" (vanished).
    alive_check = "alive=0"
    if job.pid > 0:
        alive_check = _alive_check(job.pid)
    script = "\n".join(
        [
            f"cd {_remote_path(job.job_dir)} 2>/dev/null || {{ echo missing=1; exit 0; }}",
            alive_check,
            'if [ -f rc ]; then rc="$(cat rc)"; else rc=; fi',
            'echo "alive=$alive"',
            'echo "rc=$rc"',
            f"echo {_quote(_LOG_MARKER)}",
            "if [ -f out.log ]; then cat out.log; fi",
        ]
    )
    status, output = transport.run(_sh(script), timeout)
    # A chatty login shell may print before our lines; the marker ends the header.
    head, sep, job_log = output.partition(_LOG_MARKER + "\n")
    values = _fields(head)
    if values.get("missing") == "1":
        return JobStatus(
            finished=True,
            exit_status=None,
            output=f"job directory {job.job_dir} is missing on the staging host",
            alive=False,
        )
    if status != 0 or not sep:
        raise SshError(
            f"could not poll job {job.job_dir} (exit status {status}): {_one_line(output)}"
        )
    rc = values.get("rc", "").strip()
    exit_status = int(rc) if re.fullmatch(r"-?\d+", rc) else None
    alive = values.get("alive") == "1" and exit_status is None
    return JobStatus(
        finished=exit_status is not None or not alive,
        exit_status=exit_status,
        output=job_log,
        alive=alive,
    )


# ---------------------------------------------------------------------------
# Reading stagecalms' output (spec section 4)

_START_URL = re.compile(r"The staging directory will be accessible at\s+(\S+)")
# Seen both on one line and as "completed\nat URL".
_END_URL = re.compile(r"Staging of calibrated MS\(s\) for ([^\n]*?)completed\s+at\s+(\S+)")
_DELETION = re.compile(r"Data will be deleted\s+\d+\s+days from\s+([^\n]+?)\s*unless")
_CALFIELD_NOTICE = re.compile(r"^\*\*\* Based on your selection, only data for field .*\*\*\*$")
_RHEL5_NOTICE = "Old project, using RHEL5 build of CASA."
_REUSED = re.compile(r"Found pre-existing\s+(\S+)")
_EB_LINE = re.compile(r"^\s*(uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+)(?=\s|$)", re.MULTILINE)
_EB_NOT_FOUND = re.compile(r"MS for (uid___A\d{3}_X[0-9a-f]+_X[0-9a-f]+) was not found")
_TOTAL_SIZE = re.compile(r"total size is\s+(\d+)")
_FAILED = re.compile(r"Failed\. Please investigate\s+(\S+)")
_WORKDIR = re.compile(r"The working directory\s+(\S+)\s+on the EU ARC cluster was not removed")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~%+/-]*)?")


def well_formed_url(url: str) -> bool:
    """An http(s) URL with a host and only plain path characters (it goes into a mail)."""
    if not _URL.fullmatch(url):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    return bool(host) and ".." not in host and not host.startswith(("-", "."))


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Expected:
    """What the completion line must name: the request this staging was started for."""

    project: str
    mous_file: str
    ticket: str

    @classmethod
    def of(cls, request: Request) -> Expected:
        return cls(request.project, request.mous_file, request.ticket)


def parse_output(output: str, exit_status: int | None,
                 expected: Expected | None = None) -> StagingResult:
    """What a stagecalms run says; ok only with exit 0, the same valid URL at start and end
    and, given `expected`, a completion line naming this request's project, MOUS and ticket.
    """
    text = output.replace("\r\n", "\n")
    start = _START_URL.search(text)
    completions = _END_URL.findall(text)
    ends = [url for _, url in completions]
    failed = _FAILED.search(text)
    workdir = _WORKDIR.search(text)
    deletion = _DELETION.search(text)
    lines = [line.strip() for line in text.splitlines()]
    notices = [line for line in lines if line == _RHEL5_NOTICE or _CALFIELD_NOTICE.match(line)]
    totals = [int(size) for size in _TOTAL_SIZE.findall(text)]
    ebs = _unique(_EB_LINE.findall(text) + _EB_NOT_FOUND.findall(text))
    reused = _unique([path for path in _REUSED.findall(text)])

    problems = _problems(
        exit_status,
        failed.group(0) if failed else None,
        start.group(1) if start else None,
        ends[-1] if ends else None,
    )
    if expected is not None and completions:
        problems += _foreign(completions[-1][0], expected)
    ok = not problems
    return StagingResult(
        ok=ok,
        url=ends[-1] if ok else None,
        deletion_date=deletion.group(1) if deletion else None,
        exit_status=exit_status,
        problems=problems,
        ebs=ebs,
        reused=reused,
        total_bytes=sum(totals) if totals else None,
        notices=tuple(notices),
        failed_dir=failed.group(1) if failed else None,
        workdir=workdir.group(1) if workdir else None,
    )


def _foreign(named: str, expected: Expected) -> tuple[str, ...]:
    """A completion line for another request: never send its URL to this user."""
    ticket = re.search(rf"(?<!\d){re.escape(expected.ticket)}(?!\d)", named)
    if expected.project in named and expected.mous_file in named and ticket:
        return ()
    return (f"the completion line names '{' '.join(named.split())}', not "
            f"{expected.project} {expected.mous_file} helpdesk ticket #{expected.ticket}",)


def _problems(
    exit_status: int | None, failed: str | None, start_url: str | None, end_url: str | None
) -> tuple[str, ...]:
    problems: list[str] = []
    if exit_status is None:
        problems.append("stagecalms ended without an exit status (killed or vanished)")
    elif exit_status != 0:
        problems.append(f"stagecalms exited with status {exit_status}")
    if failed:
        problems.append(f"stagecalms reported: {failed}")
    if start_url is None:
        problems.append("no line 'The staging directory will be accessible at URL'")
    elif not well_formed_url(start_url):
        problems.append(f"the staging directory URL is not a well-formed http(s) URL: {start_url}")
    if end_url is None:
        problems.append("no completion line 'Staging of calibrated MS(s) ... completed at URL'")
    elif not well_formed_url(end_url):
        problems.append(f"the completion URL is not a well-formed http(s) URL: {end_url}")
    if start_url and end_url and start_url != end_url:
        problems.append(
            f"the staging directory URL ({start_url}) and the completion URL ({end_url}) differ"
        )
    return tuple(problems)


__all__ = [
    "JobStatus",
    "LaunchedJob",
    "LocalTransport",
    "SshTransport",
    "Transport",
    "command_line",
    "jobs_dir",
    "launch",
    "open_transport",
    "parse_output",
    "poll",
    "stagecalms_argv",
    "well_formed_url",
]
