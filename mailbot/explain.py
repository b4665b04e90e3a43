"""`mailbot explain`: what the archive says about a MOUS and what every check made of it.

For AOG on day one (do the queries read the production archive right?) and for
"why did the bot say that?" afterwards. Live, every row of `decide.CHECKS` is
shown with what it said, the ones after the deciding check too ("would say");
for a recorded request, what the journal kept when it was judged: the facts, the
day, the checks passed and the one that decided. Pure text from values: the
command (`mailbot.cli.explain`) does the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from mailbot.decide import CHECKS, ENTITLING_ROLES, CheckOutcome, Decision
from mailbot.model import Facts, Request, Verdict, VerdictCode

VerdictLine = Callable[[str], str]  # VerdictCode value -> the configured verdict line


@dataclass(frozen=True)
class Said:
    """One row of the checks table as shown: the check and what it said."""

    check: str
    text: str


def request_lines(request: Request, day: date | None, zone: str) -> list[str]:
    """Who asks what, and the day it is judged on."""
    calfields = ",".join(request.calfields) or "-"
    return [
        f"MOUS {request.mous} ({request.mous_file})",
        f"  project {request.project or '-'}  ticket {request.ticket or '-'}  "
        f"calfield {calfields}",
        f"  user {request.user_email.strip() or '-'}",
        f"  day of the request {day.isoformat() if day else 'unknown'} ({zone})",
    ]


def facts_lines(facts: Facts | None, queries: Mapping[str, str],
                title: str = "archive facts") -> list[str]:
    """The archive's answer to each query, row by row; `queries` names each query's file."""
    if facts is None:
        return [f"{title}: not recorded (judged before mailbot kept them)"]
    lines = [title]
    for name, render in _FACTS:
        lines.append(f"  {name} ({queries.get(name, name + '.sql')})")
        lines += [f"    {line}" for line in render(facts)]
    return lines


def _entitlement(facts: Facts) -> list[str]:
    if not facts.entitlement:
        return ["no row: the archive does not know this MOUS"]
    return [f"{r.role or '-':28} {r.project_code or '-':16} {r.email or '(no email)':36} "
            f"{'entitles' if r.role.strip().upper() in ENTITLING_ROLES else 'entitles nobody'}"
            for r in facts.entitlement]


def _state(facts: Facts) -> list[str]:
    return [facts.state or "no state (unknown: not delivered)"]


def _qa0(facts: Facts) -> list[str]:
    return [f"{facts.qa0_pass} execution block(s) with QA0 Pass"]


def _fields(facts: Facts) -> list[str]:
    rows = [(r.name, r.is_calibrator, r.intents) for r in facts.field_rows] or [
        (name, flag, None) for name, flag in facts.fields]
    if not rows:
        return ["no field"]
    folded = dict(facts.fields)
    return [f"{name:20} {'calibrator' if flag else 'science':11} {_intents(intents):44} "
            f"{'' if folded.get(name, flag) == flag else '(science on another row)'}".rstrip()
            for name, flag, intents in rows]


def _intents(intents: str | None) -> str:
    if intents is None:
        return "(no intents)"
    return intents.strip() or "(empty intents)"


def _release(facts: Facts) -> list[str]:
    lines = [f"{r.delivery or '(delivery not named)':44} "
             f"{r.release_date.isoformat() if r.release_date else '(no release date)'}"
             for r in facts.release_rows]
    if facts.release_date is not None:
        return [*lines, f"public from {facts.release_date.isoformat()}"]
    if any(r.release_date is None for r in facts.release_rows):
        return [*lines, "not public: a delivery has no release date yet"]
    return [*lines, "not public: no release date"]


_FACTS: tuple[tuple[str, Callable[[Facts], list[str]]], ...] = (
    ("entitlement", _entitlement),
    ("mous_state", _state),
    ("qa0_pass", _qa0),
    ("fields", _fields),
    ("release", _release),
)


def live_checks(decision: Decision, line: VerdictLine) -> list[Said]:
    """Every check and what it said; after the deciding one, what it would have said."""
    return [Said(o.check, _outcome(o, line)) for o in decision.outcomes]


def _outcome(outcome: CheckOutcome, line: VerdictLine) -> str:
    if outcome.reached:
        return "pass" if outcome.verdict is None else f"DECIDES {_said(outcome.verdict, line)}"
    if outcome.verdict is None:
        return "not reached (would pass)"
    return f"not reached (would say {_said(outcome.verdict, line)})"


def recorded_checks(passed: Iterable[str], verdict: Verdict, line: VerdictLine) -> list[Said]:
    """The checks as the journal kept them: passed, the one that decided, not reached."""
    passed = tuple(passed)
    shown: list[Said] = []
    for check in (c.__name__ for c in CHECKS):
        if check in passed:
            shown.append(Said(check, "pass"))
        elif check == verdict.check:
            shown.append(Said(check, f"DECIDES {_said(verdict, line)}"))
        else:
            shown.append(Said(check, "not reached" if passed else "(not recorded)"))
    return shown


def checks_lines(said: list[Said], verdict: Verdict, line: VerdictLine) -> list[str]:
    """The decision table as rows, and the verdict."""
    lines = ["checks (decide.CHECKS, in order)"]
    lines += [f"  {n}. {s.check:18} {s.text}" for n, s in enumerate(said, start=1)]
    head = _said(verdict, line).split(" (", 1)[0]
    lines.append(f"verdict: {head} (decided by {verdict.check})")
    return lines


def _said(verdict: Verdict, line: VerdictLine) -> str:
    """A verdict as one line: its wording (or STAGE and the role) and its details."""
    if verdict.code is VerdictCode.STAGE:
        head = f"STAGE as {verdict.detail.get('role') or '?'}"
    else:
        head = line(verdict.code.value)
    details = ", ".join(f"{k}={v or '-'}" for k, v in verdict.detail.items()
                        if verdict.code is not VerdictCode.STAGE or k != "role")
    return f"{head} ({details})" if details else head
