"""Outgoing mail: queued with the decision that caused it, then sent, refused or discarded."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from mailbot.journal.db import Store, marks
from mailbot.journal.records import MailRecord
from mailbot.model import OutgoingMail
from mailbot.states import MailKind, MailState


class OutboxLog(Store):
    def enqueue(
        self, mail: OutgoingMail, *, request: int | None, job: int | None, held: bool,
        message: int | None = None,
    ) -> int | None:
        """Queue a mail; a mail with the same Message-ID is queued only once."""
        cur = self.db.execute(
            "INSERT INTO outbox(message_id, kind, message, request, job, mail_from, rcpt_to,"
            " subject, data, state, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(message_id) DO NOTHING",
            (
                mail.message_id, mail.kind, message, request, job, mail.mail_from,
                json.dumps(list(mail.rcpt_to)), mail.subject, mail.data,
                MailState.HELD if held else MailState.QUEUED, self._stamp_now(),
            ),
        )
        return int(cur.lastrowid or 0) if cur.rowcount else None

    def outbox(self, *states: str) -> list[MailRecord]:
        """The mails in these states (all when none is named), oldest first.

        States are `MailState` values; another word matches no mail (as
        `mailbot outbox list --state WORD` has always shown).
        """
        if states:
            rows = self.db.execute(
                f"SELECT * FROM outbox WHERE state IN ({marks(states)}) ORDER BY id", states
            )
        else:
            rows = self.db.execute("SELECT * FROM outbox ORDER BY id")
        return [_mail(r) for r in rows]

    def outbox_mail(self, mail_id: int) -> MailRecord:
        row = self.db.execute("SELECT * FROM outbox WHERE id = ?", (mail_id,)).fetchone()
        if row is None:
            raise KeyError(f"no outgoing mail {mail_id}")
        return _mail(row)

    def mark_sent(self, mail_id: int, note: str | None = None) -> None:
        """Sent; `note` keeps what AOG should know (e.g. recipients the server refused)."""
        self.db.execute(
            "UPDATE outbox SET state = ?, sent = ?, attempts = attempts + 1, error = ?"
            " WHERE id = ?",
            (MailState.SENT, self._stamp_now(), note, mail_id),
        )

    def mark_attempt_failed(self, mail_id: int, error: str, *, permanent: bool) -> None:
        """Refused: for good (failed, AOG decides), or for now (queued for the next run)."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, error = ?, state = ? WHERE id = ?",
            (error, MailState.FAILED if permanent else MailState.QUEUED, mail_id),
        )

    def mark_copied(self, mail_id: int) -> None:
        self.db.execute("UPDATE outbox SET copied = 1 WHERE id = ?", (mail_id,))

    def set_outbox_state(self, mail_id: int, state: MailState, *,
                         only_from: Sequence[MailState]) -> bool:
        """Move the mail to `state` if it is in one of `only_from`; whether it moved."""
        cur = self.db.execute(
            f"UPDATE outbox SET state = ? WHERE id = ? AND state IN ({marks(only_from)})",
            (state, mail_id, *only_from),
        )
        return cur.rowcount == 1


def _mail(row: sqlite3.Row) -> MailRecord:
    return MailRecord(
        id=row["id"], message_id=row["message_id"], kind=MailKind(row["kind"]),
        request=row["request"], job=row["job"], mail_from=row["mail_from"],
        rcpt_to=tuple(json.loads(row["rcpt_to"])), subject=row["subject"],
        data=bytes(row["data"]), state=MailState(row["state"]), created=row["created"],
        sent=row["sent"], attempts=row["attempts"], error=row["error"],
        copied=bool(row["copied"]),
    )
