"""The intake's steps, one case per step and per ordering conflict (no journal, no archive)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from mailbot import plan as plan_module
from mailbot.decide import ActiveRequest
from mailbot.model import (
    Authentication,
    Facts,
    Malformed,
    NotARequest,
    Origin,
    OutgoingMail,
    Parsed,
    Request,
)
from mailbot.plan import (
    Answered,
    Ignored,
    Kept,
    Rejected,
    Rules,
    Staged,
    Twin,
    Unjudged,
    Untrusted,
    plan,
)
from mailbot.states import MessageKind
from tests.test_decide import ACTIVE_SAME, make_facts, make_request

NOW = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)
ARC = "arc@example.org"
STRANGER = "eve@example.net"


@dataclass
class Known:
    """What a journal and an archive would know; records what the steps asked."""

    twin: int | None = None
    malformed: int = 0
    today: int = 0  # request-shaped mails of the sender in the last 24 h
    this_run: int = 0  # ... and in this run
    active: tuple[ActiveRequest, ...] = ()
    archive: Facts | None = field(default_factory=make_facts)
    asked: list[str] = field(default_factory=list)

    def twin_of(self, request: Request) -> int | None:
        self.asked.append("twin_of")
        return self.twin

    def malformed_from(self, sender: str, since: datetime) -> int:
        self.asked.append(f"malformed_from {sender} {since.isoformat()}")
        return self.malformed

    def requests_from(self, sender: str, since: datetime | None) -> int:
        self.asked.append(f"requests_from {sender} {since and since.isoformat()}")
        return self.this_run if since is None else self.today

    def active_requests(self) -> Sequence[ActiveRequest]:
        self.asked.append("active_requests")
        return self.active

    def facts(self, mous: str) -> Facts | None:
        self.asked.append(f"facts {mous}")
        return self.archive


def _mail(rcpt: tuple[str, ...]) -> OutgoingMail:
    return OutgoingMail(kind="malformed", message_id="<m@x>", mail_from="aog@example.org",
                        rcpt_to=rcpt, data=b"", subject="Re: x")


def rules(**changes: Any) -> Rules:
    values: dict[str, Any] = {
        "trusted": lambda address: address == ARC,
        "malformed_per_day": 3,
        "render_malformed": lambda malformed: _mail((malformed.origin.sender,)),
        "stage_command": lambda request: f"stagecalms.sh {request.project} {request.mous}",
    }
    values.update(changes)
    return Rules(**values)


def malformed(sender: str = ARC, vouched: Authentication | None = None) -> Malformed:
    return Malformed(problems=("no email line",),
                     origin=Origin(channel="mail", sender=sender, authentication=vouched))


def request_from(sender: str = ARC, vouched: Authentication | None = None,
                 **changes: Any) -> Request:
    origin = Origin(channel="mail", sender=sender, authentication=vouched)
    return make_request(origin=origin, **changes)


FORGED = Authentication(False, "dmarc=fail from mx.example.org: nothing vouches for x")
GENUINE = Authentication(True, "dmarc=pass (mx.example.org)")


# id, parsed, what is known, expected type, deciding step, kind
CASES: list[tuple[str, Parsed, Known, type, str, MessageKind]] = [
    ("out-of-office", NotARequest("automatic mail"), Known(), Ignored, "not_a_request",
     MessageKind.IGNORED),
    ("too large to read", NotARequest("6000000 bytes", keep=True), Known(), Kept,
     "not_a_request", MessageKind.KEPT),
    ("From not vouched for", request_from(vouched=FORGED), Known(), Untrusted,
     "authenticated_sender", MessageKind.UNTRUSTED),
    ("malformed, From not vouched for", malformed(vouched=FORGED), Known(), Untrusted,
     "authenticated_sender", MessageKind.UNTRUSTED),
    ("From vouched for", request_from(vouched=GENUINE), Known(), Staged, "judged",
     MessageKind.REQUEST),
    ("stranger, though authenticated", request_from(STRANGER, GENUINE), Known(), Untrusted,
     "trusted_sender", MessageKind.UNTRUSTED),
    ("over the run's limit", request_from(), Known(this_run=20), Kept, "within_limits",
     MessageKind.KEPT),
    ("over the day's limit", request_from(), Known(today=30), Kept, "within_limits",
     MessageKind.KEPT),
    ("malformed over the limit", malformed(), Known(today=30), Kept, "within_limits",
     MessageKind.KEPT),
    ("twin over the limit: still the twin", request_from(), Known(twin=7, today=30), Twin,
     "first_arrival", MessageKind.TWIN),
    ("request from a stranger", request_from(STRANGER), Known(), Untrusted, "trusted_sender",
     MessageKind.UNTRUSTED),
    ("malformed from a stranger: untrusted first", malformed(STRANGER), Known(), Untrusted,
     "trusted_sender", MessageKind.UNTRUSTED),
    ("malformed", malformed(), Known(), Rejected, "well_formed", MessageKind.MALFORMED),
    ("second arrival", request_from(), Known(twin=7), Twin, "first_arrival", MessageKind.TWIN),
    ("entitled PI", request_from(), Known(), Staged, "judged", MessageKind.REQUEST),
    ("duplicate", request_from(), Known(active=(ACTIVE_SAME,)), Answered, "judged",
     MessageKind.REQUEST),
    ("stranger's email named", request_from(user_email="x@example.net"), Known(), Answered,
     "judged", MessageKind.REQUEST),
    ("no archive", request_from(), Known(archive=None), Unjudged, "judged", MessageKind.REQUEST),
]


@pytest.mark.parametrize(("parsed", "known", "expected", "step", "kind"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_step(parsed: Parsed, known: Known, expected: type, step: str,
                   kind: MessageKind) -> None:
    planned = plan(parsed, known, rules(), NOW)
    assert type(planned.disposition) is expected
    assert planned.step == step
    assert planned.disposition.kind is kind
    names = [s.__name__ for s in plan_module.STEPS]
    assert planned.passed == tuple(names[:names.index(step)] if step in names else names)


def test_the_table_is_the_order_of_the_procedure() -> None:
    assert [s.__name__ for s in plan_module.STEPS] == [
        "not_a_request", "authenticated_sender", "trusted_sender", "first_arrival",
        "within_limits", "well_formed"]


def test_ignored_mail_asks_nobody() -> None:
    known = Known()
    plan(NotARequest("bounce"), known, rules(), NOW)
    plan(request_from(STRANGER), known, rules(), NOW)
    assert known.asked == []


def test_a_twin_never_reaches_the_archive() -> None:
    known = Known(twin=3)
    planned = plan(request_from(), known, rules(), NOW)
    assert planned.disposition == Twin(request_from(), 3)
    assert known.asked == ["twin_of"]


def test_a_staging_carries_its_command_and_role() -> None:
    planned = plan(request_from(), Known(), rules(), NOW)
    assert isinstance(planned.disposition, Staged)
    assert planned.disposition.command.startswith("stagecalms.sh 2017.1.00727.S uid://A001/")
    assert planned.disposition.verdict.detail["role"] == "PI"


def test_a_refusal_names_the_check_that_decided() -> None:
    planned = plan(request_from(), Known(active=(ACTIVE_SAME,)), rules(), NOW)
    assert isinstance(planned.disposition, Answered)
    assert planned.disposition.verdict.check == "not_duplicate"


@pytest.mark.parametrize(("recent", "held"), [
    (0, None), (2, None),
    (3, "4 malformed mails from arc@example.org in 24 h")])
def test_malformed_replies_to_one_sender_are_capped(recent: int, held: str | None) -> None:
    known = Known(malformed=recent)
    planned = plan(malformed(), known, rules(), NOW)
    assert isinstance(planned.disposition, Rejected)
    assert planned.disposition.held == held
    assert known.asked == [f"requests_from {ARC} None",
                           f"requests_from {ARC} 2024-05-16T10:00:00+00:00",
                           f"malformed_from {ARC} 2024-05-16T10:00:00+00:00"]


def test_a_malformed_reply_to_nobody_is_held() -> None:
    planned = plan(malformed(), Known(), rules(render_malformed=lambda m: _mail(())), NOW)
    assert isinstance(planned.disposition, Rejected)
    assert planned.disposition.held == "nobody to answer"


@pytest.mark.parametrize(("known", "why"), [
    (Known(this_run=20), "more than 20 requests from arc@example.org in one run"
                         " (limits.requests_per_run)"),
    (Known(this_run=19, today=30), "more than 30 requests from arc@example.org in 24 h"
                                   " (limits.requests_per_day)"),
])
def test_a_sender_over_a_limit_is_kept_and_aog_told(known: Known, why: str) -> None:
    planned = plan(request_from(), known, rules(), NOW)
    assert planned.disposition == Kept(ARC, why, notify=True)
    assert "facts" not in " ".join(known.asked), "a kept request costs no archive query"


def test_limits_come_from_the_rules() -> None:
    planned = plan(request_from(), Known(this_run=2, today=2),
                   rules(requests_per_run=3, requests_per_day=3), NOW)
    assert isinstance(planned.disposition, Staged)
    planned = plan(request_from(), Known(this_run=3), rules(requests_per_run=3), NOW)
    assert isinstance(planned.disposition, Kept)


def test_a_mail_not_read_is_kept_without_a_notice() -> None:
    planned = plan(NotARequest("too deep", keep=True), Known(), rules(), NOW)
    assert planned.disposition == Kept("", "too deep")
