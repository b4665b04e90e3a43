"""Problem lines: a checked value with what is wrong with it, and how values are shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

# Values listed in one problem line ("lines disagree: ..."); the rest are counted.
_MAX_LISTED = 5


class Checked(NamedTuple, Generic[T]):
    """A value read from the request, and the problems found on the way.

    A check returns its problems rather than adding them to a shared list, so that
    the caller decides their order; `value` is empty when there is a problem with it.
    """

    value: T
    problems: tuple[str, ...] = ()


def disagree(label: str, values: Sequence[str]) -> str:
    """The problem of several lines of one kind that name different values."""
    return f"{count(len(values))} '{label}' lines disagree: " + listed(values)


def listed(values: Sequence[str]) -> str:
    """"'a' and 'b'", or the first `_MAX_LISTED` values "and N more": a reply stays small."""
    shown = [show(v) for v in values[:_MAX_LISTED]]
    if len(values) > _MAX_LISTED:
        return ", ".join(shown) + f" and {len(values) - _MAX_LISTED} more"
    return " and ".join(shown)


def count(n: int) -> str:
    """A small count in words, as a sentence says it."""
    return {2: "two", 3: "three"}.get(n, str(n))


def show(value: str, *, quote: bool = True, limit: int = 80) -> str:
    """A value quoted for a problem line: invisible characters escaped, long ones cut."""
    shown = value if value.isprintable() else "".join(
        c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return f"'{shown}'" if quote else shown
