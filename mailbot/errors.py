"""Real faults (an outside party failing), as opposed to expected outcomes, which are values."""

from __future__ import annotations

# sysexits.h EX_TEMPFAIL: cron and operators read it as "try again later".
EXIT_OUTAGE = 75
EXIT_CONFIG = 78
# What argparse exits with for a bad command line; our own checks of arguments agree.
EXIT_USAGE = 2


class MailbotError(Exception):
    """Base of every fault the CLI turns into one clear line and an exit status."""

    exit_status = 1


class ConfigError(MailbotError):
    exit_status = EXIT_CONFIG


class UsageError(MailbotError):
    """An argument the parser let through but the command cannot use (`--today 2019-13-01`)."""

    exit_status = EXIT_USAGE


class OutageError(MailbotError):
    """A server the run needs is down; everything not done stays for the next run."""

    exit_status = EXIT_OUTAGE
    party = "server"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.party} unavailable: {detail}")


class ImapError(OutageError):
    party = "IMAP server"


class SmtpError(OutageError):
    party = "SMTP server"


class ArchiveError(OutageError):
    party = "archive database"


class SshError(OutageError):
    party = "staging host"


class TriggerDirError(OutageError):
    """The trigger directory (often a network share) cannot be read or written."""

    party = "trigger directory"


class HostKeyError(MailbotError):
    """The staging host's key does not match known_hosts: never retried, nothing run."""

    exit_status = 1


class AlreadyRunning(MailbotError):
    """Another run holds the lock; an overlapping cron run exits quietly."""

    exit_status = 0
