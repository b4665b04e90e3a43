"""The bot's memory (SQLite): every mail seen, every request, staging job and outgoing mail.

The outcome of a mail is recorded here, together with every mail it causes, in
ONE transaction before the mailbox is touched (transactional outbox): a crash
anywhere leaves either nothing (the mail is redone) or everything (the mail is
skipped and only its marking is redone).

One module per table (messages, requests, jobs, outbox), sharing one
connection (`db.Store`); the schema grows by numbered migrations
(`migrations`). Reads return the frozen records of `records`, never rows.
"""

from __future__ import annotations

from mailbot.journal.db import JournalError
from mailbot.journal.jobs import JobLog
from mailbot.journal.messages import MessageLog
from mailbot.journal.migrations import SCHEMA_VERSION
from mailbot.journal.outbox import OutboxLog
from mailbot.journal.records import (
    FailedJob,
    JobRecord,
    MailRecord,
    MessageOutcome,
    MessageRecord,
    RequestRecord,
    RequestStatus,
    StagingOutcome,
)
from mailbot.journal.requests import RequestLog


class Journal(MessageLog, RequestLog, JobLog, OutboxLog):
    """All reads and writes of the bot's state; one connection, explicit transactions.

    `Journal(path)` creates or migrates the file; `Journal(path, read_only=True)`
    reads a journal of this schema and writes nothing (else `JournalError`).
    """


__all__ = [
    "SCHEMA_VERSION",
    "FailedJob",
    "JobRecord",
    "Journal",
    "JournalError",
    "MailRecord",
    "MessageOutcome",
    "MessageRecord",
    "RequestRecord",
    "RequestStatus",
    "StagingOutcome",
]
