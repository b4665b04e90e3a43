"""The named steps of a pass where a crash leaves something half done: the crash harness's seam.

Each point sits where a SIGKILL would leave the outside world and the journal
out of step (a mail read but not recorded, a staging started but not recorded,
a mail accepted by the SMTP server but not marked sent, ...). The code calls
`reached(point)` there; with no hook installed, which is always so in
production, that does nothing. The crash harness (`tests/faults.py`) installs a
hook in the bot processes it starts, to kill one at a chosen point or to hold
it there while a server is stopped, and checks that the next run repairs what
the killed one left.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Point(StrEnum):
    """Where a pass may be stopped; in the order a pass meets them."""

    FETCHED = "fetched"  # a mail read from its source; nothing recorded
    RECORDING = "recording"  # its outcome written in the open journal transaction
    RECORDED = "recorded"  # the outcome committed; the mailbox not yet touched
    FLAGGED = "flagged"  # IMAP: flags set on the mail, not yet moved
    MOVED = "moved"  # the mail marked in its mailbox; the journal does not know yet
    LAUNCH_BEFORE_MKDIR = "launch-before-mkdir"  # a staging about to be launched
    LAUNCH_AFTER_MKDIR = "launch-after-mkdir"  # its job directory made; nothing started
    LAUNCH_BEFORE_PID = "launch-before-pid"  # started on the host; its pid not recorded
    FINISHING = "finishing"  # a staging's end and its mail written, not committed
    SENDING = "sending"  # a mail claimed for sending; DATA not yet sent
    ACCEPTED = "accepted"  # the SMTP server accepted it; not yet marked sent
    COPIED = "copied"  # the review copy stored; not yet marked copied
    TRIGGER_REMOVED = "trigger-removed"  # a finished trigger file removed; not yet marked


Hook = Callable[[Point], None]

_hook: Hook | None = None


def reached(point: Point) -> None:
    """The pass is at `point`: the installed hook, if any, decides what happens."""
    if _hook is not None:
        _hook(point)


def install(hook: Hook | None) -> None:
    """Install (or with None remove) the one hook; only tests do."""
    global _hook
    _hook = hook
