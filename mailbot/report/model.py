"""What the stats sheet says, as typed values: every text, table, chart and CSV is read from here.

Durations are hours (float); times are the journal's stamps (UTC, ISO 8601).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Outcome:
    """How a request (or a malformed mail) ended, as the charts stack and the CSV names it."""

    key: str  # staged, staging, failed, cancelled, a rejection's VerdictCode, malformed
    label: str  # the words AOG reads: a rejection's verdict line


@dataclass(frozen=True)
class Month:
    """One calendar month (UTC) of receipt."""

    month: str  # YYYY-MM
    outcomes: Mapping[str, int]  # by Outcome.key; malformed mails included
    verdicts: Mapping[str, int]  # requests by VerdictCode value (the text report lists them)
    requests: int  # well-formed requests (malformed mails not included)
    staged: int  # stagings that succeeded
    failed_attempts: int  # staging attempts that failed (a retry is a new attempt)
    median_hours: float | None  # receipt to completion mail, of the staged ones
    bytes_staged: int  # rsync's total size of the stagings that succeeded
    malformed: int


@dataclass(frozen=True)
class Spread:
    """How long one step took: count, median, 90th percentile, maximum."""

    key: str
    label: str
    count: int
    median: float | None
    p90: float | None  # nearest rank: the smallest value with 90 % of them at or below
    max: float | None
    within_target: int | None  # how many took at most the target (None: no target applies)


@dataclass(frozen=True)
class Bin:
    """One bar of a histogram: durations in (low, high] hours (the first takes 0), per series."""

    label: str
    low: float
    high: float | None  # None: no upper bound
    counts: tuple[int, ...]  # one per series of the histogram


@dataclass(frozen=True)
class Histogram:
    key: str
    series: tuple[str, ...]
    bins: tuple[Bin, ...]
    marker: int | None  # the target lies at the end of this bin (None: not drawn)


@dataclass(frozen=True)
class Share:
    """`part` of `whole`, e.g. stagings that reused pre-existing MSs of all stagings."""

    key: str
    label: str
    part: int
    whole: int

    @property
    def percent(self) -> float | None:
        return 100 * self.part / self.whole if self.whole else None


@dataclass(frozen=True)
class Group:
    """Requests and malformed mails of one ARC contact or one project cycle, by outcome."""

    name: str
    outcomes: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True)
class Listed:
    """A request as the lists of open and failed ones name it."""

    request: int
    ticket: str
    mous: str
    project: str
    arc_contact: str
    received: str


@dataclass(frozen=True)
class OpenRequest(Listed):
    """A request not yet answered: staging, waiting for a slot, or its mail not sent."""

    age_hours: float
    status: str


@dataclass(frozen=True)
class FailedStaging(Listed):
    """The latest attempt of a request whose staging failed and was not retried."""

    job: int
    attempt: int
    finished: str | None
    problem: str


@dataclass(frozen=True)
class RequestLine:
    """One request with its measured times: the rows behind every chart."""

    request: int
    ticket: str
    mous: str
    project: str
    cycle: str
    arc_contact: str
    calibrator_only: bool
    verdict: str
    outcome: str  # Outcome.key
    received: str
    decided: str
    replied: str | None
    completed: str | None
    hours_to_verdict: float
    hours_to_mail: float | None  # receipt to the verdict reply or completion mail
    attempts: int
    bytes_staged: int
    reused: int | None
    ebs: int | None


@dataclass(frozen=True)
class Sheet:
    """The whole stats sheet of one window of receipt."""

    since: date | None
    until: date | None  # inclusive
    generated: datetime
    target_hours: float
    outcomes: tuple[Outcome, ...]  # those that occur, in stacking order
    months: tuple[Month, ...]
    spreads: tuple[Spread, ...]
    mail_histogram: Histogram
    staging_histogram: Histogram
    shares: tuple[Share, ...]
    by_contact: tuple[Group, ...]
    by_cycle: tuple[Group, ...]
    open: tuple[OpenRequest, ...]
    failed: tuple[FailedStaging, ...]
    requests: tuple[RequestLine, ...]

    def spread(self, key: str) -> Spread:
        return next(s for s in self.spreads if s.key == key)

    def share(self, key: str) -> Share:
        return next(s for s in self.shares if s.key == key)

    @property
    def malformed(self) -> int:
        return sum(m.malformed for m in self.months)

    @property
    def bytes_staged(self) -> int:
        return sum(m.bytes_staged for m in self.months)

    @property
    def staged(self) -> int:
        return sum(m.staged for m in self.months)
