"""The closed sets of states the journal records, shared by the run loop and the reports."""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    """What became of a mail or trigger file that was read."""

    REQUEST = "request"
    TWIN = "twin"  # a second arrival of a recorded request (its mail or its trigger file)
    MALFORMED = "malformed"
    IGNORED = "ignored"  # not a request: never answered, never touched
    UNTRUSTED = "untrusted"  # request-shaped, from outside the ARC or unauthenticated: kept
    KEPT = "kept"  # over a sender's limits, or not read (too large): kept for AOG
    SHUNTED = "shunted"  # the bot failed on it: kept with its bytes for AOG
    COPY = "copy"  # another copy of a recorded mail (same Message-ID and content): not served
    REUSED = "reused"  # another mail under a recorded mail's Message-ID: kept for AOG


class RequestState(StrEnum):
    ANSWERED = "answered"
    STAGING = "staging"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class MailState(StrEnum):
    QUEUED = "queued"
    HELD = "held"  # waits for AOG's approval
    SENDING = "sending"  # handed to the SMTP server; its answer not yet recorded
    SENT = "sent"
    FAILED = "failed"  # refused for good by the SMTP server
    DISCARDED = "discarded"


class MailKind(StrEnum):
    VERDICT = "verdict"
    MALFORMED = "malformed"
    COMPLETION = "completion"
    FAILURE = "failure"
    NOTICE = "notice"  # to AOG: a sender's requests are being kept (limits)


ACTIVE_REQUEST_STATES = (RequestState.STAGING,)
ACTIVE_JOB_STATES = (JobState.WAITING, JobState.RUNNING)
