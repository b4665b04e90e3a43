"""The stats sheet's numbers from the journal's facts: pure, no I/O.

Everything is counted by the month (UTC) the request or malformed mail reached
aog@, so a window of receipt (`--since`, `--until`) selects whole requests.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from mailbot.clock import parse_stamp
from mailbot.journal import AttemptFacts, MalformedFacts, RequestFacts
from mailbot.model import VerdictCode
from mailbot.report import measure
from mailbot.report.model import (
    FailedStaging,
    Group,
    Month,
    OpenRequest,
    Outcome,
    RequestLine,
    Share,
    Sheet,
    Spread,
)
from mailbot.states import JobState, RequestState

# A staged request's outcome follows its state; the stacking order of the charts.
_STAGED_OUTCOMES = {
    RequestState.COMPLETED: ("staged", "staged"),
    RequestState.STAGING: ("staging", "in progress"),
    RequestState.FAILED: ("failed", "staging failed"),
    RequestState.CANCELLED: ("cancelled", "cancelled"),
}
MALFORMED = "malformed"
_CYCLE = re.compile(r"(\d{4}\.[0-9A-Za-z])\.")


@dataclass(frozen=True)
class Window:
    """Requests received from `since` to `until`, both days included (UTC); None: open."""

    since: date | None = None
    until: date | None = None


def outcome_of(request: RequestFacts) -> str:
    """The Outcome.key of a request: its rejection, or where its staging stands."""
    if request.verdict != VerdictCode.STAGE:
        return request.verdict
    known = _STAGED_OUTCOMES.get(request.state)
    return known[0] if known else str(request.state)


def cycle_of(project: str) -> str:
    """`2019.1.01234.S` -> `2019.1`: the proposal cycle part of the project code."""
    found = _CYCLE.match(project)
    return found.group(1) if found else "other"


def outcomes(verdict_line: Callable[[str], str]) -> tuple[Outcome, ...]:
    """Every outcome, in stacking order: the staged ones, the rejections, malformed."""
    staged = [Outcome(key, label) for key, label in _STAGED_OUTCOMES.values()]
    rejected = [Outcome(code.value, verdict_line(code.value))
                for code in VerdictCode if code is not VerdictCode.STAGE]
    return (*staged, *rejected, Outcome(MALFORMED, verdict_line("MALFORMED")))


def build(requests: Sequence[RequestFacts], malformed: Sequence[MalformedFacts], *,
          window: Window, now: datetime, target_hours: float,
          verdict_line: Callable[[str], str]) -> Sheet:
    """The whole sheet of the requests and malformed mails of one window of receipt."""
    lines = tuple(_line(r) for r in requests)
    counted = Counter(line.outcome for line in lines) + Counter(MALFORMED for _ in malformed)
    known = outcomes(verdict_line)
    # A state no outcome names (a journal of a later mailbot) is still drawn, by its name.
    extra = sorted(set(counted) - {o.key for o in known})
    present = (*(o for o in known if counted[o.key]), *(Outcome(k, k) for k in extra))
    return Sheet(
        since=window.since, until=window.until, generated=now, target_hours=target_hours,
        outcomes=present,
        months=_months(requests, lines, malformed, window, now),
        spreads=_spreads(requests, lines, target_hours),
        mail_histogram=measure.histogram("turnaround", measure.MAIL_EDGES, (
            ("completion mail", _mail_hours(lines, staged=True)),
            ("verdict reply", _mail_hours(lines, staged=False))), target_hours),
        staging_histogram=measure.histogram("staging", measure.STAGING_EDGES, (
            ("succeeded", _runs(requests, JobState.SUCCEEDED)),
            ("failed", _runs(requests, JobState.FAILED)))),
        shares=_shares(requests, lines, target_hours),
        by_contact=_groups([(line.arc_contact.lower(), line.outcome) for line in lines]
                           + [((m.sender or "unknown").lower(), MALFORMED) for m in malformed],
                           by_size=True),
        by_cycle=_groups([(line.cycle, line.outcome) for line in lines], by_size=False),
        open=tuple(_open(requests, now)),
        failed=tuple(_failed(requests)),
        requests=lines,
    )


def _line(request: RequestFacts) -> RequestLine:
    answered = request.completed if request.verdict == VerdictCode.STAGE else request.replied
    succeeded = [a for a in request.attempts if a.state == JobState.SUCCEEDED]
    return RequestLine(
        request=request.id, ticket=request.ticket, mous=request.mous, project=request.project,
        cycle=cycle_of(request.project), arc_contact=request.arc_contact,
        calibrator_only=bool(request.calfields), verdict=request.verdict,
        outcome=outcome_of(request), received=request.received, decided=request.decided,
        replied=request.replied, completed=request.completed,
        hours_to_verdict=measure.hours(request.received, request.decided),
        hours_to_mail=None if answered is None else measure.hours(request.received, answered),
        attempts=len(request.attempts),
        bytes_staged=sum(a.total_bytes or 0 for a in succeeded),
        reused=_known_sum(a.reused for a in succeeded),
        ebs=_known_sum(a.ebs for a in succeeded),
    )


def _known_sum(values: Iterable[int | None]) -> int | None:
    known = list(values)
    return None if not known or None in known else sum(v for v in known if v is not None)


def _month_range(seen: Iterable[str], window: Window, now: datetime) -> list[str]:
    """Every month from the first to the last, empty ones included (a gap is news too)."""
    months = sorted(set(seen))
    first = window.since.strftime("%Y-%m") if window.since else (months[0] if months else None)
    last = min(window.until.strftime("%Y-%m"), now.strftime("%Y-%m")) if window.until else (
        months[-1] if months else None)
    if first is None or last is None:
        return months
    year, month = int(first[:4]), int(first[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= max(last, first):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(set(found) | set(months))


def _months(requests: Sequence[RequestFacts], lines: Sequence[RequestLine],
            malformed: Sequence[MalformedFacts], window: Window, now: datetime) -> tuple[
                Month, ...]:
    by_month: dict[str, list[tuple[RequestFacts, RequestLine]]] = defaultdict(list)
    for request, line in zip(requests, lines, strict=True):
        by_month[request.received[:7]].append((request, line))
    bad = Counter(m.received[:7] for m in malformed)
    return tuple(_month(key, by_month[key], bad[key])
                 for key in _month_range([*by_month, *bad], window, now))


def _month(key: str, rows: Sequence[tuple[RequestFacts, RequestLine]], malformed: int) -> Month:
    attempts = [a for request, _ in rows for a in request.attempts]
    staged = [line for _, line in rows if line.completed is not None
              and line.verdict == VerdictCode.STAGE]
    counted = Counter(line.outcome for _, line in rows)
    if malformed:
        counted[MALFORMED] = malformed
    return Month(
        month=key, outcomes=dict(counted),
        verdicts=dict(Counter(line.verdict for _, line in rows)),
        requests=len(rows),
        staged=sum(a.state == JobState.SUCCEEDED for a in attempts),
        failed_attempts=sum(a.state == JobState.FAILED for a in attempts),
        median_hours=measure.median([line.hours_to_mail for line in staged
                                     if line.hours_to_mail is not None]),
        bytes_staged=sum(line.bytes_staged for _, line in rows),
        malformed=malformed,
    )


def _mail_hours(lines: Sequence[RequestLine], *, staged: bool) -> list[float]:
    return [line.hours_to_mail for line in lines if line.hours_to_mail is not None
            and (line.verdict == VerdictCode.STAGE) == staged]


def _attempts(requests: Sequence[RequestFacts], state: JobState) -> list[AttemptFacts]:
    return [a for r in requests for a in r.attempts if a.state == state]


def _runs(requests: Sequence[RequestFacts], state: JobState) -> list[float]:
    """How long the attempts that ended in `state` ran, launch to end."""
    return [measure.hours(a.started, a.finished) for a in _attempts(requests, state)
            if a.started and a.finished]


def _spreads(requests: Sequence[RequestFacts], lines: Sequence[RequestLine],
             target: float) -> tuple[Spread, ...]:
    waits = [measure.hours(a.queued, a.started) for r in requests for a in r.attempts
             if a.started]
    return (
        measure.spread("verdict", "receipt → verdict", [x.hours_to_verdict for x in lines],
                       target),
        measure.spread("reply", "receipt → verdict reply sent",
                       _mail_hours(lines, staged=False), target),
        measure.spread("completion", "receipt → completion mail sent",
                       _mail_hours(lines, staged=True), target),
        measure.spread("wait", "waiting for a staging slot (queued → launch)", waits),
        measure.spread("staging", "staging run (launch → end), succeeded",
                       _runs(requests, JobState.SUCCEEDED)),
    )


def _shares(requests: Sequence[RequestFacts], lines: Sequence[RequestLine],
            target: float) -> tuple[Share, ...]:
    succeeded = [a for a in _attempts(requests, JobState.SUCCEEDED) if a.reused is not None]
    staged = [line for line in lines if line.outcome == "staged"]
    completion = _mail_hours(lines, staged=True)
    return (
        Share("completion_within_target", f"completion mails within {target:g} h",
              sum(h <= target for h in completion), len(completion)),
        Share("reuse", "stagings reusing earlier MSs",
              sum(bool(a.reused) for a in succeeded), len(succeeded)),
        Share("reused_ms", "MSs hard-linked, not rebuilt",
              sum(a.reused or 0 for a in succeeded), sum(a.ebs or 0 for a in succeeded)),
        Share("calibrator_only", "calibrator-only requests",
              sum(line.calibrator_only for line in lines), len(lines)),
        Share("calibrator_only_staged", "calibrator-only, of staged",
              sum(line.calibrator_only for line in staged), len(staged)),
    )


def _groups(pairs: Sequence[tuple[str, str]], *, by_size: bool) -> tuple[Group, ...]:
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for name, outcome in pairs:
        counted[name][outcome] += 1
    groups = [Group(name, dict(c)) for name, c in counted.items()]
    order: Callable[[Group], tuple[int, str]] = (
        (lambda g: (-g.total, g.name)) if by_size else (lambda g: (0, g.name)))
    return tuple(sorted(groups, key=order))


def _open(requests: Sequence[RequestFacts], now: datetime) -> Iterable[OpenRequest]:
    for r in requests:
        status = _open_status(r)
        if status:
            yield OpenRequest(
                request=r.id, ticket=r.ticket, mous=r.mous, project=r.project,
                arc_contact=r.arc_contact, received=r.received,
                age_hours=(now - parse_stamp(r.received)).total_seconds() / 3600,
                status=status)


def _open_status(request: RequestFacts) -> str:
    """What an open request waits for; empty when it is not open."""
    latest = request.attempts[-1] if request.attempts else None
    if request.state == RequestState.STAGING and latest is not None:
        if latest.state == JobState.RUNNING:
            return f"staging since {(latest.started or '')[:16].replace('T', ' ')} UTC"
        return f"waiting for a staging slot (attempt {latest.attempt})"
    if request.mail_waiting:
        return "its mail to the user is queued or held for review"
    return ""


def _failed(requests: Sequence[RequestFacts]) -> Iterable[FailedStaging]:
    for r in requests:
        latest = r.attempts[-1] if r.attempts else None
        if r.state != RequestState.FAILED or latest is None:
            continue
        yield FailedStaging(
            job=latest.job, attempt=latest.attempt, request=r.id, ticket=r.ticket,
            mous=r.mous, project=r.project, arc_contact=r.arc_contact, received=r.received,
            finished=latest.finished, problem=latest.problem or "")


def totals(months: Sequence[Month]) -> Mapping[str, int]:
    """The months added up, as the text report's last line and the CSV's total row show."""
    return {"requests": sum(m.requests for m in months),
            "malformed": sum(m.malformed for m in months),
            "staged": sum(m.staged for m in months),
            "failed_attempts": sum(m.failed_attempts for m in months),
            "bytes_staged": sum(m.bytes_staged for m in months)}
