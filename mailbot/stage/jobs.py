"""Detached jobs on the staging host: launch once, poll from any later run.

A job directory `jobs_dir/job_name` holds `command`, `pid`, `out.log` and, once
the command ended, `rc`. The shell scripts below are the whole protocol: each is
sent as one `sh -c WORD` and answers with `key=value` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbot.errors import ConfigError, MailbotError, SshError
from mailbot.stage.command import quote
from mailbot.stage.transport import Transport
from mailbot.text import one_line

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


def launch(
    transport: Transport, jobs_dir: str, job_name: str, command: str, timeout: float = 60
) -> LaunchedJob:
    """Start `command` detached in `jobs_dir/job_name` unless that job already exists.

    Returns at once. A second call with the same job name starts nothing and
    returns the recorded pid, so launching is safe to repeat after a crash.
    """
    if not _JOB_NAME.fullmatch(job_name) or job_name in (".", ".."):
        raise ValueError(f"invalid job name {job_name!r}: use letters, digits and . _ -")
    status, output = transport.run(_sh(_launch_script(jobs_dir, job_name, command)), timeout)
    return _launched(status, output, jobs_dir, job_name)


def _launch_script(jobs_dir: str, job_name: str, command: str) -> str:
    # The wrapper writes rc only when the command ends: via rc.tmp + mv, so a poll
    # never reads a half-written status.
    wrapper = f"({command}); echo $? > rc.tmp && mv rc.tmp rc"
    job = quote(job_name)
    return "\n".join(
        [
            f"mkdir -p {_remote_path(jobs_dir)} || exit 3",
            f"cd {_remote_path(jobs_dir)} || exit 3",
            f"if mkdir {job} 2>/dev/null; then",
            f"  cd {job} || exit 3",
            f"  printf '%s\\n' {quote(command)} > command",
            # All three streams redirected, or the channel stays open until the job
            # ends; setsid puts the job out of reach of the session's hangup.
            f"  nohup setsid sh -c {quote(wrapper)} > out.log 2>&1 < /dev/null &",
            "  echo $! > pid.tmp && mv pid.tmp pid",
            "  echo started=1",
            "else",
            *_existing_job(job, command),
            "fi",
            'echo "pid=$(cat pid 2>/dev/null)"',
            'echo "dir=$(pwd)"',
        ]
    )


def _existing_job(job: str, command: str) -> list[str]:
    """Shell lines for a job directory that is already there: report it, adopt only ours."""
    return [
        f"  cd {job} || exit 3",
        # An earlier launch may still be between its mkdir and its pid file.
        "  n=0",
        '  while [ ! -s pid ] && [ "$n" -lt 20 ]; do sleep 0.1; n=$((n + 1)); done',
        "  echo started=0",
        # Another job of the same name (a lost journal, a second installation
        # sharing jobs_dir) must never be adopted as this one.
        f'  if [ -f command ] && [ "$(cat command)" != {quote(command)} ]; then'
        " echo foreign=1; fi",
    ]


def _launched(status: int, output: str, jobs_dir: str, job_name: str) -> LaunchedJob:
    """The job the launch script reported, or the fault it met."""
    values = _fields(output)
    if status == 3:
        # The host answered: its jobs directory is wrong, which no retry can mend.
        raise ConfigError(
            f"cannot create or enter staging.jobs_dir {jobs_dir} on the staging host "
            f"(a path on that host, e.g. ~/mailbot-jobs): {_said(output)}")
    if status != 0 or "dir" not in values:
        # The staging host did not take the job (jobs_dir not writable, a broken
        # shell): an outage of the staging host, so the run still sends its mail
        # and the job stays waiting for the next run.
        raise SshError(
            f"could not launch job {job_name} in {jobs_dir} (exit status {status}): "
            f"{_said(output)}"
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


def poll(transport: Transport, job: LaunchedJob, timeout: float = 60) -> JobStatus:
    """Read a job's exit status, whether its process lives, and its whole log."""
    status, output = transport.run(_sh(_poll_script(job)), timeout)
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
            f"could not poll job {job.job_dir} (exit status {status}): {_said(output)}"
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


def _poll_script(job: LaunchedJob) -> str:
    # Liveness is read BEFORE rc: a job that ends in between then shows as
    # "dead with rc" (finished) instead of "dead without rc" (vanished).
    return "\n".join(
        [
            f"cd {_remote_path(job.job_dir)} 2>/dev/null || {{ echo missing=1; exit 0; }}",
            _alive_check(job.pid) if job.pid > 0 else "alive=0",
            'if [ -f rc ]; then rc="$(cat rc)"; else rc=; fi',
            'echo "alive=$alive"',
            'echo "rc=$rc"',
            f"echo {quote(_LOG_MARKER)}",
            "if [ -f out.log ]; then cat out.log; fi",
        ]
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


def _remote_path(path: str) -> str:
    """Quote a path for sh, leaving a leading `~/` to the staging host's $HOME."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + quote(path[2:])
    if path.startswith("~"):
        raise ValueError(f"jobs directory {path!r}: only `~/` is expanded")
    return quote(path)


def _sh(script: str) -> str:
    return "sh -c " + quote(script)


def _fields(output: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            values[key] = value
    return values


def _said(output: str) -> str:
    """Remote output fit for the one line an outage is reported in."""
    return one_line(output, sep=" | ", limit=300)
