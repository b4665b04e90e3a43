"""`mailbot run` end to end against real servers: Dovecot, sshd, an SMTP server, SQLite.

Sample requests are APPENDed to the IMAP INBOX; the real CLI runs in a
subprocess with IMAP in, the stagecalms simulator reached through sshd, the
seeded SQLite archive, and SMTP out. Assertions are on what the SMTP server
received and on what is left in the mailbox.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

import pytest

from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.model import VerdictCode, mous_file_form
from tests.mails import body, parse
from tests.servers.dovecot import ImapServer, folder_tree
from tests.servers.smtp import SmtpServer
from tests.servers.sshd import SshServer
from tests.settings import (
    PAST,
    imap_table,
    simulator_command,
    smtp_table,
    ssh_table,
    write_settings,
)

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
NO_REPLY = "no_reply@example.org"
ARC = "arc.contact@example.org"
URL = re.compile(r"https?://\S+/preview/[0-9a-f]{32}")


def write_config(tmp: Path, imap: ImapServer, smtp: SmtpServer, sshd: SshServer,
                 **general: object) -> Path:
    """Settings for the real servers; `general` adds to `[mailbot]` (e.g. mode)."""
    return write_settings(tmp / "mailbot.toml", {
        "mailbot": {"data_dir": tmp, "cutover": PAST, **general},
        "addresses": {"aog": AOG, "maintainer": MAINTAINER, "no_reply": NO_REPLY},
        "inbox": {"sources": ["imap"], "imap": imap_table(imap)},
        "archive": {"url": f"sqlite:///{tmp}/alma.sqlite"},
        "staging": {"transport": "ssh", "command": simulator_command(tmp / "staging", 0.3),
                    "jobs_dir": tmp / "jobs", "ssh": ssh_table(sshd)},
        "outbox": {"transport": "smtp", "smtp": smtp_table(smtp),
                   "review": {"copy_to": "imap", "imap_folder": "Mailbot/Sent"}},
    })


def mailbot(config: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILBOT_IMAP_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "mailbot", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)




@pytest.fixture
def sent_requests(imap: ImapServer, tmp_path: Path) -> dict[str, tuple[demo_archive.DemoCase, str]]:
    """APPEND one request per demo case; returns Message-ID -> (case, raw text)."""
    demo_archive.seed(tmp_path / "alma.sqlite")
    client = imap.client()
    sent = {}
    try:
        for n, case in enumerate(demo_archive.DEMO_CASES):
            raw = request_mail(case, aog=AOG, maintainer=MAINTAINER,
                               style="typed" if n % 2 else "script")
            msg = parse(raw)
            client.append("INBOX", raw)
            sent[str(msg["Message-ID"])] = (case, raw.decode())
        away = EmailMessage()
        away["From"] = "someone@example.org"
        away["To"] = AOG
        away["Subject"] = "Automatic reply: out of office"
        away["Auto-Submitted"] = "auto-replied"
        away["Message-ID"] = "<away-1@example.org>"
        away.set_content("I am away until Monday.\n")
        client.append("INBOX", bytes(away))
    finally:
        client.logout()
    return sent


def test_run_end_to_end(imap: ImapServer, smtp: SmtpServer, sshd: SshServer, tmp_path: Path,
                        sent_requests: dict[str, tuple[demo_archive.DemoCase, str]]) -> None:
    config = write_config(tmp_path, imap, smtp, sshd)
    cases = [case for case, _ in sent_requests.values()]
    staged = [c for c in cases if c.expected is VerdictCode.STAGE]
    expected_mails = len(cases)  # one verdict reply or one completion mail per request

    deadline = time.monotonic() + 90
    runs = 0
    while len(smtp.messages) < expected_mails and time.monotonic() < deadline:
        done = mailbot(config, "run", password=imap.password)
        runs += 1
        assert done.returncode == 0, done.stderr
        time.sleep(0.3)
    received = smtp.messages
    assert len(received) == expected_mails, [parse(m.data)["Subject"] for m in received]
    assert runs >= 2, "stagings take time: the first run must not wait for them"

    by_reply_to = {}
    completions = []
    for mail in received:
        msg = parse(mail.data)
        assert msg["Bcc"] is None and b"\nBcc:" not in mail.data
        if msg["X-Mailbot-Verdict"] is not None:
            by_reply_to[str(msg["In-Reply-To"])] = (mail, msg)
        else:
            completions.append((mail, msg))

    for message_id, (case, _original) in sent_requests.items():
        if case.expected is VerdictCode.STAGE:
            continue
        mail, msg = by_reply_to.pop(message_id)
        text = body(msg)
        first_line = text.splitlines()[0]
        assert first_line == msg["X-Mailbot-Verdict"]
        subject = f"Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS {mous_file_form(case.mous)}"
        assert msg["Subject"] == subject
        assert message_id in str(msg["References"])
        assert f"> helpdesk ticket {case.ticket}" in text
        assert mail.mail_from == AOG
        assert ARC in mail.rcpt_tos
        assert msg["Auto-Submitted"] == "auto-replied"
    assert by_reply_to == {}

    assert len(completions) == len(staged)
    urls = set()
    for mail, msg in completions:
        to = [a for _, a in getaddresses([str(msg["To"])])]
        case = next(c for c in staged if c.user_email.strip().lower() == to[0].lower())
        assert msg["Reply-To"] == NO_REPLY
        assert msg["Subject"] == (f"Re: ALMA: REQUEST FOR CALIBRATED DATA MOUS "
                                  f"{mous_file_form(case.mous)}, helpdesk ticket {case.ticket}")
        assert {ARC, MAINTAINER, AOG} <= set(mail.rcpt_tos)
        for hidden in (ARC, MAINTAINER):
            assert hidden.encode() not in mail.data
        found = URL.search(body(msg))
        assert found, body(msg)
        urls.add(found.group())
        assert str(msg["In-Reply-To"]) in sent_requests
    assert len(urls) == len(staged), "each staging has its own download directory"

    # A second run with nothing new sends nothing.
    again = mailbot(config, "run", password=imap.password)
    assert again.returncode == 0, again.stderr
    assert len(smtp.messages) == expected_mails

    client = imap.client()
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.fetch(client.search("ALL"), ["FLAGS", "ENVELOPE"])
        for item in flags.values():
            subject = item[b"ENVELOPE"].subject.decode()
            if "out of office" in subject:
                assert item[b"FLAGS"] == (), "mail that is not a request stays untouched"
            else:
                assert b"$MailbotProcessed" in item[b"FLAGS"] and b"\\Seen" in item[b"FLAGS"]
        copies = 0
        for folder in folder_tree(client, "Mailbot/Sent"):  # a subfolder per month
            client.select_folder(folder, readonly=True)
            copies += len(client.search("ALL"))
        assert copies == expected_mails
    finally:
        client.logout()


def test_outage_leaves_mail_for_next_run(imap: ImapServer, smtp: SmtpServer, sshd: SshServer,
                                         tmp_path: Path, closed_port: int,
                                         sent_requests: dict[str, tuple[demo_archive.DemoCase, str]]
                                         ) -> None:
    """IMAP down: exit 75 with one line naming it; nothing handled; the next run does it all."""
    config = write_config(tmp_path, imap, smtp, sshd)
    down = tmp_path / "down.toml"
    down.write_text(config.read_text().replace(f"port = {imap.port}", f"port = {closed_port}"))
    done = mailbot(down, "run", password=imap.password)
    assert done.returncode == 75, done.stderr
    assert "IMAP server unavailable" in done.stderr
    assert smtp.messages == []

    done = mailbot(config, "run", password=imap.password)
    assert done.returncode == 0, done.stderr
    rejected = [c for c, _ in sent_requests.values() if c.expected is not VerdictCode.STAGE]
    assert len(smtp.wait_for(len(rejected))) == len(rejected)
