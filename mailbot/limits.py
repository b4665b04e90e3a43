"""The bounds on what one sender, one mail and one reply may cost (`[limits]`, issue 10).

Anyone on the internet can write to aog@: every request-shaped mail is counted
against its sender, per day and per run, and a mail too large is not parsed.
What is over a limit is kept for AOG (`mailbot attention`), never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.errors import ConfigError

# A header field name (RFC 5322 section 3.6.8): printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class Limits:
    # Request-shaped mails one sender may send (any channel) in 24 h and in one run;
    # beyond, they are kept for AOG, who gets one notice per sender and day.
    requests_per_day: int = 30
    requests_per_run: int = 20
    # A mail or trigger file larger than this is kept for AOG unread (parsing is bounded).
    max_mail_bytes: int = 5_000_000


def check_limits(limits: Limits, max_recipients: int, loop_header: str) -> None:
    """Refuse a limit that a typo turned into no limit, or into no service at all."""
    for key in ("requests_per_day", "requests_per_run", "max_mail_bytes"):
        if getattr(limits, key) < 1:
            raise ConfigError(f"limits.{key} must be at least 1")
    if max_recipients < 1:
        raise ConfigError("replies.max_recipients must be at least 1")
    if not _FIELD_NAME.fullmatch(loop_header):
        # It names a header of every mail sent: anything else would break them all.
        raise ConfigError(f"replies.loop_header is not a header name: {loop_header!r}")
