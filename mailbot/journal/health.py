"""The figures `mailbot status` and the Prometheus textfile report, read across the tables."""

from __future__ import annotations

from mailbot.journal.db import Store, marks
from mailbot.states import MailState, RequestState

# A request is unanswered while its user's mail has not left: staging, or the mail
# that answers it still queued, held or being sent.
_WAITING_MAIL = (MailState.QUEUED, MailState.HELD, MailState.SENDING)


class HealthLog(Store):
    def oldest_unanswered(self) -> str | None:
        """When the oldest request still waiting for its answer reached the bot: two
        searches by index (staging requests; mails still to leave), not one per request."""
        row = self.db.execute(
            "SELECT MIN(received) FROM ("
            " SELECT received FROM requests WHERE state = ?"
            " UNION ALL SELECT r.received FROM outbox o JOIN requests r ON r.id = o.request"
            f"  WHERE o.state IN ({marks(_WAITING_MAIL)}))",
            (RequestState.STAGING, *_WAITING_MAIL)).fetchone()
        return None if row[0] is None else str(row[0])
