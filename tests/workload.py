"""A day of aog@'s mail for a whole bot, and the check that each request was served once.

`deliver` puts the mail into the real mailbox (and trigger files into the
trigger directory) and says what must become of each; `verify` reads what
the servers and the staging host saw and the journal kept, and lists every
way the result differs from "each request served exactly once, nothing else
touched, nothing left half done". The one repeat it accepts is a resend
from the documented window (the SMTP server accepted a mail, the bot died
before marking it sent): the same bytes to the same envelope, counted.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import make_msgid

import imapclient

from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DemoCase
from mailbot.demo import request_mail
from mailbot.faults import Point
from mailbot.inbox import message_id_key
from mailbot.model import VerdictCode, mous_file_form
from tests.installation import AOG, MAINTAINER, PROCESSED, REVIEW, Installation
from tests.mails import body, parse
from tests.servers.dovecot import folder_tree
from tests.servers.smtp import Received

KEYWORD = b"$MailbotProcessed"
_TICKET = re.compile(r"helpdesk ticket (\d+)")


@dataclass
class Expected:
    """What must become of the mail delivered."""

    served: dict[str, str] = field(default_factory=dict)  # request -> its one mail's kind
    malformed: list[str] = field(default_factory=list)  # one malformed reply each
    handled: list[str] = field(default_factory=list)  # moved to the processed folder
    untouched: list[str] = field(default_factory=list)  # left in INBOX exactly as they were
    staged: list[str] = field(default_factory=list)  # tickets staged exactly once
    failing: list[str] = field(default_factory=list)  # their staging fails: maintainer's mail


class Mailbox:
    """The test's own connection to the mailbox, to deliver mail into INBOX."""

    def __init__(self, inst: Installation) -> None:
        self.client = inst.imap.client()

    def append(self, raw: bytes) -> str:
        """Deliver `raw`; its Message-ID."""
        self.client.append("INBOX", raw)
        message_id = message_id_key(raw)
        assert message_id is not None
        return message_id

    def request(self, case: DemoCase, n: int) -> str:
        style = "typed" if n % 2 else "script"
        return self.append(request_mail(case, aog=AOG, maintainer=MAINTAINER, style=style))

    def close(self) -> None:
        self.client.logout()


def trigger(inst: Installation, case: DemoCase, stamp: str) -> None:
    """A trigger file as the trigger script writes it (next to its mail, or alone)."""
    mail = parse(request_mail(case, aog=AOG, maintainer=MAINTAINER))
    name = f"trigger-{mous_file_form(case.mous)}-{stamp}.txt"
    (inst.triggers / name).write_text(
        f"EU ARC contact arc.contact@example.org\nCC email {MAINTAINER}\n{mail['Subject']}\n\n"
        f"{body(mail)}", encoding="utf-8")


