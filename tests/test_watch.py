"""`mailbot watch` against the real Dovecot: IMAP IDLE wakes it, SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.inbox.imap import ImapLink
from mailbot.model import VerdictCode
from mailbot.run import run_once
from mailbot.watch import Stop, wait_for_mail
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


# -- the kept connection and the race before IDLE ----------------------------------------
def a_request(n: int) -> bytes:
    case = next(c for c in demo_archive.DEMO_CASES
                if c.expected is VerdictCode.NOT_ENTITLED and not c.calfields)
    return request_mail(replace(case, ticket=str(70000 + n)), aog=AOG, maintainer="m@example.org")


def deliver(imap: ImapServer, raw: bytes) -> None:
    client = imap.client()
    try:
        client.append("INBOX", raw)
    finally:
        client.logout()


@pytest.fixture
def kept(imap: ImapServer, smtp: SmtpServer, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[cfg.Config, ImapLink]]:
    """Settings and the IMAP connection a `watch` keeps, after a first pass on an empty INBOX."""
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", imap.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    config = cfg.load(write_config(tmp_path, imap, smtp))
    link = ImapLink(config.inbox.imap)
    try:
        assert run_once(config, imap=link).outages == []
        yield config, link
    finally:
        link.drop()


# Long enough that a mail missed before IDLE would show as a False (the wait ran out).
WAIT = 60.0


def test_mail_the_pass_heard_of_without_reading_it_wakes_watch_at_once(
        kept: tuple[cfg.Config, ImapLink], imap: ImapServer, smtp: SmtpServer) -> None:
    """Mail that came in after the pass's SEARCH: the server told of it with the answer to a
    later command (here a NOOP), and IDLE does not tell it again."""
    config, link = kept
    connection = link.client()
    deliver(imap, a_request(1))
    connection.noop()
    assert wait_for_mail(link, WAIT, Stop()), "the mail waited for the interval"
    assert run_once(config, imap=link).outages == []
    assert len(smtp.wait_for(1, timeout=20)) == 1
    assert link.client() is connection, "one IMAP connection for the passes and the IDLE"


def test_mail_that_comes_in_just_before_idle_wakes_watch_at_once(
        kept: tuple[cfg.Config, ImapLink], imap: ImapServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Dovecot tells of it as IDLE starts, right behind its `+ idling`."""
    _, link = kept
    looked = ImapLink.news

    def news_then_mail(self: ImapLink) -> bool:
        said = looked(self)
        deliver(imap, a_request(2))  # after the last look, before IDLE
        return said

    monkeypatch.setattr(ImapLink, "news", news_then_mail)
    assert wait_for_mail(link, WAIT, Stop()), "the mail waited for the interval"


def test_a_dead_connection_is_noticed_and_the_next_pass_logs_in_anew(
        kept: tuple[cfg.Config, ImapLink], imap: ImapServer, smtp: SmtpServer) -> None:
    config, link = kept
    dead = link.client()
    dead.socket().shutdown(socket.SHUT_RDWR)
    assert not wait_for_mail(link, 0.5, Stop())
    assert not link.selected, "the dead connection was dropped"
    deliver(imap, a_request(3))
    assert run_once(config, imap=link).outages == []
    assert len(smtp.wait_for(1, timeout=20)) == 1
    assert link.client() is not dead
