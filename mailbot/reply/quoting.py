"""The text of a reply taken from the request: its subject and the quoted request."""

from __future__ import annotations

import re

TRUNCATION_MARKER = "[... quoted text truncated ...]"

# Any run of leading reply prefixes ("Re:", "RE:", "Aw:", "re :", "Re[2]:", "SV:"):
# a reply carries exactly one "Re: ".
_REPLY_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\]|\(\d+\))?\s*:)+\s*", re.IGNORECASE
)
# Characters of the original subject kept in a reply's Subject: a hostile mail's
# megabytes of subject must not make a reply of the same size.
_MAX_SUBJECT = 200
# Control characters and everything str.splitlines() breaks at: the email package
# refuses a header value that would split into two lines.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def reply_subject(original: str) -> str:
    """`Re: ` and the original subject without its own reply prefixes (never `Re: Re:`)."""
    rest = _REPLY_PREFIXES.sub("", header_value(original)).strip()
    if len(rest) > _MAX_SUBJECT:
        rest = rest[:_MAX_SUBJECT].rstrip() + "…"
    return f"Re: {rest}" if rest else "Re: (no subject)"


def quote(text: str, max_bytes: int) -> str:
    """`text` quoted with `> `, cut at `max_bytes` UTF-8 octets with a visible marker."""
    lines = plain_lines(text).rstrip("\n").split("\n")
    kept: list[str] = []
    used = 0
    truncated = False
    for line in lines:
        size = len(line.encode("utf-8")) + 1
        if used + size > max_bytes:
            room = max_bytes - used
            if room > 1:
                kept.append(_cut_utf8(line, room - 1))
            truncated = True
            break
        kept.append(line)
        used += size
    quoted = "\n".join(f"> {line}" if line else ">" for line in kept)
    if truncated:
        quoted += f"\n{TRUNCATION_MARKER}"
    return quoted


def header_value(value: str) -> str:
    """`value` fit for a header: each run of line breaks and controls becomes one space.

    Unlike `mailbot.text.header_value`, inner white space is kept as it is: a subject
    is copied, not tidied.
    """
    return _HEADER_BREAKS.sub(" ", value).strip()


def plain_lines(text: str) -> str:
    """LF line ends only, and text that encodes as UTF-8 (lone surrogates become '?')."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.encode("utf-8", "replace").decode("utf-8")


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
