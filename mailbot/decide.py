"""The checks of the procedure (spec section 2) as an ordered table: Request + Facts -> Verdict.

Pure: no I/O, no clock. The caller passes the archive's facts for the request's
MOUS, the requests already queued or staging, and `today`, the day the request
was received (entitlement is judged "on the day of the request"): its date in
AOG's time zone, `request_day`, not in UTC (a mail at 00:30 in Garching is
judged on that day, not the day before).

Each row of `CHECKS` is one small named function that either decides (returns a
Verdict) or passes (returns None); the first that decides wins, and
`Verdict.check` records its name for the journal, `Verdict.passed` the checks
before it, `Verdict.facts` and `Verdict.day` what it was judged on. `explain`
also says what every later check would have said, for `mailbot explain`.

`Verdict.detail` keys, per code (all values are strings):

- CYCLE_0:          project
- INVALID_MOUS:     mous
- PROJECT_MISMATCH: request_project, archive_project (several codes joined by ",")
- NO_QA0_PASS:      mous
- UNKNOWN_CALFIELD: fields (the unknown names, joined by ","),
                    calibrators (the MOUS's calibrator fields, joined by ",")
- NOT_ENTITLED:     email (the request's, trimmed), release_date (ISO date, or ""
                    when the archive has none); when science targets were named
                    as calfields also targets (joined by ",")
- NOT_DELIVERED:    state (the archive's state, "unknown" when it has none)
- DUPLICATE:        ticket
- STAGE:            role: "PI", "DELEGEE", "public" (release date passed) or
                    "calibrator" (calibrator fields only); release_date when public
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from mailbot.model import Facts, Request, Verdict, VerdictCode

DELIVERED = "delivered"  # the only state that passes, compared case-insensitively
CYCLE_0_PREFIX = "2011."
UNKNOWN_STATE = "unknown"
ENTITLING_ROLES = ("PI", "DELEGEE")  # any other role of an entitlement row entitles nobody
# AOG works in Garching: "the day of the request" is a day there (mailbot.timezone).
DEFAULT_TIMEZONE = "Europe/Berlin"


def request_day(received: datetime, zone: tzinfo) -> date:
    """The day of the request: the date in `zone` at the (aware) time it was received."""
    return received.astimezone(zone).date()


@dataclass(frozen=True)
class ActiveRequest:
    """A request already queued or staging (what a duplicate is compared with)."""

    mous: str
    calfields: tuple[str, ...]
    ticket: str
    user_email: str


@dataclass(frozen=True)
class _Case:
    """Everything one decision looks at."""

    request: Request
    facts: Facts
    active: tuple[ActiveRequest, ...]
    today: date


Check = Callable[[_Case], Verdict | None]


def _verdict(code: VerdictCode, check: Check, **detail: str) -> Verdict:
    return Verdict(code=code, check=check.__name__, detail=detail)


def _norm(value: str) -> str:
    return value.strip().casefold()


def _joined(values: Iterable[str]) -> str:
    return ",".join(values)


# --- what the checks share -------------------------------------------------------


def _archive_projects(facts: Facts) -> tuple[str, ...]:
    """The MOUS's project code(s) according to the entitlement rows, in row order."""
    seen: dict[str, None] = {}
    for row in facts.entitlement:
        if row.project_code.strip():
            seen.setdefault(row.project_code.strip(), None)
    return tuple(seen)


def _calibrators(facts: Facts) -> tuple[str, ...]:
    return tuple(name for name, is_calibrator in facts.fields if is_calibrator)


def _science_targets(case: _Case) -> tuple[str, ...]:
    """Requested calfields that are science targets, hence not public as calibrators."""
    targets = {name for name, is_calibrator in case.facts.fields if not is_calibrator}
    return tuple(f for f in case.request.calfields if f in targets)


def _calibrator_only(case: _Case) -> bool:
    """True when calfields are given and every one is a calibrator of this MOUS."""
    calibrators = set(_calibrators(case.facts))
    return bool(case.request.calfields) and all(f in calibrators for f in case.request.calfields)


def _role(case: _Case) -> str | None:
    """Why the user may have the data: PI, DELEGEE, public, calibrator; None: no reason."""
    if _calibrator_only(case):
        return "calibrator"
    email = _norm(case.request.user_email)
    rows = case.facts.entitlement
    roles = {row.role.strip().upper() for row in rows if _norm(row.email) == email}
    for role in ENTITLING_ROLES:
        if email and role in roles:
            return role
    if _is_public(case):
        return "public"
    return None


def _is_public(case: _Case) -> bool:
    release = case.facts.release_date
    return release is not None and release <= case.today


def _release_detail(case: _Case) -> str:
    release = case.facts.release_date
    return release.isoformat() if release else ""


# --- the checks, in the order of the procedure ------------------------------------


def cycle_0(case: _Case) -> Verdict | None:
    """Cycle 0 projects are not served: their calibrated data is already in the archive."""
    project = case.request.project.strip()
    if project.startswith(CYCLE_0_PREFIX):
        return _verdict(VerdictCode.CYCLE_0, cycle_0, project=project)
    return None


