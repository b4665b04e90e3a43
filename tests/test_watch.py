"""`mailbot watch` against the real Dovecot: IMAP IDLE wakes it, SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.model import VerdictCode
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.settings import PAST, imap_table, smtp_table, write_settings

AOG = "aog@example.org"


def write_config(tmp: Path, imap: ImapServer, smtp: SmtpServer) -> Path:
    return write_settings(tmp / "mailbot.toml", {
        "mailbot": {"data_dir": tmp, "cutover": PAST},
        "addresses": {"aog": AOG},
        "inbox": {"sources": ["imap"], "imap": imap_table(imap)},
        "archive": {"url": f"sqlite:///{tmp}/alma.sqlite"},
        "outbox": {"transport": "smtp", "smtp": smtp_table(smtp)},
    })


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_idle_wakes_watch_and_sigterm_stops_it(imap: ImapServer, smtp: SmtpServer,
                                               tmp_path: Path) -> None:
    demo_archive.seed(tmp_path / "alma.sqlite")
    config = write_config(tmp_path, imap, smtp)
    env = {**os.environ, "MAILBOT_IMAP_PASSWORD": imap.password}
    bot = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(config), "watch",
                            "--interval", "60"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        # Wait for the observable event: the bot says it is idling on the folder.
        log = tmp_path / "mailbot.log"
        deadline = time.monotonic() + 30
        while "idling on INBOX" not in _text(log):
            assert bot.poll() is None, "watch ended before idling"
            assert time.monotonic() < deadline, "watch never went into IMAP IDLE"
            time.sleep(0.05)
        case = next(c for c in demo_archive.DEMO_CASES
                    if c.expected is VerdictCode.NOT_ENTITLED and not c.calfields)
        client = imap.client()
        try:
            client.append("INBOX", request_mail(case, aog=AOG, maintainer="m@example.org"))
        finally:
            client.logout()
        appended = time.monotonic()
        replies = smtp.wait_for(1, timeout=20)
        waited = time.monotonic() - appended
        assert waited < 15, "IDLE, not the 60 s interval, must wake the bot"
        msg = message_from_bytes(replies[0].data, policy=policy.default)
        assert msg["X-Mailbot-Verdict"] == "NOT ENTITLED"

        bot.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert bot.wait(timeout=15) == 0
        assert time.monotonic() - stopped < 10
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    assert bot.stderr is not None
    assert "Traceback" not in bot.stderr.read()
