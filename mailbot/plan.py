"""What becomes of one mail read from a source: the intake's rules as an ordered table.

The steps before and around `decide` (is it a request at all, is its sender who
From says and may they ask, did it already arrive through the other channel, is
its sender within their limits, is it malformed) read as data, in the order the
procedure applies them, like Mailman's chain of rules:
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
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from mailbot.decide import DEFAULT_TIMEZONE, ActiveRequest, decide, request_day
from mailbot.model import Facts, Malformed, NotARequest, OutgoingMail, Parsed, Request, Verdict
from mailbot.states import MessageKind

_AOG_ZONE = ZoneInfo(DEFAULT_TIMEZONE)
FLOOD_WINDOW = timedelta(days=1)  # replies.malformed_per_day counts this far back
DAY = timedelta(days=1)  # limits.requests_per_day counts this far back


class Knowledge(Protocol):
    """What the journal and the archive know, read while planning (nothing is written)."""

    def twin_of(self, request: Request) -> int | None:
        """The recorded request this one repeats through the other channel, if any."""

    def malformed_from(self, sender: str, since: datetime) -> int:
        """How many malformed mails this sender sent since `since`."""

    def requests_from(self, sender: str, since: datetime | None) -> int:
        """Request-shaped mails (requests, malformed ones) of this sender recorded since
        `since`; None: since this run began."""

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
    # Where "the day of the request" is a day (mailbot.timezone): AOG's, not UTC.
    zone: tzinfo = _AOG_ZONE
    requests_per_day: int = 30  # limits: request-shaped mails of one sender in 24 h
    requests_per_run: int = 20  # ... and in one run


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
class Kept:
    """Not served for now (a sender over their limits, a mail not read at all): kept with
    its bytes for AOG. `notify`: AOG gets a notice (rendered when recorded, one per
    sender and day)."""

    sender: str
    reason: str
    notify: bool = False
    kind = MessageKind.KEPT


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


Disposition = Ignored | Untrusted | Kept | Rejected | Twin | Answered | Staged | Unjudged


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
    """Auto-replies, bounces, the bot's own mail, other mail to aog@: left alone (and a
    mail not read at all, too large or too deep, kept for AOG)."""
    parsed = case.parsed
    if not isinstance(parsed, NotARequest):
        return None
    return Kept("", parsed.reason) if parsed.keep else Ignored(parsed.reason)


def authenticated_sender(case: Case) -> Disposition | None:
    """With `inbox.authserv_id`, From counts only when the receiving MTA vouches for it:
    anyone can write any From, and the limits and replies go by it."""
    parsed = case.parsed
    if isinstance(parsed, NotARequest):
        return None
    vouched = parsed.origin.authentication
    if vouched is None or vouched.verified:
        return None
    sender = parsed.origin.sender
    return Untrusted(sender, f"{sender} is not authenticated: {vouched.evidence}")


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
    if not isinstance(case.parsed, Request):
        return None  # a malformed mail repeats nothing that was served
    twin = case.knows.twin_of(case.parsed)
    return None if twin is None else Twin(case.parsed, twin)


def within_limits(case: Case) -> Disposition | None:
    """One sender's request-shaped mails beyond `limits.requests_per_run` in a run or
    `limits.requests_per_day` in 24 h are kept for AOG, who gets one notice a day:
    ARC sends one mail per MOUS and at most 10 MOUSs a ticket, so more is a runaway
    script, a loop, or someone else."""
    parsed = case.parsed
    assert not isinstance(parsed, NotARequest)
    sender, rules = parsed.origin.sender, case.rules
    in_run = case.knows.requests_from(sender, None)
    if in_run >= rules.requests_per_run:
        why = (f"more than {rules.requests_per_run} requests from {sender} in one run"
               " (limits.requests_per_run)")
    elif case.knows.requests_from(sender, case.now - DAY) >= rules.requests_per_day:
        why = (f"more than {rules.requests_per_day} requests from {sender} in 24 h"
               " (limits.requests_per_day)")
    else:
        return None
    return Kept(sender, why, notify=True)


def judged(case: Case) -> Disposition:
    """The archive checks (`decide.CHECKS`): a verdict line, or a staging."""
    request = _request(case)
    facts = case.knows.facts(request.mous)
    if facts is None:
        return Unjudged(request)
    day = request_day(request.received, case.rules.zone)
    verdict = decide(request, facts, case.knows.active_requests(), day)
    if verdict.stages:
        return Staged(request, verdict, case.rules.stage_command(request))
    return Answered(request, verdict)


def _request(case: Case) -> Request:
    # The steps before have turned away everything that is not a well-formed request.
    assert isinstance(case.parsed, Request)
    return case.parsed


STEPS: tuple[Step, ...] = (
    not_a_request,
    authenticated_sender,
    trusted_sender,
    first_arrival,
    within_limits,
    well_formed,
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
