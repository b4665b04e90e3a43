"""Mail read: every mail or trigger file seen, what became of it, and the IMAP watermarks."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailbot.clock import stamp
from mailbot.journal.db import Store, marks, stored
from mailbot.states import MailState, MessageKind, RequestState

if TYPE_CHECKING:  # the records are imported where one is built (`records`)
    from mailbot.journal.records import MessageOutcome, MessageRecord
    from mailbot.model import Request

# Recorded mail whose source mail is flagged/moved (or its trigger file removed).
_MARKED_KINDS = (MessageKind.REQUEST, MessageKind.TWIN, MessageKind.MALFORMED)
_OVER = (RequestState.ANSWERED, RequestState.COMPLETED, RequestState.CANCELLED)
_WAITING_MAIL = (MailState.QUEUED, MailState.HELD, MailState.SENDING)
_TRIGGERS = "triggers"  # the trigger directory's source: files are known by name only


# The kinds of mail the per-sender limits count.
LIMITED_KINDS = (MessageKind.REQUEST, MessageKind.MALFORMED)


def sender_key(sender: str) -> str:
    """A sender as the limits count it (and the journal stores it)."""
    return sender.strip().lower()


class MessageLog(Store):
    def seen(self, source: str, source_key: str) -> MessageRecord | None:
        row = self.db.execute(
            "SELECT * FROM messages WHERE source = ? AND source_key = ?",
            (source, stored(source_key)),
        ).fetchone()
        return None if row is None else _message(row)

    def record_message(
        self,
        *,
        source: str,
        source_key: str,
        kind: MessageKind,
        received: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        subject: str | None = None,
        sender: str | None = None,
        raw: bytes | None = None,
        request: int | None = None,
        step: str | None = None,
        passed: Sequence[str] = (),
        digest: str | None = None,
        earlier: int | None = None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO messages(source, source_key, message_id, kind, request, reason, subject,"
            " sender, received, recorded, raw, step, passed, digest, earlier)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (source, stored(source_key), stored(message_id), kind, request, stored(reason),
             stored(subject), stored(sender), stamp(received), self._stamp_now(), raw, step,
             " ".join(passed), digest, earlier),
        )
        return int(cur.lastrowid or 0)

    def same_mail(self, message_id: str | None, digest: str) -> MessageRecord | None:
        """The first arrival of this mail through any mail source: same Message-ID and content.

        A mail without Message-ID is known by its content alone. A mail recorded before
        migration 5 has no digest: it is matched by its Message-ID, as it was then.
        """
        row = self.db.execute(
            "SELECT * FROM messages WHERE source != ? AND message_id IS ?"
            " AND (digest = ? OR (digest IS NULL AND message_id IS NOT NULL))"
            " ORDER BY id LIMIT 1", (_TRIGGERS, stored(message_id), digest),
        ).fetchone()
        return None if row is None else _message(row)

    def first_with_message_id(self, message_id: str) -> MessageRecord | None:
        """The first mail recorded under this Message-ID, whatever its content."""
        row = self.db.execute(
            "SELECT * FROM messages WHERE source != ? AND message_id = ? ORDER BY id LIMIT 1",
            (_TRIGGERS, stored(message_id)),
        ).fetchone()
        return None if row is None else _message(row)

    def repoint_copies(self, old: int, new: int) -> None:
        """Copies of a mail recorded again (`mailbot reprocess`) follow it to its new row."""
        self.db.execute("UPDATE messages SET earlier = ? WHERE earlier = ?", (new, old))

    def twin_of(self, request: Request, within: timedelta) -> int | None:
        """The same request received recently through the OTHER channel (mail vs trigger).

        The trigger script both mails aog@ and writes a trigger file: one request,
        two arrivals. Only a request that has no twin yet is matched.
        """
        row = self.db.execute(
            "SELECT r.id FROM requests r WHERE r.mous = ? AND r.ticket = ? AND r.calfields = ?"
            " AND LOWER(TRIM(r.user_email)) = ? AND json_extract(r.origin, '$.channel') != ?"
            " AND r.received >= ?"
            " AND NOT EXISTS (SELECT 1 FROM messages t WHERE t.request = r.id)"
            " ORDER BY r.id DESC LIMIT 1",
            (request.mous, request.ticket, ",".join(request.calfields),
             request.user_email.strip().lower(), request.origin.channel,
             stamp(request.received - within)),
        ).fetchone()
        return None if row is None else int(row[0])

    def mark_message(self, message: int) -> None:
        self.db.execute("UPDATE messages SET marked = 1 WHERE id = ?", (message,))

    def unmarked(self, source: str) -> list[MessageRecord]:
        """Requests recorded but whose source mail was not yet flagged/moved (a crash);
        also copies of such mail (a copy is marked as its first arrival is)."""
        kinds = marks(_MARKED_KINDS)
        rows = self.db.execute(
            f"SELECT m.* FROM messages m LEFT JOIN messages first ON first.id = m.earlier"
            f" WHERE m.source = ? AND m.marked = 0 AND (m.kind IN ({kinds})"
            f" OR (m.kind = ? AND first.kind IN ({kinds}))) ORDER BY m.id",
            (source, *_MARKED_KINDS, MessageKind.COPY, *_MARKED_KINDS))
        return [_message(r) for r in rows]

    def requests_from(self, sender: str, since: datetime,
                      before: datetime | None = None) -> int:
        """Request-shaped mails (requests, malformed ones) of `sender` recorded since
        `since` (and before `before`): what the limits count (`limits`). By the
        journal's clock, which a forged Received or Date header cannot move."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM messages WHERE sender = ? AND recorded >= ?"
            " AND recorded < ? AND kind IN (?, ?)",
            (stored(sender_key(sender)), stamp(since),
             "9999" if before is None else stamp(before), *LIMITED_KINDS),
        ).fetchone()
        return int(row[0])

    def malformed_from(self, sender: str, since: datetime) -> int:
        """How many malformed mails this sender sent since `since`."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM messages WHERE kind = ? AND LOWER(sender) = ?"
            " AND received >= ?", (MessageKind.MALFORMED, sender.lower(), stamp(since))
        ).fetchone()
        return int(row[0])

    def message(self, message_id: int) -> MessageRecord:
        row = self.db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise KeyError(f"no mail {message_id} in the journal")
        return _message(row)

    def set_reason(self, message_id: int, reason: str) -> None:
        self.db.execute("UPDATE messages SET reason = ? WHERE id = ?",
                        (stored(reason), message_id))

    def forget_message(self, message_id: int) -> None:
        self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def messages_of(self, kind: MessageKind) -> list[MessageRecord]:
        """The mails of one kind, oldest first (shunted and untrusted ones keep their bytes)."""
        rows = self.db.execute("SELECT * FROM messages WHERE kind = ? ORDER BY id", (kind,))
        return [_message(r) for r in rows]

    def finished_triggers(self) -> list[tuple[int, str]]:
        """Trigger files whose request is over and whose mails have all left."""
        rows = self.db.execute(
            "SELECT m.id, m.source_key FROM messages m"
            " LEFT JOIN requests r ON r.id = COALESCE(m.request,"
            "  (SELECT id FROM requests WHERE message = m.id))"
            f" WHERE m.source = '{_TRIGGERS}' AND m.marked = 0"
            f" AND (m.kind = ? OR r.state IN ({marks(_OVER)}))"
            f" AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.state IN ({marks(_WAITING_MAIL)})"
            "   AND (o.request = r.id OR o.message = m.id))",
            (MessageKind.MALFORMED, *_OVER, *_WAITING_MAIL),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    def outcomes(self) -> list[MessageOutcome]:
        """Every mail read, oldest first, with its request and latest staging's URL."""
        rows = self.db.execute(
            "SELECT m.source_key, m.kind, m.reason, r.ticket, r.verdict, r.state,"
            " (SELECT url FROM jobs j WHERE j.request = r.id ORDER BY j.id DESC LIMIT 1) AS url"
            " FROM messages m LEFT JOIN requests r ON r.message = m.id ORDER BY m.id")
        from mailbot.journal.records import MessageOutcome

        return [MessageOutcome(
            source_key=r["source_key"], kind=MessageKind(r["kind"]), reason=r["reason"],
            ticket=r["ticket"], verdict=r["verdict"],
            state=None if r["state"] is None else RequestState(r["state"]), url=r["url"],
        ) for r in rows]

    # -- IMAP watermark -----------------------------------------------------
    def watermark(self, folder: str) -> tuple[int, int] | None:
        row = self.db.execute(
            "SELECT uidvalidity, last_uid FROM imap_state WHERE folder = ?", (folder,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_watermark(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.db.execute(
            "INSERT INTO imap_state(folder, uidvalidity, last_uid) VALUES (?,?,?)"
            " ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
            " last_uid = MAX(CASE WHEN imap_state.uidvalidity = excluded.uidvalidity"
            " THEN imap_state.last_uid ELSE 0 END, excluded.last_uid)",
            (folder, uidvalidity, last_uid),
        )


def _message(row: sqlite3.Row) -> MessageRecord:
    from mailbot.journal.records import MessageRecord

    return MessageRecord(
        id=row["id"], source=row["source"], source_key=row["source_key"],
        message_id=row["message_id"], kind=MessageKind(row["kind"]), request=row["request"],
        reason=row["reason"], subject=row["subject"], sender=row["sender"],
        received=row["received"], recorded=row["recorded"], marked=bool(row["marked"]),
        raw=None if row["raw"] is None else bytes(row["raw"]),
        step=_optional(row, "step"),
        passed=tuple((_optional(row, "passed") or "").split()),
        digest=_optional(row, "digest"),
        earlier=None if (earlier := _optional(row, "earlier")) is None else int(earlier),
    )


def _optional(row: sqlite3.Row, column: str) -> str | None:
    # A journal read (read-only) before migration 2 has no such column.
    value = row[column] if column in row.keys() else None  # noqa: SIM118 (a Row is no dict)
    return None if value is None else str(value)
