"""The bot's memory (SQLite): every mail seen, every request, staging job and outgoing mail.

The outcome of a mail is recorded here, together with every mail it causes, in
ONE transaction before the mailbox is touched (transactional outbox): a crash
anywhere leaves either nothing (the mail is redone) or everything (the mail is
skipped and only its marking is redone).

One module per table (messages, requests, jobs, outbox), and the stats
sheet's reads across them (`stats`), sharing one
connection (`db.Store`); the schema grows by numbered migrations
(`migrations`). Reads return the frozen records of `records`, never rows; that
module (and the model) is imported with the first record built, so that opening
the journal, as every start of `mailbot run` does, makes none of their classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot import lazy
from mailbot.journal.db import JournalError
from mailbot.journal.evidence import EvidenceLog
from mailbot.journal.health import HealthLog
from mailbot.journal.jobs import JobLog
from mailbot.journal.messages import LIMITED_KINDS, MessageLog, sender_key
from mailbot.journal.migrations import SCHEMA_VERSION
from mailbot.journal.outbox import OutboxLog
from mailbot.journal.requests import RequestLog
from mailbot.journal.shadow import LIVE_SINCE, ShadowLog
from mailbot.journal.stats import StatsLog

if TYPE_CHECKING:
    from mailbot.journal.records import (
        AttemptFacts,
        FailedJob,
        JobRecord,
        JudgedOn,
        MailRecord,
        MalformedFacts,
        MessageOutcome,
        MessageRecord,
        Refusal,
        RequestFacts,
        RequestRecord,
        RequestStatus,
        ShadowItem,
    )


class Journal(MessageLog, RequestLog, JobLog, OutboxLog, StatsLog, EvidenceLog, ShadowLog,
              HealthLog):
    """All reads and writes of the bot's state; one connection, explicit transactions.

    `Journal(path)` creates or migrates the file; `Journal(path, read_only=True)`
    reads a journal of this schema and writes nothing (else `JournalError`).
    """


_RECORDS = ("AttemptFacts", "FailedJob", "JobRecord", "JudgedOn", "MailRecord",
            "MalformedFacts", "MessageOutcome", "MessageRecord", "Refusal", "RequestFacts",
            "RequestRecord", "RequestStatus", "ShadowItem")

__getattr__ = lazy.attributes(__name__, dict.fromkeys(_RECORDS, "records"))


__all__ = [
    "LIMITED_KINDS",
    "LIVE_SINCE",
    "SCHEMA_VERSION",
    "AttemptFacts",
    "FailedJob",
    "JobRecord",
    "Journal",
    "JournalError",
    "JudgedOn",
    "MailRecord",
    "MalformedFacts",
    "MessageOutcome",
    "MessageRecord",
    "Refusal",
    "RequestFacts",
    "RequestRecord",
    "RequestStatus",
    "ShadowItem",
    "sender_key",
]
