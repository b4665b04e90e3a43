"""Detached jobs on the staging host: launch once, poll from any later run.

A job directory `jobs_dir/job_name` holds `job.sh` (the wrapper), `command`,
`out.log` and, once the wrapper runs, `started/`, `pid` and, when the command
ended, `rc`. The shell scripts below are the whole protocol: each is sent as
one `sh -c WORD` and answers with `key=value` lines.

A launch is three steps, each safe to repeat after a crash at any point:
1. `prepare`: `mkdir` of the job directory (one caller gets it), then `job.sh`
   and `command`, each written whole (tmp + mv), `job.sh` first;
2. `start`: the wrapper started detached, unless a wrapper ran already;
3. the wrapper's first act is `mkdir started`, which succeeds for exactly one
   wrapper (a second one exits at once), and its second is writing `pid`.
So a job runs at most once, and its pid is written by the job itself, not by
a launching shell that may die before writing it. A job directory without
`pid` is in doubt, never taken for a dead job: its staging may run (`started`
is there) or may be started (`job.sh` is there and `started` is not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailbot import faults
from mailbot.errors import ConfigError, MailbotError, SshError
from mailbot.stage.command import quote
from mailbot.stage.transport import Transport
from mailbot.text import one_line

_JOB_NAME = re.compile(r"[A-Za-z0-9._-]+")
_LOG_MARKER = "--- mailbot: job log follows ---"
_RUNNING = "mailbot-running"  # still_running's answer: this word and a job's index
# How long a launch waits for the started wrapper to write its pid (500 x 10 ms):
# the wrapper writes it first thing, so only a very busy host takes longer, and
# then the job is in doubt until a poll sees the pid.
_PID_WAIT_STEPS = 500


@dataclass(frozen=True)
class LaunchedJob:
    """A job on the staging host: its directory there and the pid of its process group."""

    job_dir: str
    pid: int | None  # None: no pid file yet (in doubt until its directory shows one)
    started: bool = field(default=True, compare=False)  # False: an earlier launch's job


@dataclass(frozen=True)
class JobStatus:
    """What a poll saw in the job directory."""

    finished: bool  # rc written, or the process with the recorded pid is gone
    exit_status: int | None
    output: str
    alive: bool
    pid: int | None = None  # as the directory says (None: no pid file)
    unstarted: bool = False  # prepared but its wrapper never ran: nothing runs


def _wrapper(command: str) -> str:
    """job.sh: claim the start, write the pid, run, write the exit status (rc.tmp + mv, so
    a poll never reads half a status)."""
    return "\n".join([
        "mkdir started 2>/dev/null || exit 0",
        "echo $$ > pid.tmp && mv pid.tmp pid",
        f"({command})",
        "echo $? > rc.tmp && mv rc.tmp rc",
        "",
    ])


def launch(
    transport: Transport, jobs_dir: str, job_name: str, command: str, timeout: float = 60
) -> LaunchedJob:
    """Start `command` detached in `jobs_dir/job_name` unless that job already started.

    Returns at once. Called again with the same job name, it starts nothing new and
    returns the first start's pid, so launching is safe to repeat after a crash.
    """
    if not _JOB_NAME.fullmatch(job_name) or job_name in (".", ".."):
        raise ValueError(f"invalid job name {job_name!r}: use letters, digits and . _ -")
    faults.reached(faults.Point.LAUNCH_BEFORE_MKDIR)
    status, output = transport.run(_sh(_prepare_script(jobs_dir, job_name, command)), timeout)
    job_dir = _prepared(status, output, jobs_dir, job_name)
    faults.reached(faults.Point.LAUNCH_AFTER_MKDIR)
    status, output = transport.run(_sh(_start_script(job_dir)), timeout)
    values = _fields(output)
    if status != 0 or values.get("missing") == "1":
        raise SshError(f"could not start job {job_name} in {job_dir} (exit status {status}): "
                       f"{_said(output)}")
    faults.reached(faults.Point.LAUNCH_BEFORE_PID)
    pid = _pid(values.get("pid", ""))
    return LaunchedJob(job_dir=job_dir, pid=pid,
                       started=pid is not None and values.get("spawned") == str(pid))


def _prepare_script(jobs_dir: str, job_name: str, command: str) -> str:
    job = quote(job_name)
    write_files = [
        # job.sh before command: a directory with command and no job.sh was made by
        # a mailbot of before (whose jobs wrote no `started`), never by this one.
        f"  printf '%s' {quote(_wrapper(command))} > job.sh.tmp && mv job.sh.tmp job.sh",
        f"  printf '%s\\n' {quote(command)} > command.tmp && mv command.tmp command",
    ]
    return "\n".join([
        f"mkdir -p {_remote_path(jobs_dir)} || exit 3",
        f"cd {_remote_path(jobs_dir)} || exit 3",
        f"mkdir {job} 2>/dev/null",
        f"cd {job} || exit 3",
        "if [ -f command ]; then",
        # Another job of the same name (a lost journal, a second installation
        # sharing jobs_dir) must never be adopted as this one.
        f'  if [ "$(cat command)" != {quote(command)} ]; then echo foreign=1; fi',
        "else",
        # Made by a launch that died before writing command: nothing ran from here.
        *write_files,
        "fi",
        'echo "dir=$(pwd)"',
    ])


def _prepared(status: int, output: str, jobs_dir: str, job_name: str) -> str:
    """The job directory the prepare script reported, or the fault it met."""
    values = _fields(output)
    if status == 3:
        # The host answered: its jobs directory is wrong, which no retry can mend.
        raise ConfigError(
            f"cannot create or enter staging.jobs_dir {jobs_dir} on the staging host "
            f"(a path on that host, e.g. ~/mailbot-jobs): {_said(output)}")
    if status != 0 or "dir" not in values:
        # The staging host did not take the job (a broken shell, a full disk): an
        # outage of the staging host, so the run still sends its mail and the job
        # stays waiting for the next run.
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
    return values["dir"]


def _start_script(job_dir: str) -> str:
    return "\n".join([
        f"cd {_remote_path(job_dir)} 2>/dev/null || {{ echo missing=1; exit 0; }}",
        'if [ -f job.sh ] && [ ! -d started ]; then',
        # All three streams redirected, or the channel stays open until the job ends
        # (appended: a second wrapper that loses the start must not empty the log);
        # setsid puts the job out of reach of the session's hangup.
        "  nohup setsid sh job.sh >> out.log 2>&1 < /dev/null &",
        '  echo "spawned=$!"',
        # The wrapper just started writes its pid first thing: wait for it. One
        # that claimed the start earlier and shows no pid is in doubt, not waited for.
        "  n=0",
        f'  while [ ! -s pid ] && [ ! -f rc ] && [ "$n" -lt {_PID_WAIT_STEPS} ]; do',
        "    sleep 0.01; n=$((n + 1))",
        "  done",
        "fi",
        'echo "pid=$(cat pid 2>/dev/null)"',
    ])


def _pid(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def poll(transport: Transport, job: LaunchedJob, timeout: float = 60) -> JobStatus:
    """Read a job's exit status, its pid, whether its process lives, and its whole log."""
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
    pid = _pid(values.get("pid", ""))
    alive = values.get("alive") == "1" and exit_status is None
    if pid is None and exit_status is None:
        # No pid and no status: in doubt (it may run), never taken for dead.
        return JobStatus(finished=False, exit_status=None, output=job_log, alive=False,
                         unstarted=values.get("unstarted") == "1")
    return JobStatus(
        finished=exit_status is not None or not alive,
        exit_status=exit_status,
        output=job_log,
        alive=alive,
        pid=pid,
    )


