"""The server fixtures are real servers: they store, refuse and authenticate for real."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy

import imapclient
import pytest
from imapclient.exceptions import LoginError

from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer, running_smtp
from tests.servers.wiretap import commands, wiretap

RAW = (
    b"From: Someone <someone@example.org>\r\n"
    b"To: aog@example.org\r\n"
    b"Subject: calibrated MS for 2019.1.00001.S\r\n"
    b"Message-ID: <fixture-1@example.org>\r\n"
    b"\r\n"
    b"Please stage uid://A001/X1296/X675.\r\n"
)


def _mail(bcc: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "aog@example.org"
    message["To"] = "someone@example.org"
    if bcc:
        message["Bcc"] = bcc
    message["Subject"] = "Your request"
    message.set_content("Staging has started.\n")
    return message


def test_dovecot_append_then_peek_keeps_message_unseen(imap: ImapServer) -> None:
    client = imap.client()
    try:
        client.append("INBOX", RAW)
        client.select_folder("INBOX")
        uids = client.search("ALL")
        assert len(uids) == 1
        fetched = client.fetch(uids, [b"BODY.PEEK[]", b"FLAGS"])[uids[0]]
        assert fetched[b"BODY[]"] == RAW
        assert b"\\Seen" not in client.get_flags(uids)[uids[0]]
    finally:
        client.logout()


def test_wiretap_reads_the_commands_a_client_really_sent(imap: ImapServer) -> None:
    """Through the relay: a MULTIAPPEND whose literals hold command-like lines, a UID FETCH
    of a set with a range, IDLE's untagged DONE; the mail reached Dovecot unchanged."""
    mail = b"Subject: x\r\n\r\nA1 LOGOUT\r\nA2 UID MOVE 1:9 Junk\r\n"
    with wiretap(imap.host, imap.port) as tap:
        client = imapclient.IMAPClient(imap.host, port=tap.port, ssl=False, timeout=10)
        client.login(imap.user, imap.password)
        client.multiappend("INBOX", [mail, mail])
        client.select_folder("INBOX")
        client.fetch([1, 2], ["RFC822.SIZE"])
        client.idle()
        client.idle_done()
        client.logout()
        names = [c.name for c in tap.commands()]
        assert [n for n in names if n != "CAPABILITY"] == [
            "LOGIN", "APPEND", "SELECT", "UID FETCH", "IDLE", "DONE", "LOGOUT"]
        assert [c.uids() for c in tap.named("UID FETCH")] == [2]
    assert [c.uids() for c in commands(b"a UID FETCH 1,4:6 (FLAGS)\r\n")] == [4]
    check = imap.client()
    try:
        check.select_folder("INBOX")
        fetched = check.fetch(check.search(["ALL"]), ["BODY.PEEK[]"])
        assert [m[b"BODY[]"] for m in fetched.values()] == [mail, mail]
    finally:
        check.logout()


def test_dovecot_reset_leaves_only_an_empty_inbox(dovecot: ImapServer) -> None:
    client = dovecot.client()
    try:
        client.create_folder("Mailbot/Sent")
        client.append("Mailbot/Sent", RAW)
        client.append("INBOX", RAW)
    finally:
        client.logout()

    dovecot.reset()

    client = dovecot.client()
    try:
        assert [name for _flags, _sep, name in client.list_folders()] == ["INBOX"]
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_dovecot_wrong_password_fails_fast_and_leaves_no_penalty(dovecot: ImapServer) -> None:
    started = time.monotonic()
    for _attempt in range(2):
        client = imapclient.IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
        try:
            with pytest.raises(LoginError):
                client.login(dovecot.user, dovecot.password + "-wrong")
        finally:
            client.shutdown()
    dovecot.client().logout()  # the right password still gets in at once
    # Dovecot's default 2 s failure delay and its per-IP penalty (2 s, 4 s, ...
    # also on later right logins) are both off: a session-long server needs that.
    assert time.monotonic() - started < 2.5


def test_dovecot_tls_requires_starttls_and_trusts_its_certificate(
    dovecot_tls: ImapServer,
) -> None:
    plain = imapclient.IMAPClient(dovecot_tls.host, port=dovecot_tls.port, ssl=False, timeout=5)
    try:
        # Plaintext login is refused before STARTTLS (LOGINDISABLED).
        with pytest.raises(imaplib.IMAP4.error):
            plain.login(dovecot_tls.user, dovecot_tls.password)
    finally:
        plain.shutdown()

    client = dovecot_tls.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] >= 0
    finally:
        client.logout()

    assert dovecot_tls.ssl_port is not None
    implicit = imapclient.IMAPClient(
        dovecot_tls.host,
        port=dovecot_tls.ssl_port,
        ssl=True,
        ssl_context=dovecot_tls.ssl_context(),
        timeout=5,
    )
    try:
        implicit.login(dovecot_tls.user, dovecot_tls.password)
    finally:
        implicit.logout()

    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            dovecot_tls.host,
            port=dovecot_tls.ssl_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )


def test_smtp_bcc_goes_to_envelope_not_to_data(smtp: SmtpServer) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        client.send_message(_mail(bcc="hidden@example.org"))

    (received,) = smtp.wait_for(1)
    assert received.mail_from == "aog@example.org"
    assert set(received.rcpt_tos) == {"someone@example.org", "hidden@example.org"}
    parsed = BytesParser(policy=default_policy).parsebytes(received.data)
    assert parsed["Bcc"] is None
    assert b"hidden@example.org" not in received.data
    assert parsed["Subject"] == "Your request"


def test_smtp_records_exact_bytes_in_order(smtp: SmtpServer) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        client.sendmail("a@example.org", ["b@example.org"], RAW)
        client.sendmail("", ["c@example.org"], RAW.replace(b"fixture-1", b"fixture-2"))

    first, second = smtp.wait_for(2)
    assert first.data == RAW
    assert (second.mail_from, second.rcpt_tos) == ("", ("c@example.org",))
    assert b"fixture-2" in second.data


def test_smtp_fail_next_refuses_then_recovers(smtp: SmtpServer) -> None:
    smtp.fail_next(1)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(_mail())
        assert refused.value.smtp_code == 451
        client.send_message(_mail())

    assert len(smtp.wait_for(1)) == 1


def test_smtp_wait_for_times_out_when_nothing_arrives(smtp: SmtpServer) -> None:
    with pytest.raises(TimeoutError):
        smtp.wait_for(1, timeout=0.2)


def test_smtp_auth_accepts_right_password_only() -> None:
    with running_smtp(auth={"robot": "s3cret"}) as server:
        with (
            smtplib.SMTP(server.host, server.port, timeout=5) as client,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            client.login("robot", "wrong")
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.send_message(_mail())  # without login: recorded as such
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.login("robot", "s3cret")
            client.send_message(_mail())
        anonymous, logged_in = server.wait_for(2)
        assert (anonymous.login, logged_in.login) == (None, "robot")


def test_smtp_starttls_with_its_certificate() -> None:
    with running_smtp(tls=True) as server:
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.starttls(context=server.ssl_context())
            client.send_message(_mail())
        assert len(server.wait_for(1)) == 1


def test_closed_port_refuses_connections(closed_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port), timeout=2)
