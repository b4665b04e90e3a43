"""Delivery of the outbox against a real SMTP server (aiosmtpd) and the review copy in Dovecot.

Mails are rendered by mailbot.reply and queued in a real journal, as the run loop
does; assertions are on what the servers received (envelope and exact bytes) and
on the state left in the journal.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.errors import ConfigError, ImapError, MailbotError, SmtpError
from mailbot.journal import Journal, MailRecord
from mailbot.model import (
    Malformed,
    Origin,
    OutgoingMail,
    Request,
    StagingResult,
    Verdict,
    VerdictCode,
)
from mailbot.outbox import flush, without_bcc
from mailbot.reply import render_completion, render_failure, render_malformed, render_verdict
from mailbot.review import copy_for_review
from mailbot.states import MailState
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import Received, SmtpServer, running_smtp
from tests.settings import changed, smtp_table, write_settings

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
ARC = "arc.contact@example.org"
USER = "judit@example.net"
PASSWORD_ENV = "MAILBOT_TEST_SMTP_PASSWORD"
QUEUED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
URL = "http://almascience.example.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"


# -- building blocks ----------------------------------------------------------------


def make_config(tmp: Path, smtp: SmtpServer | None = None, *, port: int | None = None,
                imap: ImapServer | None = None, **smtp_settings: object) -> cfg.Config:
    """An SMTP outbox to `smtp` (plain, no AUTH unless told), review copies off."""
    settings: dict[str, object] = {"security": "plain", "timeout": 5.0, "retry_seconds": 1.0}
    settings.update(smtp_settings)
    config = cfg.Config(
        mailbot=cfg.General(data_dir=str(tmp)),
        # The ARC contact listed by address: it gets the completion's blind copy.
        addresses=cfg.Addresses(aog=AOG, maintainer=MAINTAINER, no_reply="no_reply@example.org",
                                arc_contacts=(ARC,)),
        outbox=cfg.Outbox(
            transport="smtp",
            smtp=cfg.Smtp(host="127.0.0.1", port=port or (smtp.port if smtp else 25),
                          **settings),  # type: ignore[arg-type]
            review=cfg.Review(copy_to="none"),
        ),
    )
    if imap is not None:
        imap_settings = cfg.Imap(host=imap.host, port=imap.port, security="plain",
                                 user=imap.user, retry_seconds=1.0)
        config = changed(config, inbox={"imap": imap_settings}, outbox={
            "review": cfg.Review(copy_to="imap", imap_folder="Mailbot/Sent",
                                 per_month=False)})
    return config


def make_request(n: int) -> Request:
    origin = Origin(
        channel="mail", sender=ARC, sender_name="Elisabeth Kärrström", to=(AOG,),
        cc=(MAINTAINER,), subject=f"ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X{n}",
        message_id=f"<request-{n}@arc.example.org>",
        date=datetime(2024, 2, 28, 14, 0, tzinfo=UTC),
        text=f"please create the calibrated MS for MOUS uid___A001_X1296_X{n}\n"
             "for user Judit Szulágyi\nemail judit@example.net\nhelpdesk ticket 16140\n",
    )
    return Request(
        mous=f"uid://A001/X1296/X{n}", project="2017.1.00727.S", calfields=(),
        user_name="Judit Szulágyi", user_email=USER, ticket=str(16000 + n), arc_contact=ARC,
        cc=(MAINTAINER,), message_id=origin.message_id,
        received=datetime(2024, 2, 28, 14, 0, tzinfo=UTC), origin=origin,
    )


def rendered(config: cfg.Config, n: int) -> OutgoingMail:
    """The n-th of a mix of every kind of mail the bot sends."""
    request = make_request(n)
    key = f"request:{n}"
    inputs = config.reply_settings, config.templates
    match n % 4:
        case 0:
            verdict = Verdict(VerdictCode.NOT_ENTITLED, "entitlement")
            return render_verdict(*inputs, request, verdict, key=key, queued_at=QUEUED_AT)
        case 1:
            result = StagingResult(ok=True, url=URL, deletion_date="2024-03-29",
                                   exit_status=0)
            return render_completion(*inputs, request, result, key=key, queued_at=QUEUED_AT)
        case 2:
            malformed = Malformed(("no helpdesk ticket number",), request.origin)
            return render_malformed(*inputs, malformed, key=key, queued_at=QUEUED_AT)
        case _:
            failed = StagingResult(ok=False, url=None, deletion_date=None, exit_status=1,
                                   problems=("exit status 1",))
            return render_failure(*inputs, request, command="stagecalms.sh ...",
                                  output="Failed. Please investigate /tmp/x\n", result=failed,
                                  job_name=f"job-{n}-1", key=key, queued_at=QUEUED_AT)


def queue(journal: Journal, mails: list[OutgoingMail], *, held: bool = False) -> list[int]:
    ids = []
    with journal.transaction():
        for mail in mails:
            mail_id = journal.enqueue(mail, request=None, job=None, held=held)
            assert mail_id is not None
            ids.append(mail_id)
    return ids


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def states(journal: Journal) -> dict[int, str]:
    return {m.id: m.state for m in journal.outbox()}


def message_ids(received: list[Received]) -> list[str]:
    return [str(parse_strict(r.data)["Message-ID"]) for r in received]


def parse_strict(data: bytes) -> EmailMessage:
    """Parse as a strict reader would: any defect raises; none may be recorded either."""
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        assert part.defects == [], part.defects
    return msg


def assert_transmitted_as_queued(received: list[Received], rows: list[MailRecord]) -> None:
    """The server has exactly these mails, once each: envelope and bytes as stored."""
    got = Counter((r.mail_from, r.rcpt_tos, r.data) for r in received)
    want = Counter((m.mail_from, m.rcpt_to, m.data) for m in rows)
    assert got == want
    for r in received:
        msg = parse_strict(r.data)
        assert msg["Bcc"] is None and b"\nbcc:" not in r.data.lower()


# -- plain, TLS, AUTH -----------------------------------------------------------------


def test_flush_sends_each_queued_mail_once_with_its_envelope(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    ids = queue(journal, [rendered(config, n) for n in range(8)])
    rows = journal.outbox()

    report = flush(config, journal)

    assert report.sent == ids and report.failed == report.deferred == []
    assert_transmitted_as_queued(smtp.messages, rows)
    completions = [m for m in rows if m.kind == "completion"]
    assert completions
    for mail in completions:
        (sent,) = [r for r in smtp.messages if r.data == mail.data]
        assert set(sent.rcpt_tos) == {USER, ARC, MAINTAINER, AOG}, "Bcc in the envelope"
        assert ARC.encode() not in sent.data and MAINTAINER.encode() not in sent.data
    after = journal.outbox()
    assert {m.state for m in after} == {"sent"}
    assert all(m.attempts == 1 and m.sent and m.error is None for m in after)
    assert flush(config, journal).sent == []
    assert len(smtp.messages) == len(ids)


def test_starttls_verifies_the_server_with_the_configured_ca(
        tmp_path: Path, journal: Journal) -> None:
    with running_smtp(tls=True) as server:
        assert server.ca_file is not None
        config = make_config(tmp_path, server, security="starttls", ca_file=str(server.ca_file))
        queue(journal, [rendered(config, 0)])
        assert len(flush(config, journal).sent) == 1
        assert_transmitted_as_queued(server.messages, journal.outbox())


def test_untrusted_certificate_is_refused_at_once_and_nothing_sent(
        tmp_path: Path, journal: Journal) -> None:
    with running_smtp(tls=True) as server:
        config = make_config(tmp_path, server, security="starttls", retry_seconds=5.0)
        queue(journal, [rendered(config, 0)])
        started = time.monotonic()
        with pytest.raises(MailbotError, match=r"certificate .* not trusted") as refused:
            flush(config, journal)
        assert time.monotonic() - started < 2, "a bad certificate is not retried"
        assert not isinstance(refused.value, SmtpError), "not an outage: exit 1, not 75"
        assert "outbox.smtp.ca_file" in str(refused.value)
        assert server.messages == []
        assert states(journal) == {1: "queued"}


def test_implicit_tls(tmp_path: Path, journal: Journal) -> None:
    with running_smtp(implicit_tls=True) as server:
        config = make_config(tmp_path, server, security="ssl", ca_file=str(server.ca_file))
        queue(journal, [rendered(config, n) for n in range(2)])
        assert len(flush(config, journal).sent) == 2
        assert_transmitted_as_queued(server.messages, journal.outbox())


def test_starttls_against_a_plain_only_server_never_falls_back(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp, security="starttls", retry_seconds=5.0)
    queue(journal, [rendered(config, 0)])
    started = time.monotonic()
    with pytest.raises(MailbotError, match="does not support"):
        flush(config, journal)
    assert time.monotonic() - started < 2
    assert smtp.messages == []


def test_auth_uses_the_password_from_the_environment(
        tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    with running_smtp(auth={"robot": "s3cret"}) as server:
        config = make_config(tmp_path, server, user="robot", password_env=PASSWORD_ENV)
        queue(journal, [rendered(config, n) for n in range(2)])
        assert len(flush(config, journal).sent) == 2
        assert [m.login for m in server.messages] == ["robot", "robot"]


def test_auth_password_may_come_from_a_file(
        tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv(PASSWORD_ENV + "_FILE", str(secret))
    with running_smtp(auth={"robot": "s3cret"}) as server:
        config = make_config(tmp_path, server, user="robot", password_env=PASSWORD_ENV)
        queue(journal, [rendered(config, 0)])
        assert len(flush(config, journal).sent) == 1
        assert server.messages[0].login == "robot"


def test_wrong_password_is_a_clear_error_and_not_retried(
        tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with running_smtp(auth={"robot": "s3cret"}) as server:
        config = make_config(tmp_path, server, user="robot", password_env=PASSWORD_ENV,
                             retry_seconds=5.0)
        queue(journal, [rendered(config, 0)])
        started = time.monotonic()
        with pytest.raises(MailbotError, match="login refused for 'robot'") as refused:
            flush(config, journal)
        assert time.monotonic() - started < 2, "bad credentials are not retried"
        assert not isinstance(refused.value, SmtpError)
        assert PASSWORD_ENV in str(refused.value)
        assert server.messages == []
        assert states(journal) == {1: "queued"}


def test_missing_password_is_a_configuration_error(
        tmp_path: Path, smtp: SmtpServer, journal: Journal,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV + "_FILE", raising=False)
    config = make_config(tmp_path, smtp, user="robot", password_env=PASSWORD_ENV)
    queue(journal, [rendered(config, 0)])
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        flush(config, journal)
    assert smtp.messages == []


# -- outages and refusals -----------------------------------------------------------


def test_server_down_leaves_everything_queued_and_next_flush_sends_each_once(
        tmp_path: Path, smtp: SmtpServer, journal: Journal, closed_port: int) -> None:
    down = make_config(tmp_path, port=closed_port, retry_seconds=1.0)
    ids = queue(journal, [rendered(down, n) for n in range(4)])
    started = time.monotonic()
    with pytest.raises(SmtpError, match=f"SMTP server unavailable: 127.0.0.1:{closed_port}"):
        flush(down, journal)
    took = time.monotonic() - started
    assert 0.3 < took < 4, f"retried for about retry_seconds, took {took:.1f} s"
    assert all(m.state == "queued" and m.attempts == 0 for m in journal.outbox())

    up = make_config(tmp_path, smtp)
    assert flush(up, journal).sent == ids
    assert flush(up, journal).sent == []
    assert_transmitted_as_queued(smtp.messages, journal.outbox())


def test_temporary_refusal_defers_that_mail_only(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    first, *others = queue(journal, [rendered(config, n) for n in range(3)])
    smtp.fail_next(1)

    report = flush(config, journal)

    assert report.deferred == [first] and report.sent == others
    refused = journal.outbox_mail(first)
    assert refused.state == "queued" and refused.attempts == 1
    assert refused.error is not None and refused.error.startswith("451 ")
    assert flush(config, journal).sent == [first]
    assert_transmitted_as_queued(smtp.messages, journal.outbox())


def test_permanent_refusal_marks_the_mail_failed(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    first, second = queue(journal, [rendered(config, n) for n in range(2)])
    smtp.fail_next(1, "554 5.6.0 Message rejected (test)")

    report = flush(config, journal)

    assert report.failed == [first] and report.sent == [second]
    failed = journal.outbox_mail(first)
    assert failed.state == "failed" and failed.error == "554 5.6.0 Message rejected (test)"
    assert flush(config, journal).sent == [], "a failed mail is not retried by itself"
    assert len(smtp.messages) == 1


def test_recipient_refused_while_others_accept_is_noted_not_resent(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    mail = rendered(config, 1)
    gone = mail.rcpt_to[-1]
    smtp.refused_recipients = {gone}
    (mail_id,) = queue(journal, [mail])

    report = flush(config, journal)

    assert report.sent == [mail_id]
    (received,) = smtp.messages
    assert gone not in received.rcpt_tos and set(received.rcpt_tos) == set(mail.rcpt_to) - {gone}
    sent = journal.outbox_mail(mail_id)
    assert sent.state == "sent" and sent.error is None
    (refusal,) = sent.refused
    assert refusal.address == gone and refusal.reply.startswith("550 ")
    assert flush(config, journal).sent == [], "the others have it: never sent twice"


def test_server_closing_the_connection_ends_the_flush(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    first, *others = queue(journal, [rendered(config, n) for n in range(3)])
    smtp.fail_next(1, "421 4.3.2 Shutting down (test)")
    with pytest.raises(SmtpError, match="421"):
        flush(config, journal)
    assert smtp.messages == []
    assert journal.outbox_mail(first).error == "421 4.3.2 Shutting down (test)"
    assert set(states(journal).values()) == {"queued"}
    assert flush(config, journal).sent == [first, *others]


def test_bcc_header_is_never_transmitted_nor_copied(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    config = changed(config, outbox={"review": cfg.Review(copy_to="directory")})
    mail = rendered(config, 1)
    head, sep, body = mail.data.partition(b"\r\n\r\n")
    leaky = head + b"\r\nBcc: arc.contact@example.org,\r\n maintainer@example.org" + sep + body
    queue(journal, [replace(mail, data=leaky)])

    assert len(flush(config, journal).sent) == 1
    (received,) = smtp.messages
    assert received.data == mail.data
    assert set(received.rcpt_tos) == {USER, ARC, MAINTAINER, AOG}
    assert copy_for_review(config, journal) == 1
    (copy,) = config.path(config.outbox.directory).glob("*.eml")
    assert copy.read_bytes() == mail.data


def test_without_bcc_keeps_every_other_byte() -> None:
    mail = b"From: a@x\r\nBCC : b@x,\r\n\tc@x\r\nTo: d@x\r\n\r\nBcc: in the body stays\r\n"
    assert without_bcc(mail) == b"From: a@x\r\nTo: d@x\r\n\r\nBcc: in the body stays\r\n"
    clean = b"From: a@x\r\nTo: d@x\r\n\r\nbody\r\n"
    assert without_bcc(clean) is clean


# -- crash between the server's acceptance and the mark -----------------------------

CRASHING_FLUSH = """
import os, signal, sys
from mailbot import config as cfg
from mailbot.journal import Journal
from mailbot.outbox import flush

