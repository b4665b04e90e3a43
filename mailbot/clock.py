"""Time, passed in: the edges read the wall clock here, tests hand in a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from; every timestamp the bot writes is read from one of these."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC (the journal stores UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to (tests, `mailbot check --today`)."""

    # A plain class: every command imports this module, and `dataclasses` (with
    # `inspect`) would be a fifth of what `mailbot --version` may cost.
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __repr__(self) -> str:
        return f"FixedClock({self.at!r})"

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


SYSTEM = SystemClock()


def stamp(value: datetime) -> str:
    """The journal's text form of a time: UTC, whole seconds, ISO 8601."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)
