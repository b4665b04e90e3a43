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

The parts, one reason to change each:
- `transport`: the `Transport` seam, the local one and `open_transport`;
- `ssh`: the paramiko transport (strict known_hosts, key loading, retries);
- `command`: the stagecalms argv and its quoting into one command line (pure);
- `jobs`: detached launch and polling, and the shell scripts they send;
- `output`: what stagecalms' output says (pure: the pure middle can use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot import lazy

if TYPE_CHECKING:
    from mailbot.stage.command import command_line, jobs_dir, stagecalms_argv
    from mailbot.stage.jobs import JobStatus, LaunchedJob, launch, poll
    from mailbot.stage.output import Expected, parse_output, well_formed_url
    from mailbot.stage.ssh import SshTransport
    from mailbot.stage.transport import LocalTransport, Transport, open_transport

# Where each name lives. Each is imported on its first use: a run with the local
# transport never loads `ssh` (nor paramiko with it).
_HOMES = {
    "command_line": "command",
    "Expected": "output",
    "jobs_dir": "command",
    "JobStatus": "jobs",
    "launch": "jobs",
    "LaunchedJob": "jobs",
    "LocalTransport": "transport",
    "open_transport": "transport",
    "parse_output": "output",
    "poll": "jobs",
    "SshTransport": "ssh",
    "stagecalms_argv": "command",
    "Transport": "transport",
    "well_formed_url": "output",
}


__getattr__ = lazy.attributes(__name__, _HOMES)


__all__ = [
    "Expected",
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