def other_mail(sender: str, subject: str, text: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = AOG
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="elsewhere.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return bytes(msg)


def expect(exp: Expected, message_id: str, case: DemoCase) -> None:
    exp.handled.append(message_id)
    if case.expected is not VerdictCode.STAGE:
        exp.served[message_id] = "verdict"
    elif case.ticket in exp.failing:
        exp.served[message_id] = "none"
        exp.staged.append(case.ticket)
    else:
        exp.served[message_id] = "completion"
        exp.staged.append(case.ticket)


def deliver(inst: Installation, cases: list[DemoCase], *, extras: bool = True) -> Expected:
    """Deliver `cases` as mail; with `extras` the rest of a day's mail too."""
    exp = Expected()
    if extras:
        failing = next(c for c in cases if c.expected is VerdictCode.STAGE and c.calfields == ()
                       and c.ticket != cases[0].ticket)
        exp.failing.append(failing.ticket)
        inst.staging_root.mkdir(parents=True, exist_ok=True)
        (inst.staging_root / "fail").write_text(f"{failing.ticket}\n")
    mailbox = Mailbox(inst)
    try:
        for n, case in enumerate(cases):
            expect(exp, mailbox.request(case, n), case)
        if extras:
            _extras(inst, mailbox, exp, cases)
    finally:
        mailbox.close()
    return exp


def _extras(inst: Installation, mailbox: Mailbox, exp: Expected, cases: list[DemoCase]) -> None:
    """Mail that is not a plain request: a copy, malformed, ignored, untrusted; trigger files."""
    append = mailbox.append
    refused = next(c for c in cases if c.expected is VerdictCode.INVALID_MOUS)
    copy = request_mail(replace(refused, ticket="19009"), aog=AOG, maintainer=MAINTAINER)
    first = append(copy)
    expect(exp, first, replace(refused, ticket="19009"))
    assert append(copy) == first  # the same mail again: served once, both handled
    exp.handled.append(first)
    malformed = [other_mail("ARC Contact <arc.contact@example.org>",
                            f"ALMA: REQUEST FOR CALIBRATED DATA MOUS {mous_file_form(c.mous)}",
                            f"Dear AOG,\nplease create the calibrated MS for MOUS "
                            f"{mous_file_form(c.mous)}\nproject {c.project}\n") for c in cases[:2]]
    for raw in malformed:
        exp.malformed.append(append(raw))
        exp.handled.append(exp.malformed[-1])
    ignored = [other_mail("Somebody <somebody@example.org>", "Out of office",
                          "Away until Monday.\n", Auto_Submitted="auto-replied"),
               other_mail("Some One <some.one@example.org>", "Where is my data",
                          "Hello, where can I find my data?\n"),
               request_mail(cases[0], aog=AOG, maintainer=MAINTAINER).replace(
                   b"arc.contact@example.org", b"mallory@attacker.example")]
    exp.untouched += [append(raw) for raw in ignored]
    twin = next(c for c in cases if c.expected is VerdictCode.STAGE
                and c.ticket not in exp.failing and c.ticket != cases[0].ticket)
    trigger(inst, twin, "2019-09-02T14-00-27")  # its mail was delivered above: one request
    alone = replace(refused, ticket="19010")
    trigger(inst, alone, "2019-09-02T15-00-00")
    exp.served[f"ticket:{alone.ticket}"] = "verdict"


def day_of_mail(inst: Installation) -> Expected:
    """The crash harness's workload: every demo case, extra refusals, and `_extras`."""
    cases = list(demo_archive.DEMO_CASES)
    extra = [c for c in cases if c.expected in (VerdictCode.INVALID_MOUS, VerdictCode.CYCLE_0,
                                                VerdictCode.NO_QA0_PASS)]
    cases += [replace(c, ticket=f"1900{n}") for n, c in enumerate(extra)]
    return deliver(inst, cases)


# -- the check -------------------------------------------------------------------------------


@dataclass
class Findings:
    resends: int = 0  # byte-identical repeats (the documented window)
    wrong: list[str] = field(default_factory=list)

    def want(self, ok: bool, what: str) -> None:
        if not ok:
            self.wrong.append(what)


def verify(inst: Installation, exp: Expected, kills: Counter[Point]) -> Findings:
    found = Findings()
    _mail_out(inst, exp, kills, found)
    _stagings(inst, exp, found)
    _mailbox(inst, exp, found)
    _journal(inst, found)
    return found


def _kind(mail: Received) -> str:
    message_id = str(parse(mail.data)["Message-ID"])
    return message_id.removeprefix("<mailbot.").split(".", 1)[0]


def _answers(mail: Received) -> str:
    """The request a mail answers: its In-Reply-To, or the ticket of a trigger file."""
    msg = parse(mail.data)
    if msg["In-Reply-To"] is not None:
        return str(msg["In-Reply-To"])
    found = _TICKET.search(body(msg))
    return f"ticket:{found.group(1)}" if found else "?"


def _mail_out(inst: Installation, exp: Expected, kills: Counter[Point], found: Findings) -> None:
    copies: dict[str, list[Received]] = defaultdict(list)
    for mail in inst.smtp.messages:
        copies[str(parse(mail.data)["Message-ID"])].append(mail)
    for message_id, same in copies.items():
        found.want(all(m == same[0] for m in same), f"{message_id}: repeats that differ")
        found.resends += len(same) - 1
    found.want(found.resends == kills[Point.ACCEPTED],
               f"{found.resends} resends, {kills[Point.ACCEPTED]} kills in the window")
    firsts = [same[0] for same in copies.values()]
    failures = [m for m in firsts if _kind(m) == "failure"]
    found.want(len(failures) == len(exp.failing), f"{len(failures)} failure mails")
    served: dict[str, list[str]] = defaultdict(list)
    for mail in firsts:
        if _kind(mail) != "failure":
            served[_answers(mail)].append(_kind(mail))
    for request, kind in exp.served.items():
        want = [] if kind == "none" else [kind]
        found.want(served.pop(request, []) == want, f"{request}: wanted {want}")
    for request in exp.malformed:
        found.want(served.pop(request, []) == ["malformed"], f"{request}: one malformed reply")
    found.want(not served, f"mail sent for nothing asked: {dict(served)}")


def _stagings(inst: Installation, exp: Expected, found: Findings) -> None:
    log = inst.staging_root / "runs.log"
    lines = log.read_text().splitlines() if log.exists() else []
    starts = Counter(line.split()[3] for line in lines if line.split()[1] == "start")
    found.want(starts == Counter(exp.staged), f"stagings started: {dict(starts)}")


def _mailbox(inst: Installation, exp: Expected, found: Findings) -> None:
    client = inst.imap.client()
    try:
        inbox, done = _contents(client, "INBOX"), _contents(client, PROCESSED)
        # The review folder and its subfolders of a month each.
        review = [m for f in folder_tree(client, REVIEW) for m in _contents(client, f)]
    finally:
        client.logout()
    found.want(sorted(inbox) == sorted((m, frozenset()) for m in exp.untouched),
               f"INBOX holds {inbox}")
    flagged = frozenset({b"\\Seen", KEYWORD})
    found.want(sorted(done) == sorted((m, flagged) for m in exp.handled), f"handled: {done}")
    sent = {str(parse(m.data)["Message-ID"]) for m in inst.smtp.messages}
    found.want(Counter(m for m, _ in review) == Counter(sent), "one review copy per mail sent")


def _contents(client: imapclient.IMAPClient,
              folder: str) -> list[tuple[str, frozenset[bytes]]]:
    """(Message-ID, flags) of every mail in `folder` (\\Recent belongs to a session)."""
    if not client.folder_exists(folder):
        return []
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    items = client.fetch(uids, [b"FLAGS", b"BODY.PEEK[HEADER]"]) if uids else {}
    return [(str(message_id_key(bytes(item[b"BODY[HEADER]"]))),
             frozenset(item[b"FLAGS"]) - {b"\\Recent"}) for item in items.values()]


def _journal(inst: Installation, found: Findings) -> None:
    """Nothing half done: every job ended, every mail sent and copied, every mail marked."""
    undone = inst.query(
        "SELECT 'job ' || id || ' ' || state FROM jobs WHERE state IN ('waiting', 'running')"
        " UNION ALL SELECT 'mail ' || id || ' ' || state FROM outbox"
        "  WHERE state NOT IN ('sent') OR copied = 0"
        " UNION ALL SELECT 'message ' || m.id || ' ' || m.kind FROM messages m"
        "  LEFT JOIN messages f ON f.id = m.earlier WHERE m.marked = 0"
        "  AND (m.kind IN ('request', 'twin', 'malformed')"
        "   OR (m.kind = 'copy' AND f.kind IN ('request', 'twin', 'malformed')))"
        " UNION ALL SELECT 'message ' || id || ' shunted' FROM messages WHERE kind = 'shunted'")
    found.want(undone == [], f"left half done: {undone}")
    found.want(not any(inst.triggers.iterdir()), "trigger files left")
