"""What one pass did, for the log line cron mails and for `mailbot watch`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailbot.errors import ImapError, OutageError, TriggerDirError


@dataclass
class RunReport:
    kinds: Counter[str] = field(default_factory=Counter)  # request, malformed, ignored, shunted
    verdicts: Counter[str] = field(default_factory=Counter)
    started: int = 0
    finished: int = 0
    sent: int = 0
    held: int = 0
    active_jobs: int = 0
    outages: list[OutageError] = field(default_factory=list)

    def summary(self) -> str:
        unread = any(isinstance(o, ImapError | TriggerDirError) for o in self.outages)
        parts = [f"{n} {k}" for k, n in sorted(self.kinds.items())] or [
            "mail not read" if unread else "no new mail"]
        parts.append(f"{self.started} staging(s) started, {self.finished} finished,"
                     f" {self.active_jobs} active")
        parts.append(f"{self.sent} mail(s) sent" + (f", {self.held} held" if self.held else ""))
        parts += [str(outage) for outage in self.outages]
        return "; ".join(parts)