def still_running(transport: Transport, jobs: Sequence[LaunchedJob],
                  timeout: float = 60) -> set[str]:
    """The directories of the `jobs` that run as last seen: their pid file shows the pid
    known, that process (the session's leader) lives, no exit status yet. One command asks
    for all, each pass; every other job (ended, vanished, in doubt, its pid new, its leader
    gone) is for `poll` to read whole."""
    known = [(n, job) for n, job in enumerate(jobs) if job.pid is not None]
    if not known:
        return set()
    lines = []
    for n, job in known:
        here = _remote_path(job.job_dir)
        lines += [
            f'pid=; read -r pid 2>/dev/null < {here}/pid',
            f'if [ "$pid" = {job.pid} ] && [ ! -f {here}/rc ]; then',
            _leader_alive(),
            f'  if [ "$alive" = 1 ]; then echo "{_RUNNING} {n}"; fi',
            "fi",
        ]
    status, output = transport.run(_sh("\n".join([*lines, f"echo {_RUNNING} end"])), timeout)
    said = {line.strip() for line in output.splitlines()}
    if status != 0 or f"{_RUNNING} end" not in said:
        raise SshError(f"could not poll {len(known)} jobs (exit status {status}): "
                       f"{_said(output)}")
    return {job.job_dir for n, job in known if f"{_RUNNING} {n}" in said}


