"""A journal filled with a known set of requests, for the stats sheet's tests.

Written through the journal's own API, as the run loop and the scheduler
write it: every outcome (staged, in progress, waiting, failed, cancelled, each
rejection, malformed), a retry, reuse of pre-existing MSs, calibrator-only
requests, three ARC contacts, seven project cycles, January to April 2024 with
an empty February. The numbers the sheet must show are worked out by hand in
tests/test_report.py from the table below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbot.clock import FixedClock
from mailbot.journal import Journal
from mailbot.model import Origin, OutgoingMail, Request, StagingResult, Verdict, VerdictCode
from mailbot.states import MailKind, MessageKind, RequestState

NOW = datetime(2024, 4, 12, 12, 0, tzinfo=UTC)
DE, NL, UK = "arc.de@example.org", "arc.nl@example.org", "arc.uk@example.org"
DECIDED = 0.05  # hours from receipt to the verdict, for every request


@dataclass(frozen=True)
class Attempt:
    """Hours after receipt: queued, launched (None: waiting), ended (None: running)."""

    queued: float
    launched: float | None = None
    ended: float | None = None
    ok: bool = True
    total_bytes: int | None = None
    reused: int = 0
    ebs: int = 1
    cancelled: bool = False


@dataclass(frozen=True)
class Case:
    received: str  # UTC, "2024-01-08 09:00"
    contact: str
    project: str
    verdict: VerdictCode
    calfields: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    mail: float | None = None  # hours after receipt the user's mail left; None: held


S = VerdictCode.STAGE
CASES = (  # R1 ... R16, in order of receipt
    Case("2024-01-08 09:00", DE, "2019.1.00001.S", S, (), (
        Attempt(DECIDED, 0.1, 2.1, total_bytes=5_000_000_000, ebs=2),), mail=3.0),
    Case("2024-01-10 10:00", NL, "2018.1.00002.S", S, ("J0510+1800",), (
        Attempt(DECIDED, 1.05, 21.05, total_bytes=1_000_000_000, reused=1),), mail=30.0),
    Case("2024-01-15 12:00", DE, "2019.1.00003.S", VerdictCode.NOT_ENTITLED, mail=0.1),
    Case("2024-01-20 08:00", UK, "2011.0.00004.S", VerdictCode.CYCLE_0, mail=0.1),
    Case("2024-03-01 09:00", DE, "2021.1.00005.S", S, (), (
        Attempt(DECIDED, 0.1, 0.6, ok=False),
        Attempt(5.0, 5.1, 6.1, total_bytes=2_000_000_000)), mail=6.5),
    Case("2024-03-05 14:00", NL, "2021.1.00006.S", S, (), (
        Attempt(DECIDED, 0.1, 1.1, ok=False),)),
    Case("2024-03-10 10:00", UK, "2019.1.00001.S", VerdictCode.INVALID_MOUS, mail=0.2),
    Case("2024-03-12 10:00", DE, "2019.1.00001.S", VerdictCode.DUPLICATE, mail=None),
    Case("2024-04-02 09:00", DE, "2022.1.00009.S", S, ("3C279",), (Attempt(DECIDED, 0.1),)),
    Case("2024-04-03 09:00", NL, "2022.1.00010.S", S, (), (Attempt(DECIDED),)),
    Case("2024-04-04 09:00", UK, "2022.1.00011.S", VerdictCode.NOT_DELIVERED, mail=0.5),
    Case("2024-04-05 10:00", DE, "2023.1.00012.S", S, (), (
        Attempt(DECIDED, cancelled=True),)),
    Case("2024-04-06 10:00", NL, "2018.1.00013.S", S, (), (
        Attempt(DECIDED, 0.1, 0.2, reused=2, ebs=2),), mail=0.25),
    Case("2024-04-08 10:00", UK, "2023.1.00014.S", VerdictCode.PROJECT_MISMATCH, mail=0.1),
    Case("2024-04-09 10:00", DE, "2023.1.00015.S", VerdictCode.NO_QA0_PASS, mail=0.1),
    Case("2024-04-10 10:00", NL, "2019.A.00016.S", VerdictCode.UNKNOWN_CALFIELD, ("Titan",),
         mail=0.1),
)
# Malformed request mails: (received, sender, hours until the reply left; None: held).
MALFORMED = (("2024-01-22 11:00", DE, 0.1), ("2024-03-15 11:00", UK, 0.1),
             ("2024-03-16 11:00", UK, None))

# The bars each chart of the sheet must draw: 4 months (February empty), 9 bins of each
# histogram, 5 shares, 3 ARC contacts, 7 project cycles.
BARS = {"chart-months": 4, "chart-turnaround": 9, "chart-staging": 9, "chart-volume": 4,
        "chart-shares": 5, "chart-contacts": 3, "chart-cycles": 7}


def at(received: str, hours: float = 0.0) -> datetime:
    return datetime.fromisoformat(received).replace(tzinfo=UTC) + timedelta(hours=hours)


def fill(path: Path) -> Path:
    """Write every case into a new journal at `path`; the journal's clock is left at NOW."""
    clock = FixedClock(NOW)
    journal = Journal(path, clock=clock)
    try:
        for n, case in enumerate(CASES, 1):
            _request(journal, clock, n, case)
        for n, (received, sender, reply) in enumerate(MALFORMED, 1):
            _malformed(journal, clock, n, received, sender, reply)
        clock.at = NOW
    finally:
        journal.close()
    return path


