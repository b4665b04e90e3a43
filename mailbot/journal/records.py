"""What the journal hands out: frozen records, one per kind of row (never a database row).

Times are the journal's text stamps (`clock.stamp`: UTC, whole seconds, ISO
8601), as stored; `clock.parse_stamp` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.states import JobState, MailKind, MailState, MessageKind, RequestState


@dataclass(frozen=True)
class MessageRecord:
    """A mail or trigger file that was read, and what became of it."""

    id: int
    source: str  # imap:<folder>, maildir, triggers
    source_key: str  # where the source finds it again
    message_id: str | None
    kind: MessageKind
    request: int | None  # for a twin: the request it repeats
    reason: str | None
    subject: str | None
    sender: str | None
    received: str
    recorded: str
    marked: bool  # flagged/moved in its mailbox
    raw: bytes | None  # kept for shunted and untrusted mail, for AOG
    step: str | None = None  # the step of `mailbot.plan` that decided (None: before migration 2)
    passed: tuple[str, ...] = ()  # the steps it passed before


@dataclass(frozen=True)
class MessageOutcome:
    """A mail read, with the request it made (if any) and its staging's URL: the demo's table."""

    source_key: str
    kind: MessageKind
    reason: str | None
    ticket: str | None
    verdict: str | None  # VerdictCode value
    state: RequestState | None
    url: str | None


@dataclass(frozen=True)
class RequestRecord:
    """Which request, its verdict and where it stands.

    The user, the ARC contact and the mail to answer are in the `Request` that
    `Journal.request(id)` rebuilds.
    """

    id: int
    message: int | None  # the mail it came in
    ticket: str
    mous: str
    project: str
    calfields: tuple[str, ...]
    received: str
    verdict: str  # VerdictCode value
    check: str  # the check that decided
    state: RequestState
    created: str
    updated: str


@dataclass(frozen=True)
class RequestStatus(RequestRecord):
    """A request with its latest staging job's columns, as `mailbot requests` lists it."""

    job_id: int | None
    job_state: JobState | None
    attempt: int | None
    started: str | None
    finished: str | None
    url: str | None


@dataclass(frozen=True)
class JobRecord:
    """One staging attempt of a request."""

    id: int
    request: int
    attempt: int
    state: JobState
    command: str
    job_dir: str | None
    pid: int | None
    queued: str
    started: str | None
    finished: str | None
    exit_status: int | None
    output: str | None
    url: str | None
    deletion_date: str | None
    total_bytes: int | None
    problems: tuple[str, ...]
    instance: str  # of the journal: job ids repeat across journals, names must not

    @property
    def name(self) -> str:
        """The job's directory name on the staging host: unique per journal, job, attempt."""
        return f"job-{self.instance}-{self.id}-{self.attempt}"


@dataclass(frozen=True)
class FailedJob(JobRecord):
    """A failed staging not yet retried, with what AOG needs to recognise its request."""

    ticket: str
    mous: str
    project: str


@dataclass(frozen=True)
class StagingOutcome:
    """One staging attempt as the monthly report counts it."""

    received: str  # when its request arrived
    state: JobState
    total_bytes: int | None
    notified: str | None  # when the completion mail left (sent), if it did


@dataclass(frozen=True)
class MailRecord:
    """An outgoing mail with its envelope and delivery state."""

    id: int
    message_id: str
    kind: MailKind
    request: int | None
    job: int | None
    mail_from: str
    rcpt_to: tuple[str, ...]  # Bcc included (envelope only)
    subject: str
    data: bytes  # the exact bytes to transmit
    state: MailState
    created: str
    sent: str | None
    attempts: int
    error: str | None
    copied: bool  # review copy stored for AOG