def _poll_script(job: LaunchedJob) -> str:
    # Liveness is read BEFORE rc: a job that ends in between then shows as
    # "dead with rc" (finished) instead of "dead without rc" (vanished).
    return "\n".join(
        [
            f"cd {_remote_path(job.job_dir)} 2>/dev/null || {{ echo missing=1; exit 0; }}",
            'pid="$(cat pid 2>/dev/null)"',
            f'case "$pid" in ""|*[!0-9]*) pid={job.pid or ""};; esac',
            'if [ -n "$pid" ]; then',
            _alive_check(),
            "else alive=0; fi",
            'if [ -f rc ]; then rc="$(cat rc)"; else rc=; fi',
            'if [ -z "$pid" ] && [ -f job.sh ] && [ ! -d started ]; then echo unstarted=1; fi',
            'echo "pid=$pid"',
            'echo "alive=$alive"',
            'echo "rc=$rc"',
            f"echo {quote(_LOG_MARKER)}",
            "if [ -f out.log ]; then cat out.log; fi",
        ]
    )


def _leader_alive() -> str:
    """Shell lines setting `alive=1` while the session leader `$pid` runs, not a zombie:
    with /proc, by shell builtins alone (a poll of every pass forks nothing); without it,
    as `_alive_check`. A leader gone while its session lives on is not "running" here:
    `poll` reads that job whole and finds the session."""
    return "\n".join([
        "  if [ -d /proc/self ]; then",
        '    alive=0; stat=; read -r stat 2>/dev/null < "/proc/$pid/stat"',
        '    case "$stat" in "") ;; *") Z "*) ;; *) alive=1;; esac',
        "  else",
        _alive_check(),
        "  fi",
    ])


def _alive_check() -> str:
    """Shell lines setting `alive=1` while any process of the session `$pid` still runs.

    setsid made the job's pid the leader of a new session holding the wrapper
    and stagecalms. Asking for the whole session, not the leader alone, keeps a
    job running while stagecalms lives on after its wrapper was killed: the job's
    slot and its MOUS stay taken until stagecalms really ends. Zombies (a staging
    host whose init does not reap them) run no more and do not count.
    """
    return "\n".join(
        [
            "  if command -v ps >/dev/null 2>&1; then",
            '    if ps -o stat= -s "$pid" 2>/dev/null'
            " | awk '$1 !~ /^Z/ {n++} END {exit n == 0}'; then alive=1; else alive=0; fi",
            # Without ps (a minimal host): the session leader alone.
            '  elif kill -0 "$pid" 2>/dev/null; then',
            "    alive=1",
            '    case "$(cat /proc/$pid/stat 2>/dev/null)" in *") Z "*) alive=0;; esac',
            "  else alive=0; fi",
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
