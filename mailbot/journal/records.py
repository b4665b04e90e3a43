"""What the journal hands out: frozen records, one per kind of row (never a database row).

Times are the journal's text stamps (`clock.stamp`: UTC, whole seconds, ISO
8601), as stored; `clock.parse_stamp` reads them.

The journal's modules import this one when they first build a record, not when they
are imported: an idle run (cron's every few minutes) reads no row and makes no class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailbot.states import JobState, MailKind, MailState, MessageKind, RequestState

if TYPE_CHECKING:
    from datetime import date

    from mailbot.model import Facts


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
    digest: str | None = None  # of its content (`inbox.identity`; None: a trigger file, or
    # recorded before migration 5)
    earlier: int | None = None  # for a copy or a reused Message-ID: the mail first recorded


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
    user_email: str
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
class AttemptFacts:
    """One staging attempt as the stats sheet measures it."""

    job: int
    attempt: int
    state: JobState
    queued: str
    started: str | None  # launched on the staging host
    finished: str | None
    total_bytes: int | None  # rsync's total size (None: nothing copied or not said)
    reused: int | None  # MSs hard-linked from an earlier staging (None: not known)
    ebs: int | None  # EBs the staging covered (None: not known)
    problem: str | None  # the first reason it failed


@dataclass(frozen=True)
class RequestFacts:
    """One request with every moment the stats sheet measures, from receipt to its mail."""

    id: int
    ticket: str
    mous: str
    project: str
    calfields: tuple[str, ...]
    arc_contact: str
    received: str  # reached aog@ (IMAP INTERNALDATE, Maildir delivery, trigger file time)
    decided: str  # the verdict: recorded with the request, in one transaction
    verdict: str  # VerdictCode value
    state: RequestState
    replied: str | None  # its verdict reply left (a rejection)
    completed: str | None  # its completion mail left (staged)
    mail_waiting: bool  # a mail to the user is queued or held, not sent yet
    attempts: tuple[AttemptFacts, ...]  # oldest first


@dataclass(frozen=True)
class MalformedFacts:
    """A malformed request mail and when the reply listing its problems left."""

    received: str
    sender: str | None
    replied: str | None


@dataclass(frozen=True)
class Refusal:
    """A recipient the SMTP server refused while it accepted the mail for the others."""

    address: str
    reply: str  # the server's reply, e.g. "550 5.1.1 No such user"


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
    refused: tuple[Refusal, ...] = ()  # recipients refused while the others got it
    dismissed: bool = False  # AOG dealt with those refusals (off `mailbot attention`)
    copy_in_doubt: bool = False  # a run that died may have stored the review copy


@dataclass(frozen=True)
class JudgedOn:
    """The basis of one recorded verdict; empty for requests recorded before migration 4."""

    facts: Facts | None
    day: date | None
    passed: tuple[str, ...]  # the checks passed before the one that decided
    detail: dict[str, str]  # the deciding check's `Verdict.detail`


@dataclass(frozen=True)
class ShadowItem:
    """One mail a shadow pass took, and the request it made (if it was one)."""

    message: int
    kind: str
    sender: str | None
    subject: str | None
    received: str
    reason: str | None
    request: int | None
    verdict: str | None
    mails: tuple[str, ...]  # the kinds of the mails it would have sent
