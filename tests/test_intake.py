"""The journal keeps which step of `mailbot.plan` decided each mail, on a real run."""

from __future__ import annotations

from pathlib import Path

from mailbot import plan
from mailbot.archive import demo as demo_archive
from mailbot.archive import open_archive
from mailbot.clock import SYSTEM
from mailbot.demo import request_mail
from mailbot.inbox import MaildirSource
from mailbot.journal import Journal
from mailbot.model import VerdictCode
from mailbot.plan import DAY
from mailbot.run import run_once
from mailbot.run.intake import Intake
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


def test_the_runs_own_tally_of_each_sender_is_what_the_journal_counts(tmp_path: Path) -> None:
    """The limits count a run's mails as it records them (a backlog costs no n² rows):
    the tally must equal the journal's count, sender by sender, kind by kind."""
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    raw = request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    other = b"From: Other ARC <Other.ARC@Example.org>"
    mails = {"request": raw,
             "malformed": raw.replace(b"\nemail ", b"\nmail "),
             "other": raw.replace(b"From: ARC Contact <arc.contact@example.org>", other),
             "other-malformed": raw.replace(b"From: ARC Contact <arc.contact@example.org>",
                                            other).replace(b"\nemail ", b"\nmail "),
             "away": b"Auto-Submitted: auto-replied\r\n" + raw}
    for n, (name, mail) in enumerate(mails.items()):
        (inbox_new / f"{n}.{name}").write_bytes(
            mail.replace(b"Message-ID: <", f"Message-ID: <{name}-".encode()))
    journal = Journal(config.path(config.mailbot.journal))
    try:
        intake = Intake(config, journal, lambda: open_archive(config), SYSTEM)
        intake.take(MaildirSource(config.path(config.inbox.maildir.path)))
        intake.close()
        started = intake.ledger.started
        assert started is not None
        for sender in ("arc.contact@example.org", "other.arc@example.org"):
            counted = journal.requests_from(sender, started)
            assert counted == 2
            assert intake.ledger.requests_from(sender, None) == counted
            assert intake.ledger.requests_from(sender.upper(), started - DAY) == counted
    finally:
        journal.close()
