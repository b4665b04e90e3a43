"""The journal keeps which step of `mailbot.plan` decided each mail, on a real run."""

from __future__ import annotations

from pathlib import Path

from mailbot import plan
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.journal import Journal
from mailbot.model import VerdictCode
from mailbot.run import run_once
from mailbot.states import MessageKind
from tests.test_run_embedded import empty_demo

STEPS = [s.__name__ for s in plan.STEPS]


def before(step: str) -> tuple[str, ...]:
    return tuple(STEPS[:STEPS.index(step)])


def test_each_mail_records_the_step_that_decided_and_the_steps_passed(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    raw = request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    stranger = raw.replace(b"From: ARC Contact <arc.contact@example.org>",
                           b"From: Mallory <mallory@attacker.example>").replace(
                           b"Message-ID: <", b"Message-ID: <stranger-")
    malformed = raw.replace(b"\nemail ", b"\nmail ").replace(b"Message-ID: <", b"Message-ID: <m-")
    away = b"Auto-Submitted: auto-replied\r\n" + raw.replace(b"Message-ID: <", b"Message-ID: <a-")
    for name, mail in (("1.request", raw), ("2.stranger", stranger), ("3.malformed", malformed),
                       ("4.away", away)):
        (inbox_new / name).write_bytes(mail)

    report = run_once(config)

    assert report.kinds == {"request": 1, "untrusted": 1, "malformed": 1, "ignored": 1}
    journal = Journal(config.path(config.mailbot.journal))
    try:
        decided = {kind: [(m.step, m.passed) for m in journal.messages_of(kind)]
                   for kind in (MessageKind.IGNORED, MessageKind.UNTRUSTED,
                                MessageKind.MALFORMED, MessageKind.REQUEST)}
    finally:
        journal.close()
    assert decided == {
        MessageKind.IGNORED: [("not_a_request", ())],
        MessageKind.UNTRUSTED: [("trusted_sender", before("trusted_sender"))],
        MessageKind.MALFORMED: [("well_formed", before("well_formed"))],
        MessageKind.REQUEST: [("judged", tuple(STEPS))],
    }