def _mail(kind: MailKind, key: str) -> OutgoingMail:
    return OutgoingMail(kind=kind, message_id=f"<{key}@mailbot.test>",
                        mail_from="aog@example.org", rcpt_to=("user@example.org",),
                        data=b"Subject: test\r\n\r\nbody\r\n", subject="test")


def _send(journal: Journal, clock: FixedClock, mail_id: int | None, when: datetime) -> None:
    assert mail_id is not None
    clock.at = when
    assert journal.claim_for_sending(mail_id) and journal.mark_sent(mail_id)


def _request(journal: Journal, clock: FixedClock, n: int, case: Case) -> None:
    received = at(case.received)
    clock.at = at(case.received, DECIDED)
    origin = Origin(channel="mail", sender=case.contact, subject=f"request {n}")
    request = Request(mous=f"uid://A001/X{n:x}/X1", project=case.project,
                      calfields=case.calfields, user_name="A User",
                      user_email="user@example.org", ticket=f"{16000 + n}",
                      arc_contact=case.contact, cc=(), message_id=f"<r{n}@example.org>",
                      received=received, origin=origin)
    message = journal.record_message(source="maildir", source_key=f"r{n}",
                                     kind=MessageKind.REQUEST, received=received,
                                     sender=case.contact)
    staged = case.verdict is S
    request_id = journal.record_request(
        message, request, Verdict(case.verdict, "fixture"),
        RequestState.STAGING if staged else RequestState.ANSWERED)
    if not staged:
        mail = journal.enqueue(_mail(MailKind.VERDICT, f"v{n}"), request=request_id, job=None,
                               held=case.mail is None)
        if case.mail is not None:
            _send(journal, clock, mail, at(case.received, case.mail))
        return
    for number, attempt in enumerate(case.attempts, 1):
        _attempt(journal, clock, request_id, case, number, attempt)


def _attempt(journal: Journal, clock: FixedClock, request_id: int, case: Case, number: int,
             attempt: Attempt) -> None:
    clock.at = at(case.received, attempt.queued)
    job = journal.add_job(request_id, "stagecalms.sh", attempt=number)
    if attempt.cancelled:
        clock.at = at(case.received, attempt.queued + 0.5)
        journal.job_cancelled(job)
        journal.set_request_state(request_id, RequestState.CANCELLED)
        return
    if attempt.launched is None:
        return
    clock.at = at(case.received, attempt.launched)
    journal.job_launched(job, job_dir=f"/jobs/{job}", pid=1000 + job, command="stagecalms.sh")
    if attempt.ended is None:
        return
    clock.at = at(case.received, attempt.ended)
    ebs = tuple(f"uid___A002_X{job}_X{k}" for k in range(attempt.ebs))
    result = StagingResult(
        ok=attempt.ok, url="http://example.org/preview/x" if attempt.ok else None,
        deletion_date=None, exit_status=0 if attempt.ok else 1,
        problems=() if attempt.ok else ("stagecalms exited with status 1",),
        ebs=ebs, reused=tuple(f"{eb}.ms.split.cal.tar" for eb in ebs[:attempt.reused]),
        total_bytes=attempt.total_bytes)
    journal.job_finished(job, result, "output")
    journal.set_request_state(
        request_id, RequestState.COMPLETED if attempt.ok else RequestState.FAILED)
    kind = MailKind.COMPLETION if attempt.ok else MailKind.FAILURE
    mail = journal.enqueue(_mail(kind, f"j{job}"), request=request_id, job=job, held=False)
    sent = case.mail if attempt.ok and case.mail is not None else attempt.ended + 0.01
    _send(journal, clock, mail, at(case.received, sent))


def _malformed(journal: Journal, clock: FixedClock, n: int, received: str, sender: str,
               reply: float | None) -> None:
    clock.at = at(received, DECIDED)
    message = journal.record_message(source="maildir", source_key=f"m{n}",
                                     kind=MessageKind.MALFORMED, received=at(received),
                                     sender=sender)
    mail = journal.enqueue(_mail(MailKind.MALFORMED, f"m{n}"), request=None, job=None,
                           held=reply is None, message=message)
    if reply is not None:
        _send(journal, clock, mail, at(received, reply))