def known_mous(case: _Case) -> Verdict | None:
    """Zero entitlement rows: the archive does not know the MOUS UID."""
    if not case.facts.entitlement:
        return _verdict(VerdictCode.INVALID_MOUS, known_mous, mous=case.request.mous)
    return None


def project_matches(case: _Case) -> Verdict | None:
    """The MOUS must belong to the project the request names."""
    archive = _archive_projects(case.facts)
    wanted = _norm(case.request.project)
    if archive and wanted not in {_norm(p) for p in archive}:
        return _verdict(
            VerdictCode.PROJECT_MISMATCH,
            project_matches,
            request_project=case.request.project.strip(),
            archive_project=_joined(archive),
        )
    return None


def qa0_pass(case: _Case) -> Verdict | None:
    """Without QA0 Pass execution blocks ALMA cannot offer calibrated data."""
    if case.facts.qa0_pass < 1:
        return _verdict(VerdictCode.NO_QA0_PASS, qa0_pass, mous=case.request.mous)
    return None


def calibrator_fields(case: _Case) -> Verdict | None:
    """Every calfield must be a field of this MOUS; unknown names are refused.

    A science target named as a calfield is not refused here: such a request is
    not calibrator-only, so the entitlement check applies to it.
    """
    known = {name for name, _ in case.facts.fields}
    unknown = [f for f in case.request.calfields if f not in known]
    if unknown:
        return _verdict(
            VerdictCode.UNKNOWN_CALFIELD,
            calibrator_fields,
            fields=_joined(unknown),
            calibrators=_joined(_calibrators(case.facts)),
        )
    return None


def entitlement(case: _Case) -> Verdict | None:
    """PI, delegee, public data (release date passed) or calibrator data only."""
    if _role(case) is not None:
        return None
    detail = {"email": case.request.user_email.strip(), "release_date": _release_detail(case)}
    targets = _science_targets(case)
    if targets:
        detail["targets"] = _joined(targets)
    return _verdict(VerdictCode.NOT_ENTITLED, entitlement, **detail)


def delivered(case: _Case) -> Verdict | None:
    """Only a Delivered MOUS is staged (QA3InProgress and the rest are not)."""
    state = (case.facts.state or "").strip()
    if _norm(state) != DELIVERED:
        return _verdict(VerdictCode.NOT_DELIVERED, delivered, state=state or UNKNOWN_STATE)
    return None


def not_duplicate(case: _Case) -> Verdict | None:
    """The same MOUS, fields, ticket and user already queued or staging: nothing new to do.

    The user counts: a delegee asking in the PI's ticket wants the data too.
    """
    request = case.request
    fields = frozenset(request.calfields)
    for other in case.active:
        if (
            other.mous == request.mous
            and other.ticket.strip() == request.ticket.strip()
            and frozenset(other.calfields) == fields
            and _norm(other.user_email) == _norm(request.user_email)
        ):
            return _verdict(VerdictCode.DUPLICATE, not_duplicate, ticket=request.ticket.strip())
    return None


def stage(case: _Case) -> Verdict:
    """Every check passed."""
    detail = {"role": _role(case) or ""}
    if detail["role"] == "public":
        detail["release_date"] = _release_detail(case)
    return Verdict(code=VerdictCode.STAGE, check=stage.__name__, detail=detail)


CHECKS: tuple[Check, ...] = (
    cycle_0,
    known_mous,
    project_matches,
    qa0_pass,
    calibrator_fields,
    entitlement,
    delivered,
    not_duplicate,
)


@dataclass(frozen=True)
class CheckOutcome:
    """What one check of `CHECKS` said about a request."""

    check: str
    verdict: Verdict | None  # None: it passed
    reached: bool  # False: an earlier check decided; `verdict` is what it would have said


@dataclass(frozen=True)
class Decision:
    """The verdict, and what every check said on the way (`mailbot explain`)."""

    verdict: Verdict
    outcomes: tuple[CheckOutcome, ...]  # one per row of CHECKS, in order


def explain(request: Request, facts: Facts, active: Iterable[ActiveRequest],
            today: date) -> Decision:
    """Every check on one request; the first that decides gives the verdict, else STAGE."""
    case = _Case(request=request, facts=facts, active=tuple(active), today=today)
    outcomes: list[CheckOutcome] = []
    decided: Verdict | None = None
    passed: list[str] = []
    for check in CHECKS:
        said = check(case)
        outcomes.append(CheckOutcome(check.__name__, said, reached=decided is None))
        if decided is None and said is None:
            passed.append(check.__name__)
        decided = decided or said
    verdict = replace(decided or stage(case), passed=tuple(passed), facts=facts, day=today)
    return Decision(verdict, tuple(outcomes))


def decide(request: Request, facts: Facts, active: Iterable[ActiveRequest], today: date) -> Verdict:
    """The verdict on one request: the first check in `CHECKS` that decides, else STAGE."""
    return explain(request, facts, active, today).verdict