config = cfg.load(sys.argv[1])
victim = int(sys.argv[2])

def trace(event, mail):
    if event == "accepted" and mail.id == victim:
        os.kill(os.getpid(), signal.SIGKILL)  # the server has it; the mark is not written

flush(config, Journal(config.path(config.mailbot.journal)), trace=trace)
"""


def test_crash_after_acceptance_resends_only_that_mail(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    settings = write_settings(tmp_path / "mailbot.toml", {
        "mailbot": {"data_dir": tmp_path},
        "addresses": {"aog": AOG},
        "outbox": {"transport": "smtp", "smtp": smtp_table(smtp, retry_seconds=1),
                   "review": {"copy_to": "none"}},
    })
    config = cfg.load(settings)
    assert config.path(config.mailbot.journal) == journal.path
    first, victim, last = queue(journal, [rendered(config, n) for n in range(3)])

    died = subprocess.run([sys.executable, "-c", CRASHING_FLUSH, str(settings), str(victim)],
                          capture_output=True, text=True, timeout=60, check=False)

    assert died.returncode == -signal.SIGKILL, died.stderr
    before = smtp.messages
    assert len(before) == 2
    # The victim is still claimed: the server's answer was never recorded.
    assert states(journal) == {first: "sent", victim: "sending", last: "queued"}

    assert flush(config, journal).sent == [victim, last]
    received = smtp.messages
    by_id = {m.id: m.message_id for m in journal.outbox()}
    assert Counter(message_ids(received)) == {by_id[first]: 1, by_id[victim]: 2, by_id[last]: 1}
    twice = [r for r in received if str(parse_strict(r.data)["Message-ID"]) == by_id[victim]]
    assert twice[0] == twice[1], "the same mail, byte for byte, with the same Message-ID"


def test_trace_reports_each_step_in_order(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    ids = queue(journal, [rendered(config, n) for n in range(2)])
    events: list[tuple[str, int, str]] = []

    def trace(event: str, mail: MailRecord) -> None:
        # What the journal says at that instant: the mark follows the acceptance.
        events.append((event, mail.id, journal.outbox_mail(mail.id).state))
        if event == "accepted":
            assert len(smtp.messages) == ids.index(mail.id) + 1

    flush(config, journal, trace=trace)
    # Claimed before DATA (a discard can no longer cross it), sent only after.
    assert events == [e for i in ids for e in (("sending", i, "sending"),
                                               ("accepted", i, "sending"),
                                               ("marked", i, "sent"))]


# -- held mail -------------------------------------------------------------------------


def test_held_mail_waits_for_approval(
        tmp_path: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = make_config(tmp_path, smtp)
    (normal,) = queue(journal, [rendered(config, 0)])
    held = queue(journal, [rendered(config, n) for n in (1, 5)], held=True)

    report = flush(config, journal)
    assert report.sent == [normal] and report.held == 2
    assert len(smtp.messages) == 1

    with journal.transaction():
        assert journal.set_outbox_state(held[0], MailState.QUEUED, only_from=(MailState.HELD,))
    report = flush(config, journal)
    assert report.sent == [held[0]] and report.held == 1
    assert states(journal) == {normal: "sent", held[0]: "sent", held[1]: "held"}
    assert_transmitted_as_queued(smtp.messages, journal.outbox("sent"))


# -- the embedded setup: .eml files ----------------------------------------------------


def test_directory_outbox_writes_each_mail_once_with_its_envelope(
        tmp_path: Path, journal: Journal) -> None:
    config = cfg.Config(mailbot=cfg.General(data_dir=str(tmp_path)),
                        addresses=cfg.Addresses(aog=AOG, maintainer=MAINTAINER))
    ids = queue(journal, [rendered(config, n) for n in range(4)])
    assert flush(config, journal).sent == ids
    assert copy_for_review(config, journal) == 4, "the outbox folder is the review copy"
    assert all(m.copied for m in journal.outbox())
    outbox = config.path(config.outbox.directory)
    files = sorted(outbox.glob("*.eml"))
    assert sorted(f.read_bytes() for f in files) == sorted(m.data for m in journal.outbox())
    assert len(list(outbox.glob("*.envelope.json"))) == 4
    assert sorted(os.listdir(outbox)) == sorted([f.name for f in files] + [
        f.name for f in outbox.glob("*.envelope.json")]), "no temporary file left"


# -- review copies in the aog@ mailbox ---------------------------------------------------


def review_folder(imap: ImapServer,
                  folder: str = "Mailbot/Sent") -> list[tuple[bytes, tuple[bytes, ...]]]:
    client = imap.client()
    try:
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search("ALL"), [b"BODY.PEEK[]", b"FLAGS"])
        return [(bytes(item[b"BODY[]"]), tuple(item[b"FLAGS"])) for item in fetched.values()]
    finally:
        client.logout()


def test_review_copy_appended_to_a_new_folder_seen_and_exact(
        tmp_path: Path, smtp: SmtpServer, imap: ImapServer, journal: Journal,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", imap.password)
    config = make_config(tmp_path, smtp, imap=imap)
    queue(journal, [rendered(config, n) for n in range(4)])
    flush(config, journal)

    assert copy_for_review(config, journal) == 4

    copies = review_folder(imap)
    assert sorted(data for data, _ in copies) == sorted(r.data for r in smtp.messages)
    assert all(b"\\Seen" in flags for _, flags in copies)
    assert all(b"\nbcc:" not in data.lower() for data, _ in copies)
    assert all(m.copied for m in journal.outbox())
    client = imap.client()
    try:
        assert "Mailbot/Sent" in [name for *_, name in client.list_sub_folders()]
    finally:
        client.logout()
    assert copy_for_review(config, journal) == 0, "each copy is stored once"
    assert len(review_folder(imap)) == 4


def test_imap_outage_leaves_copies_for_the_next_run_without_resending(
        tmp_path: Path, smtp: SmtpServer, imap: ImapServer, journal: Journal,
        closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", imap.password)
    config = make_config(tmp_path, smtp, imap=imap)
    down = make_config(tmp_path, smtp, imap=imap)
    down = changed(down, inbox={"imap": {"port": closed_port}})
    queue(journal, [rendered(config, n) for n in range(3)])
    assert len(flush(down, journal).sent) == 3

    with pytest.raises(ImapError):
        copy_for_review(down, journal)
    assert [m.copied for m in journal.outbox()] == [False] * 3

    assert flush(config, journal).sent == []
    assert copy_for_review(config, journal) == 3
    assert len(smtp.messages) == 3, "copying again never sends again"
    assert sorted(d for d, _ in review_folder(imap)) == sorted(r.data for r in smtp.messages)
