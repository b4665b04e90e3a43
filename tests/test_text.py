"""`mailbot.text.one_line`: what an outage line or a header may safely hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.text import one_line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("  \n \r\n\t ", ""),
        ("plain", "plain"),
        ("  two   spaces\tand a tab ", "two spaces and a tab"),
        ("DPY-6005: cannot connect\n  [Errno 111] refused\n",
         "DPY-6005: cannot connect [Errno 111] refused"),
        ("bell\x07and\x00nul\x1b[1mbold", "bell and nul [1mbold"),
        ("line\u2028separator\x85next", "line separator next"),
    ],
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_lines_joined_by_a_separator_and_cut_at_the_limit() -> None:
    output = "sh: 1: cannot create rc.tmp\n\n  Permission denied  \n"
    assert one_line(output, sep=" | ") == "sh: 1: cannot create rc.tmp | Permission denied"
    assert one_line("x" * 10, limit=10) == "x" * 10
    assert one_line("x" * 11, limit=10) == "x" * 7 + "..."


@given(st.text())
def test_never_more_than_one_line(text: str) -> None:
    line = one_line(text, sep=" | ", limit=50)
    assert len(line.splitlines()) <= 1 and len(line) <= 50
    assert line == line.strip()
