"""The stats sheet's reads: every request of a time window with the moments it passed.

Read only, across the tables: a request's receipt and verdict (requests), each
staging attempt's launch, end, bytes and reuse (jobs), and when the mails that
answered it left (outbox). The window is on the receipt, [since, until).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.clock import stamp
from mailbot.journal.db import Store
from mailbot.states import JobState, MailKind, MailState, MessageKind, RequestState

if TYPE_CHECKING:  # the records are imported where one is built (`records`)
    from mailbot.journal.records import AttemptFacts, MalformedFacts, RequestFacts

# Stamps are ISO 8601 in UTC, so text order is time order; these bound "no limit".
_EARLIEST, _LATEST = "0000", "9999"



class StatsLog(Store):
    def request_facts(self, since: datetime | None = None,
                      until: datetime | None = None) -> list[RequestFacts]:
        """The requests received in [since, until), oldest first, with their attempts."""
        window = _window(since, until)
        attempts = self._attempts(window)
        rows = self.db.execute(
            "SELECT r.*,"
            f" {_sent('request', 'r', MailKind.VERDICT)} AS replied,"
            f" {_sent('request', 'r', MailKind.COMPLETION)} AS completed,"
            # Waiting: queued, held for review or being handed over; not over.
            " EXISTS (SELECT 1 FROM outbox o WHERE o.request = r.id AND o.kind IN (?, ?)"
            "  AND o.state NOT IN (?, ?, ?)) AS mail_waiting"
            " FROM requests r WHERE r.received >= ? AND r.received < ?"
            " ORDER BY r.received, r.id",
            (MailKind.VERDICT, MailKind.COMPLETION, MailState.SENT, MailState.FAILED,
             MailState.DISCARDED, *window),
        )
        return [_request(r, attempts.get(r["id"], ())) for r in rows]

    def malformed_facts(self, since: datetime | None = None,
                        until: datetime | None = None) -> list[MalformedFacts]:
        """The malformed request mails received in [since, until), oldest first."""
        rows = self.db.execute(
            f"SELECT m.received, m.sender,"
            f" {_sent('message', 'm', MailKind.MALFORMED)} AS replied"
            " FROM messages m WHERE m.kind = ? AND m.received >= ? AND m.received < ?"
            " ORDER BY m.received, m.id",
            (MessageKind.MALFORMED, *_window(since, until)),
        )
        from mailbot.journal.records import MalformedFacts

        return [MalformedFacts(received=r["received"], sender=r["sender"], replied=r["replied"])
                for r in rows]

    def _attempts(self, window: tuple[str, str]) -> dict[int, tuple[AttemptFacts, ...]]:
        rows = self.db.execute(
            "SELECT j.* FROM jobs j JOIN requests r ON r.id = j.request"
            " WHERE r.received >= ? AND r.received < ? ORDER BY j.id", window)
        found: dict[int, list[AttemptFacts]] = defaultdict(list)
        for r in rows:
            found[r["request"]].append(_attempt(r))
        return {request: tuple(attempts) for request, attempts in found.items()}


def _sent(key: str, row: str, kind: MailKind) -> str:
    """When the first mail of `kind` caused by the row left; NULL while none did."""
    return (f"(SELECT MIN(o.sent) FROM outbox o WHERE o.{key} = {row}.id"
            f" AND o.kind = '{kind}' AND o.state = '{MailState.SENT}')")


def _window(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    return (_EARLIEST if since is None else stamp(since),
            _LATEST if until is None else stamp(until))


def _attempt(row: sqlite3.Row) -> AttemptFacts:
    from mailbot.journal.records import AttemptFacts

    problems = json.loads(row["problems"] or "[]")
    return AttemptFacts(
        job=row["id"], attempt=row["attempt"], state=JobState(row["state"]),
        queued=row["queued"], started=row["started"], finished=row["finished"],
        total_bytes=row["total_bytes"], reused=row["reused"], ebs=row["ebs"],
        problem=str(problems[0]) if problems else None,
    )


def _request(row: sqlite3.Row, attempts: tuple[AttemptFacts, ...]) -> RequestFacts:
    from mailbot.journal.records import RequestFacts

    return RequestFacts(
        id=row["id"], ticket=row["ticket"], mous=row["mous"], project=row["project"],
        calfields=tuple(f for f in row["calfields"].split(",") if f),
        arc_contact=row["arc_contact"], received=row["received"], decided=row["created"],
        verdict=row["verdict"], state=RequestState(row["state"]), replied=row["replied"],
        completed=row["completed"], mail_waiting=bool(row["mail_waiting"]), attempts=attempts,
    )
