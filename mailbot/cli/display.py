"""Small text forms shared by the listings: ages, durations, cut columns, subjects."""

from __future__ import annotations

from datetime import datetime

from mailbot.clock import parse_stamp


def age(stamp: str | None, now: datetime) -> str:
    """How long before `now` a journal stamp is, in its largest unit: `3d`, `5h`, `12m`, `40s`."""
    if not stamp:
        return "-"
    seconds = (now - parse_stamp(stamp)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def duration(start: str | None, end: str | None, now: datetime) -> str:
    """H:MM:SS from `start` to `end`, or to `now` while it still runs."""
    if not start:
        return "-"
    stop = parse_stamp(end) if end else now
    seconds = int((stop - parse_stamp(start)).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def subject_of(raw: bytes | None) -> str:
    """The Subject of stored mail bytes on one line, whatever state the mail is in.

    Read as the grammar reads headers (cut before decoding, never raising) and shown
    without controls: kept mail may be anyone's, with a megabyte Subject or terminal
    escape sequences in it.
    """
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    from mailbot import textmail

    try:
        head = BytesHeaderParser(policy=compat32).parsebytes(raw or b"")
        subject = textmail.header_text(head, "Subject")
    except Exception:  # the mail broke the bot once already: show what we can
        subject = ""
    return textmail.one_line(subject or "(no subject)")[:80]
