"""The stagecalms command line, quoted for the POSIX shell of the staging host (pure)."""

from __future__ import annotations

import shlex

from mailbot.config import Config
from mailbot.model import Request


def stagecalms_argv(config: Config, request: Request) -> list[str]:
    """`stagecalms.sh PROJCODE MOUSUID TICKET [X CALFIELD]` as a list of words."""
    argv = [config.expand(word) for word in shlex.split(config.staging.command)]
    argv += [request.project, request.mous, request.ticket]
    if request.calfields:
        argv += ["X", ",".join(request.calfields)]
    return argv


def quote(word: str) -> str:
    """`word` as one single-quoted shell word."""
    # Always quoted, even where shlex.quote would not: a bare `A=b` first word would
    # be read by the shell as an assignment, not as the command.
    return "'" + word.replace("'", "'\"'\"'") + "'"


def command_line(argv: list[str]) -> str:
    """The argv as one POSIX shell command line in which every word is quoted."""
    if not argv:
        raise ValueError("empty command")
    return " ".join(quote(word) for word in argv)


def jobs_dir(config: Config) -> str:
    """`staging.jobs_dir` with `{data_dir}` expanded; a leading `~/` stays for the remote shell."""
    return config.expand(config.staging.jobs_dir)
