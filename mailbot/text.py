"""Plain-text helpers shared by the adapters; pure, no I/O."""

from __future__ import annotations

import re

# C0 and C1 controls and the Unicode line and paragraph separators: any of them
# in a message would break the one line it is meant to stay on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, *, sep: str = " ", limit: int | None = None) -> str:
    """`text` fit for one line of a message or header.

    Control characters and runs of white space become one space, blank lines
    go, the remaining lines are joined by `sep`; a result longer than `limit`
    is cut and ends in "...".
    """
    if text.isascii() and text.isprintable() and "  " not in text and text.strip() == text:
        joined = text  # already one line: the common case, spared the work below
    else:
        lines = (" ".join(_CONTROL.sub(" ", line).split()) for line in text.splitlines())
        joined = sep.join(line for line in lines if line)
    if limit is not None and len(joined) > limit:
        return joined[: limit - 3] + "..."
    return joined
