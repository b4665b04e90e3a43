"""The mails a shadow pass took: recorded and judged like any, their mail and stagings shelved.

Shelving is the one place that turns "would send, would launch" into journal
state: every mail the shadow passes queued is discarded and every staging they
queued cancelled, so that no later live run can send or launch them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.journal.db import Store, marks
from mailbot.states import JobState, MailState, RequestState

if TYPE_CHECKING:  # built by `shadow_taken` only (`records`)
    from mailbot.journal.records import ShadowItem

_UNSENT = (MailState.QUEUED, MailState.HELD)
SHELVED = "shadow mode: never sent"
# Journal meta: where the current shadow period started (no end while it is set),
# and when shadow mode last gave way to live mode (the clean cut-over).
_PERIOD = "shadow_period"
LIVE_SINCE = "live_since"


class ShadowLog(Store):
    def shadow_period(self) -> tuple[int, int] | None:
        """The last mail and outgoing mail recorded before the shadow period; None: live."""
        period = self.get_meta(_PERIOD)
        return None if period is None else (int(period.split()[0]), int(period.split()[1]))

    def begin_shadow(self) -> None:
        """Start a shadow period above the mail and outgoing mail recorded so far."""
        row = self.db.execute("SELECT (SELECT COALESCE(MAX(id), 0) FROM messages),"
                              " (SELECT COALESCE(MAX(id), 0) FROM outbox)").fetchone()
        self.set_meta(_PERIOD, f"{int(row[0])} {int(row[1])}")

    def end_shadow(self) -> None:
        """Close the shadow period; no mail received before now is answered (`live_since`)."""
        self.db.execute("DELETE FROM meta WHERE key = ?", (_PERIOD,))
        self.set_meta(LIVE_SINCE, self._stamp_now())

    def shelve(self, since_message: int, since_mail: int) -> None:
        """Mark the mails taken above `since_message` as shadow and shelve what they caused."""
        now = self._stamp_now()
        self.db.execute("INSERT OR IGNORE INTO shadow(message, shelved)"
                        " SELECT id, ? FROM messages WHERE id > ?", (now, since_message))
        self.db.execute(f"UPDATE outbox SET state = ?, error = ? WHERE state IN ({marks(_UNSENT)})"
                        " AND (id > ? OR message IN (SELECT message FROM shadow))",
                        (MailState.DISCARDED, SHELVED, *_UNSENT, since_mail))
        shadow_requests = "SELECT id FROM requests WHERE message IN (SELECT message FROM shadow)"
        self.db.execute(f"UPDATE jobs SET state = ?, finished = ? WHERE state = ?"
                        f" AND request IN ({shadow_requests})",
                        (JobState.CANCELLED, now, JobState.WAITING))
        self.db.execute(f"UPDATE requests SET state = ?, updated = ? WHERE state = ?"
                        f" AND id IN ({shadow_requests})",
                        (RequestState.CANCELLED, now, RequestState.STAGING))

    def shadow_taken(self) -> list[ShadowItem]:
        """Every mail the shadow passes took, oldest first."""
        rows = self.db.execute(
            "SELECT m.id, m.kind, m.sender, m.subject, m.received, m.reason,"
            " r.id AS request, r.verdict,"
            " (SELECT GROUP_CONCAT(o.kind, ' ') FROM outbox o WHERE o.message = m.id) AS mails"
            " FROM shadow s JOIN messages m ON m.id = s.message"
            " LEFT JOIN requests r ON r.message = m.id ORDER BY m.id")
        from mailbot.journal.records import ShadowItem

        return [ShadowItem(int(r["id"]), str(r["kind"]), r["sender"], r["subject"],
                           str(r["received"]), r["reason"], r["request"], r["verdict"],
                           tuple((r["mails"] or "").split())) for r in rows]
