"""Outgoing mail: queued with the decision that caused it, then sent, refused or discarded."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from mailbot.journal.db import Store, marks
from mailbot.states import MailKind, MailState

if TYPE_CHECKING:  # the records are imported where one is built (`records`)
    from mailbot.journal.records import MailRecord, Refusal
    from mailbot.model import OutgoingMail


class ReviewCopy(IntEnum):
    """`outbox.copied`: where a sent mail's review copy stands (0 and 1 as ever)."""

    MISSING = 0
    STORED = 1
    STORING = 2  # marked just before storing: a run that died may have stored it


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

    def outbox_count(self, *states: MailState) -> int:
        """How many mails are in these states: counted by the index, no mail read."""
        row = self.db.execute(
            f"SELECT COUNT(*) FROM outbox WHERE state IN ({marks(states)})", states).fetchone()
        return int(row[0])

    def outbox_mail(self, mail_id: int) -> MailRecord:
        row = self.db.execute("SELECT * FROM outbox WHERE id = ?", (mail_id,)).fetchone()
        if row is None:
            raise KeyError(f"no outgoing mail {mail_id}")
        return _mail(row)

    def claim_for_sending(self, mail_id: int) -> bool:
        """Take a queued mail to send it now; False when it is no longer queued.

        Committed before the mail is transmitted: a discard or a hold decided before
        this wins (the mail is not sent), one tried after it is refused.
        """
        return self._move(mail_id, MailState.SENDING, (MailState.QUEUED,))

    def requeue_interrupted(self) -> list[int]:
        """Mails a run that died was sending: queued again (they may have left once)."""
        rows = self.db.execute("SELECT id FROM outbox WHERE state = ? ORDER BY id",
                               (MailState.SENDING,)).fetchall()
        self.db.execute("UPDATE outbox SET state = ? WHERE state = ?",
                        (MailState.QUEUED, MailState.SENDING))
        return [int(r[0]) for r in rows]

    def mark_sent(self, mail_id: int, refused: Sequence[Refusal] = ()) -> bool:
        """The server accepted the mail being sent; `refused`: recipients it refused
        while accepting the others (AOG tells them another way). Only over `sending`."""
        cur = self.db.execute(
            "UPDATE outbox SET state = ?, sent = ?, attempts = attempts + 1, error = NULL,"
            " refused = ? WHERE id = ? AND state = ?",
            (MailState.SENT, self._stamp_now(),
             json.dumps([[r.address, r.reply] for r in refused]) if refused else None,
             mail_id, MailState.SENDING),
        )
        return cur.rowcount == 1

    def mark_attempt_failed(self, mail_id: int, error: str, *, permanent: bool) -> bool:
        """Refused: for good (failed, AOG decides), or for now (queued for the next run)."""
        cur = self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, error = ?, state = ?"
            " WHERE id = ? AND state = ?",
            (error, MailState.FAILED if permanent else MailState.QUEUED, mail_id,
             MailState.SENDING),
        )
        return cur.rowcount == 1

    def partly_refused(self) -> list[MailRecord]:
        """Sent mails some recipients of which the server refused, not yet dismissed by AOG."""
        rows = self.db.execute(
            "SELECT * FROM outbox WHERE state = ? AND refused IS NOT NULL AND dismissed = 0"
            " ORDER BY id", (MailState.SENT,))
        return [_mail(r) for r in rows]

    def dismiss_refusals(self, mail_id: int) -> bool:
        """AOG dealt with the refused recipients of a sent mail; False if it has none listed."""
        cur = self.db.execute(
            "UPDATE outbox SET dismissed = 1 WHERE id = ? AND state = ? AND refused IS NOT NULL"
            " AND dismissed = 0", (mail_id, MailState.SENT))
        return cur.rowcount == 1

    def uncopied(self) -> list[MailRecord]:
        """Sent mails whose review copy is not stored yet: only their rows are read, so an
        idle run does not load years of sent mail to find none."""
        rows = self.db.execute(f"SELECT * {_UNCOPIED} ORDER BY id", _UNCOPIED_ARGS)
        return [_mail(r) for r in rows]

    def any_uncopied(self) -> bool:
        """Whether `uncopied` would list a mail, asked without reading one."""
        found = self.db.execute(f"SELECT 1 {_UNCOPIED} LIMIT 1", _UNCOPIED_ARGS).fetchone()
        return found is not None

    def mark_copying(self, mail_ids: Sequence[int]) -> None:
        """These copies are about to be stored: if the run dies, the next one looks first."""
        self._set_copied(mail_ids, ReviewCopy.STORING)

    def mark_copied(self, mail_ids: Sequence[int]) -> None:
        self._set_copied(mail_ids, ReviewCopy.STORED)

    def _set_copied(self, mail_ids: Sequence[int], copy: ReviewCopy) -> None:
        self.db.execute(f"UPDATE outbox SET copied = ? WHERE id IN ({marks(mail_ids)})",
                        (copy, *mail_ids))

    def set_outbox_state(self, mail_id: int, state: MailState, *,
                         only_from: Sequence[MailState]) -> bool:
        """Move the mail to `state` if it is in one of `only_from`; whether it moved."""
        return self._move(mail_id, state, only_from)

    def _move(self, mail_id: int, state: MailState, only_from: Sequence[MailState]) -> bool:
        cur = self.db.execute(
            f"UPDATE outbox SET state = ? WHERE id = ? AND state IN ({marks(only_from)})",
            (state, mail_id, *only_from),
        )
        return cur.rowcount == 1


# Sent mails without their review copy. INDEXED BY: with IN, SQLite may pick the index on
# state alone, which reads every mail ever sent.
_UNCOPIED = "FROM outbox INDEXED BY outbox_uncopied WHERE state = ? AND copied IN (?, ?)"
_UNCOPIED_ARGS = (MailState.SENT, ReviewCopy.MISSING, ReviewCopy.STORING)


def _mail(row: sqlite3.Row) -> MailRecord:
    from mailbot.journal.records import MailRecord, Refusal

    return MailRecord(
        id=row["id"], message_id=row["message_id"], kind=MailKind(row["kind"]),
        request=row["request"], job=row["job"], mail_from=row["mail_from"],
        rcpt_to=tuple(json.loads(row["rcpt_to"])), subject=row["subject"],
        data=bytes(row["data"]), state=MailState(row["state"]), created=row["created"],
        sent=row["sent"], attempts=row["attempts"], error=row["error"],
        copied=row["copied"] == ReviewCopy.STORED,
        copy_in_doubt=row["copied"] == ReviewCopy.STORING,
        refused=tuple(Refusal(address, reply)
                      for address, reply in json.loads(_optional(row, "refused") or "[]")),
        dismissed=bool(_optional(row, "dismissed")),
    )


def _optional(row: sqlite3.Row, column: str) -> Any:
    # A journal read (read-only) before migration 5 has no such column.
    return row[column] if column in row.keys() else None  # noqa: SIM118 (a Row is no dict)
