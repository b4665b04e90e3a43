"""Issue 10's attacks once through real servers: APPENDed to Dovecot, `mailbot run`, SMTP.

The mails are those of tests/attacks.py, here as the receiving MTA would hand
them on, each with its Authentication-Results (`inbox.authserv_id` set, as in
production). Assertions are on what the SMTP server received and on what is
left in the mailbox.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mailbot.archive import demo as demo_archive
from tests import attacks
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.settings import PAST, imap_table, smtp_table, write_settings
from tests.test_attacks import AOG, ARC, MAINTAINER, request

AUTHSERV = "mx.example.org"
PASS = f"{AUTHSERV}; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"


def test_attacks_through_dovecot_and_smtp(imap: ImapServer, smtp: SmtpServer,
                                          tmp_path: Path) -> None:
    demo_archive.seed(tmp_path / "alma.sqlite")
    settings = write_settings(tmp_path / "mailbot.toml", {
        "mailbot": {"data_dir": tmp_path, "cutover": PAST},
        "addresses": {"aog": AOG, "maintainer": MAINTAINER, "arc_contacts": ["@example.org"]},
        "inbox": {"sources": ["imap"], "authserv_id": AUTHSERV, "imap": imap_table(imap)},
        "archive": {"url": f"sqlite:///{tmp_path}/alma.sqlite"},
        "outbox": {"transport": "smtp", "smtp": smtp_table(smtp),
                   "review": {"copy_to": "none"}},
    })
    tickets = iter(range(81000, 81100))

    def genuine() -> bytes:
        return request(**{"ticket 18711": f"ticket {next(tickets)}"})

    mails = {
        "injection": attacks.authenticated(attacks.injected_subject_twice(
            attacks.injected_from_twice(genuine(), ARC)), PASS),
        "reflector": attacks.authenticated(attacks.reflector(genuine()), PASS),
        "odd bytes": attacks.authenticated(attacks.nul_charset(
            attacks.non_ascii_message_id(genuine())), PASS),
        "forged From": genuine(),  # no Authentication-Results at all
        "forged results": attacks.authenticated(attacks.authenticated(genuine(), PASS),
                                                f"{AUTHSERV}; dmarc=fail"),
    }
    client = imap.client()
    try:
        for raw in mails.values():
            client.append("INBOX", raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    finally:
        client.logout()

    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(settings), "run"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "MAILBOT_IMAP_PASSWORD": imap.password})
    assert done.returncode == 0, done.stderr

    received = smtp.wait_for(3)
    assert len(received) == 3, [r.rcpt_tos for r in received]
    for mail in received:
        assert mail.mail_from == AOG
        assert set(mail.rcpt_tos) <= {ARC, MAINTAINER}, "no reflector"
        attacks.assert_only_headers_set(mail.data, "NOT ENTITLED")
    # The two forged ones: nothing sent, left unflagged in the mailbox for AOG.
    client = imap.client()
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    finally:
        client.logout()
    unflagged = [uid for uid, f in flags.items() if b"\\Seen" not in f]
    assert len(flags) == 5 and len(unflagged) == 2
    attention = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(settings), "attention"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert attention.count(f"{ARC} is not authenticated") == 2
