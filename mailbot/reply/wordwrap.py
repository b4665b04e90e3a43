"""Jinja2's `wordwrap` filter, as the templates call it, without a `TextWrapper` per line.

The shipped templates wrap their paragraphs with
`wordwrap(72, break_long_words=false, break_on_hyphens=false)`: textwrap then
splits at white space only and never breaks a word, which is done here the way
`textwrap.TextWrapper._wrap_chunks` does it (same chunks, same greedy fill, same
white space dropped), at a fraction of its cost. Any other options are handed to
Jinja2's own filter; tests/test_reply_fast.py compares the two.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

# textwrap's `wordsep_simple_re`: runs of its white space, kept as chunks.
_CHUNKS = re.compile(r"([\t\n\x0b\x0c\r ]+)")


def wordwrap(environment: jinja2.Environment, s: str, width: int = 79,
             break_long_words: bool = True, wrapstring: str | None = None,
             break_on_hyphens: bool = True) -> str:
    """`jinja2.filters.do_wordwrap`, with the same arguments and result."""
    if break_long_words or break_on_hyphens or width <= 0:
        from jinja2.filters import do_wordwrap

        return do_wordwrap(environment, s, width, break_long_words, wrapstring,
                           break_on_hyphens)
    if wrapstring is None:
        wrapstring = environment.newline_sequence
    return wrapstring.join(wrapstring.join(_wrap(line, width)) for line in s.splitlines())


def _wrap(paragraph: str, width: int) -> list[str]:
    """`textwrap.wrap(paragraph, width, expand_tabs=False, replace_whitespace=False,
    break_long_words=False, break_on_hyphens=False)`: each line takes as many chunks as
    fit (found by bisection, not chunk by chunk), else one long word alone."""
    chunks = [c for c in _CHUNKS.split(paragraph) if c]
    ends = list(accumulate(map(len, chunks)))  # where each chunk ends
    lines: list[str] = []
    at, end = 0, len(chunks)
    while at < end:
        if lines and not chunks[at].strip():  # a later line starts with no white space
            at += 1
            if at == end:
                break
        start = ends[at - 1] if at else 0
        stop = max(bisect_right(ends, start + width, at, end), at + 1)
        kept = stop - 1 if not chunks[stop - 1].strip() else stop  # nor ends with it
        if kept > at:
            lines.append("".join(chunks[at:kept]))
        at = stop
    return lines
