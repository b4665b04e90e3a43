"""What becomes of one mail read from a source: the intake's rules as an ordered table.

The steps before and around `decide` (is it a request at all, may its sender
ask, is it malformed, did it already arrive through the other channel) read as
data, in the order the procedure applies them, like Mailman's chain of rules:
each step either lets the mail pass or decides its `Disposition`. `plan()`
returns the disposition with the step that decided and the steps it passed,
which the journal keeps. The run and `mailbot check` call the same `plan()`,
so the preview cannot drift from what a run does.

Pure: what the journal and the archive know comes in through `Knowledge`
(reads only); recording, sending and staging happen at the edges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from mailbot.decide import ActiveRequest, decide
from mailbot.model import Facts, Malformed, NotARequest, OutgoingMail, Parsed, Request, Verdict
from mailbot.states import MessageKind

FLOOD_WINDOW = timedelta(days=1)  # replies.malformed_per_day counts this far back


class Knowledge(Protocol):
    """What the journal and the archive know, read while planning (nothing is written)."""

    def twin_of(self, request: Request) -> int | None:
        """The recorded request this one repeats through the other channel, if any."""

    def malformed_from(self, sender: str, since: datetime) -> int:
        """How many malformed mails this sender sent since `since`."""

    def active_requests(self) -> Sequence[ActiveRequest]:
        """Requests queued or staging (what a duplicate is compared with)."""

    def facts(self, mous: str) -> Facts | None:
        """What the archive says of the MOUS; None when no archive is configured."""


@dataclass(frozen=True)
class Rules:
    """The settings the steps read (built once from the configuration by the edge)."""

    trusted: Callable[[str], bool]  # may this address send requests (ARC contacts)
    malformed_per_day: int  # replies to one sender before the next ones wait for AOG
    render_malformed: Callable[[Malformed], OutgoingMail]  # the reply listing the problems
    stage_command: Callable[[Request], str]  # the stagecalms command line of a request


# -- the dispositions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ignored:
    """Not a request: recorded, never answered, never touched in the mailbox."""

    reason: str
    kind = MessageKind.IGNORED


@dataclass(frozen=True)
class Untrusted:
    """Request-shaped, from someone who may not ask: kept with its bytes for AOG."""

    sender: str
    reason: str
    kind = MessageKind.UNTRUSTED


@dataclass(frozen=True)
class Rejected:
    """A malformed request: answered with its problems, or held for AOG (`held` says why)."""

    malformed: Malformed
    mail: OutgoingMail
    held: str | None = None
    kind = MessageKind.MALFORMED


@dataclass(frozen=True)
class Twin:
    """The same request again through the other channel (mail vs trigger file)."""

    request: Request
    of: int  # the recorded request it repeats
    kind = MessageKind.TWIN


@dataclass(frozen=True)
class Judged:
    """A request the archive checks (`decide.CHECKS`) ruled on."""

    request: Request
    verdict: Verdict
    kind = MessageKind.REQUEST


class Answered(Judged):
    """Refused with a verdict line (the reply is rendered once the request has an id)."""


@dataclass(frozen=True)
class Staged(Judged):
    """Passed every check: its staging is queued with this command line."""

    command: str


@dataclass(frozen=True)
class Unjudged:
    """A request with no archive to ask (`mailbot check` without one); never recorded."""

    request: Request
    kind = MessageKind.REQUEST


Disposition = Ignored | Untrusted | Rejected | Twin | Answered | Staged | Unjudged


@dataclass(frozen=True)
class Planned:
    """A disposition, the step that decided it and the steps the mail passed before."""

    disposition: Disposition
    step: str
    passed: tuple[str, ...]


# -- the steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Everything one plan looks at."""

    parsed: Parsed
    knows: Knowledge
    rules: Rules
    now: datetime


Step = Callable[[Case], Disposition | None]


def not_a_request(case: Case) -> Disposition | None:
    """Auto-replies, bounces, the bot's own mail, other mail to aog@: left alone."""
    parsed = case.parsed
    return Ignored(parsed.reason) if isinstance(parsed, NotARequest) else None


def trusted_sender(case: Case) -> Disposition | None:
    """Only ARC contacts may ask: the completion is blind-copied to the sender."""
    parsed = case.parsed
    if isinstance(parsed, NotARequest) or case.rules.trusted(parsed.origin.sender):
        return None
    sender = parsed.origin.sender
    return Untrusted(sender, f"{sender} is not an ARC contact (addresses.arc_contacts)")


def well_formed(case: Case) -> Disposition | None:
    """A malformed request gets the list of its problems, unless that would loop or flood."""
    parsed = case.parsed
    if not isinstance(parsed, Malformed):
        return None
    mail = case.rules.render_malformed(parsed)
    recent = case.knows.malformed_from(parsed.origin.sender, since=case.now - FLOOD_WINDOW)
    held = None
    if recent >= case.rules.malformed_per_day:
        # A loop breaker: an echoing responder would otherwise be answered for ever.
        held = f"{recent + 1} malformed mails from {parsed.origin.sender} in 24 h"
    if not mail.rcpt_to:  # e.g. a trigger file without a usable ARC contact
        held = "nobody to answer"
    return Rejected(parsed, mail, held)


def first_arrival(case: Case) -> Disposition | None:
    """The trigger script both mails aog@ and writes a file: one request, served once."""
    request = _request(case)
    twin = case.knows.twin_of(request)
    return None if twin is None else Twin(request, twin)


def judged(case: Case) -> Disposition:
    """The archive checks (`decide.CHECKS`): a verdict line, or a staging."""
    request = _request(case)
    facts = case.knows.facts(request.mous)
    if facts is None:
        return Unjudged(request)
    verdict = decide(request, facts, case.knows.active_requests(), request.received.date())
    if verdict.stages:
        return Staged(request, verdict, case.rules.stage_command(request))
    return Answered(request, verdict)


def _request(case: Case) -> Request:
    # The steps before have turned away everything that is not a well-formed request.
    assert isinstance(case.parsed, Request)
    return case.parsed


STEPS: tuple[Step, ...] = (
    not_a_request,
    trusted_sender,
    well_formed,
    first_arrival,
)


def plan(parsed: Parsed, knows: Knowledge, rules: Rules, now: datetime) -> Planned:
    """The disposition of one parsed mail: the first step in `STEPS` that decides, else judged."""
    case = Case(parsed=parsed, knows=knows, rules=rules, now=now)
    passed: list[str] = []
    for step in STEPS:
        disposition = step(case)
        if disposition is not None:
            return Planned(disposition, step.__name__, tuple(passed))
        passed.append(step.__name__)
    return Planned(judged(case), judged.__name__, tuple(passed))
