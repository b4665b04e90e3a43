"""The IMAP inbox edge against a real Dovecot: what a run leaves in the mailbox.

Requests are APPENDed to INBOX next to mail that is not a request; `run_once`
runs in-process on the embedded archive, local staging and the .eml outbox
(or the real CLI where exit statuses matter). Assertions are on the flags and
folders Dovecot reports afterwards and on the journal.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.errors import ConfigError, ImapError, MailbotError
from mailbot.inbox import ImapSource, connect_imap, content_digest, message_id_key
from mailbot.inbox.folders import spelled
from mailbot.journal import Journal
from mailbot.model import VerdictCode
from mailbot.run import run_once
from tests.servers.dovecot import ImapServer, running_dovecot
from tests.settings import PAST, imap_table, write_settings

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
PASSWORD_ENV = "MAILBOT_TEST_IMAP_PASSWORD"
KEYWORD = b"$MailbotProcessed"
OLD = datetime(2020, 3, 4, 10, 0, tzinfo=UTC)
# Answered at once (no staging): one verdict reply each in the outbox directory.
CASES = [c for c in demo_archive.DEMO_CASES
         if c.expected in (VerdictCode.INVALID_MOUS, VerdictCode.CYCLE_0,
                           VerdictCode.PROJECT_MISMATCH, VerdictCode.NO_QA0_PASS)]


# -- helpers -----------------------------------------------------------------------------
def write_config(tmp: Path, imap: ImapServer, *, cutover: str = PAST,
                 port: int | None = None, security: str = "plain", ca_file: Path | None = None,
                 processed_folder: str = "", retry_seconds: float = 1,
                 folder: str = "INBOX") -> Path:
    imap_settings = imap_table(
        imap, port=port or imap.port, security=security, password_env=PASSWORD_ENV,
        folder=folder, processed_folder=processed_folder, ca_file=ca_file or "",
        connect_timeout=2, read_timeout=10, retry_seconds=retry_seconds)
    return write_settings(tmp / f"mailbot-{security}-{port or imap.port}.toml", {
        "mailbot": {"data_dir": tmp, "cutover": cutover},
        "addresses": {"aog": AOG, "maintainer": MAINTAINER},
        "inbox": {"sources": ["imap"], "imap": imap_settings},
        "archive": {"url": f"sqlite:///{tmp}/alma.sqlite"},
        "outbox": {"review": {"copy_to": "none"}},
    })


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dovecot: ImapServer) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    return tmp_path


@pytest.fixture
def mailbox(imap: ImapServer) -> Iterator[imapclient.IMAPClient]:
    """A client of the emptied test mailbox, for the test's own APPENDs and checks."""
    client = imap.client()
    client.normalise_times = False
    try:
        yield client
    finally:
        client.logout()


def a_request(n: int = 0) -> bytes:
    return request_mail(CASES[n % len(CASES)], aog=AOG, maintainer=MAINTAINER)


def a_question(subject: str = "Question about my data") -> bytes:
    """Mail from a person to aog@ that is not a request: the bot must leave it alone."""
    msg = EmailMessage()
    msg["From"] = "Some One <some.one@example.org>"
    msg["To"] = AOG
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}.{time.monotonic_ns()}@example.org>"
    msg.set_content("Hello, where can I find my data?\n")
    return bytes(msg)


def message_id(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


def append(client: imapclient.IMAPClient, raw: bytes, flags: tuple[bytes, ...] = (),
           when: datetime | None = None, folder: str = "INBOX") -> None:
    client.append(folder, raw, flags=flags, msg_time=when)


def flags_by_message_id(client: imapclient.IMAPClient,
                        folder: str = "INBOX") -> dict[str, set[bytes]]:
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    items = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
    out = {}
    for item in items.values():
        key = message_id_key(item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])
        assert key is not None
        # \\Recent belongs to the session that first sees a mail, not to the mail.
        out[key] = set(item[b"FLAGS"]) - {b"\\Recent"}
    client.unselect_folder()
    return out


def answered(config: cfg.Config) -> list[str]:
    """Message-IDs of the mails the journal recorded as requests, in order."""
    journal = Journal(config.path(config.mailbot.journal))
    try:
        rows = journal.db.execute(
            "SELECT message_id FROM messages WHERE kind = 'request' ORDER BY id")
        return [str(r[0]) for r in rows]
    finally:
        journal.close()


def replies(config: cfg.Config) -> list[str]:
    """In-Reply-To of each reply written to the outbox directory."""
    files = sorted(config.path(config.outbox.directory).glob("*.eml"))
    return sorted(str(message_from_bytes(f.read_bytes(), policy=policy.default)["In-Reply-To"])
                  for f in files)


def watermark(config: cfg.Config) -> tuple[int, int] | None:
    journal = Journal(config.path(config.mailbot.journal))
    try:
        return journal.watermark(config.inbox.imap.folder)
    finally:
        journal.close()


def run(config: cfg.Config) -> None:
    report = run_once(config)
    assert report.outages == [], report.outages


def mailbot_cli(config: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, PASSWORD_ENV: password}
    return subprocess.run([sys.executable, "-m", "mailbot", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


# -- BODY.PEEK: what is not a request stays exactly as it was -------------------------------
def test_requests_are_flagged_and_other_mail_keeps_its_flags(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    unread, flagged, read = a_question("unread"), a_question("flagged"), a_question("read")
    req1, req2 = a_request(0), a_request(1)
    append(mailbox, unread)
    append(mailbox, flagged, flags=(b"\\Flagged",))
    append(mailbox, req1)
    append(mailbox, read, flags=(b"\\Seen", b"$Label1"))
    append(mailbox, req2)
    before = flags_by_message_id(mailbox)
    config = cfg.load(write_config(tmp, imap))

    run(config)

    after = flags_by_message_id(mailbox)
    for untouched in (unread, flagged, read):
        assert after[message_id(untouched)] == before[message_id(untouched)]
    assert after[message_id(unread)] == set()
    assert after[message_id(flagged)] == {b"\\Flagged"}
    for request in (req1, req2):
        assert after[message_id(request)] == {b"\\Seen", KEYWORD}
    assert answered(config) == [message_id(req1), message_id(req2)]
    assert replies(config) == sorted([message_id(req1), message_id(req2)])


# -- incremental runs ----------------------------------------------------------------------
def test_second_run_handles_only_the_mail_appended_since(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    first = [a_request(0), a_question("first question"), a_request(1)]
    for raw in first:
        append(mailbox, raw)
    config = cfg.load(write_config(tmp, imap))
    run(config)
    uidvalidity = mailbox.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    last_uid = max(mailbox.search("ALL"))
    mailbox.unselect_folder()
    assert watermark(config) == (uidvalidity, last_uid)

    # The journal forgets a mail it handled: a rescan would answer it again, the
    # watermark means the second run never fetches it.
    journal = Journal(config.path(config.mailbot.journal))
    with journal.transaction():
        journal.db.execute("DELETE FROM outbox")
        journal.db.execute("DELETE FROM requests")
        journal.db.execute("DELETE FROM messages WHERE message_id = ?",
                           (message_id(first[0]),))
    journal.close()
    for f in config.path(config.outbox.directory).glob("*.eml"):
        f.unlink()
    # ... and loses the keyword an earlier run set on the other request.
    mailbox.select_folder("INBOX")
    mailbox.remove_flags(mailbox.search("ALL"), [KEYWORD])
    mailbox.unselect_folder()

    later = a_request(2)
    append(mailbox, later)
    run(config)

    assert watermark(config) == (uidvalidity, last_uid + 1)
    assert replies(config) == [message_id(later)]
    assert answered(config)[-1] == message_id(later)
    assert message_id(first[0]) not in answered(config)


def test_run_with_no_new_mail_changes_nothing(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    append(mailbox, a_request(0))
    config = cfg.load(write_config(tmp, imap))
    run(config)
    before, mark = flags_by_message_id(mailbox), watermark(config)
    report = run_once(config)
    assert report.kinds == {} and report.sent == 0 and report.outages == []
    assert flags_by_message_id(mailbox) == before
    assert watermark(config) == mark


# -- cut-over ------------------------------------------------------------------------------
def test_first_run_leaves_mail_older_than_its_start_alone(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    old_request, old_question = a_request(0), a_question("old question")
    append(mailbox, old_request, when=OLD)
    append(mailbox, old_question, when=OLD + timedelta(days=30))
    # Received earlier today: within the day the server's SINCE search returns.
    earlier = a_request(2)
    append(mailbox, earlier, when=datetime.now(UTC) - timedelta(minutes=30))
    config = cfg.load(write_config(tmp, imap, cutover=""))

    run(config)

    assert answered(config) == [] and replies(config) == []
    assert flags_by_message_id(mailbox) == {message_id(old_request): set(),
                                            message_id(old_question): set(),
                                            message_id(earlier): set()}
    journal = Journal(config.path(config.mailbot.journal))
    stored = journal.get_meta("cutover")
    journal.close()
    assert stored is not None
    assert abs(datetime.fromisoformat(stored) - datetime.now(UTC)) < timedelta(minutes=1)

    new_request = a_request(1)
    append(mailbox, new_request)
    run(config)

    assert answered(config) == [message_id(new_request)]
    flags = flags_by_message_id(mailbox)
    assert flags[message_id(new_request)] == {b"\\Seen", KEYWORD}
    assert flags[message_id(old_request)] == flags[message_id(earlier)] == set()


def test_cutover_holds_in_any_local_time_zone(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """INTERNALDATE is compared as an instant, not as local wall-clock time read as UTC."""
    recent, older = a_request(0), a_request(1)
    now = datetime.now(UTC).replace(microsecond=0)
    append(mailbox, recent, when=now - timedelta(minutes=10))
    append(mailbox, older, when=now - timedelta(hours=3))
    cutover = (now - timedelta(hours=1)).isoformat()
    config = cfg.load(write_config(tmp, imap, cutover=cutover))
    for zone in ("America/New_York", "Asia/Tokyo"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        try:
            run(config)
        finally:
            monkeypatch.undo()
            monkeypatch.setenv(PASSWORD_ENV, imap.password)
            time.tzset()
    assert answered(config) == [message_id(recent)]


# -- UIDVALIDITY change --------------------------------------------------------------------
def test_rebuilt_folder_is_not_answered_again(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    # Dovecot cannot delete or rename INBOX: the bot reads another folder here.
    folder = "Requests"
    mailbox.create_folder(folder)
    mails = [a_request(0), a_question("question"), a_request(1)]
    for raw in mails:
        append(mailbox, raw, folder=folder)
    config = cfg.load(write_config(tmp, imap, folder=folder))
    run(config)
    assert len(replies(config)) == 2
    old_mark = watermark(config)

    # The folder is rebuilt: deleted, created again, and given the same mails
    # again without their flags (a migration that loses keywords).
    mailbox.delete_folder(folder)
    mailbox.create_folder(folder)
    for raw in mails:
        append(mailbox, raw, folder=folder)
    later = a_request(2)
    append(mailbox, later, folder=folder)

    run(config)

    mark = watermark(config)
    assert mark is not None and old_mark is not None
    assert mark[0] != old_mark[0], "the test must really change UIDVALIDITY"
    assert mark[1] == 4
    assert replies(config) == sorted([message_id(mails[0]), message_id(mails[2]),
                                      message_id(later)])
    assert answered(config) == [message_id(mails[0]), message_id(mails[2]), message_id(later)]
    flags = flags_by_message_id(mailbox, folder)
    assert flags[message_id(later)] == {b"\\Seen", KEYWORD}
    assert flags[message_id(mails[1])] == set()


def test_two_copies_of_one_mail_are_answered_once(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    """The same request delivered twice (aog@ in To and via an alias) has one Message-ID."""
    request = a_request(0)
    append(mailbox, request)
    append(mailbox, request)
    config = cfg.load(write_config(tmp, imap))
    run(config)
    assert replies(config) == [message_id(request)]


# -- processed folder ----------------------------------------------------------------------
def test_requests_move_to_the_processed_folder_and_nothing_is_expunged(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path) -> None:
    deleted = a_question("deleted by a person")
    question, request = a_question("question"), a_request(0)
    append(mailbox, deleted, flags=(b"\\Deleted", b"\\Seen"))
    append(mailbox, question)
    append(mailbox, request)
    config = cfg.load(write_config(tmp, imap, processed_folder="Requests/Done"))

    run(config)

    assert flags_by_message_id(mailbox) == {message_id(deleted): {b"\\Deleted", b"\\Seen"},
                                            message_id(question): set()}
    assert flags_by_message_id(mailbox, "Requests/Done") == {
        message_id(request): {b"\\Seen", KEYWORD}}
    assert "Requests/Done" in [name for _f, _s, name in mailbox.list_sub_folders()]

    second = a_request(1)
    append(mailbox, second)
    run(config)
    assert set(flags_by_message_id(mailbox, "Requests/Done")) == {message_id(request),
                                                                  message_id(second)}
    assert len(replies(config)) == 2


def _set_capabilities(server: ImapServer, base_dir: Path, capabilities: str) -> None:
    """Make the test Dovecot under `base_dir` announce only `capabilities` after login."""
    conf = base_dir / "dovecot.conf"
    text = conf.read_text().split("\n# capabilities\n")[0]
    conf.write_text(f"{text}\n# capabilities\nprotocol imap {{\n"
                    f"  imap_capability = {capabilities}\n}}\n")
    # SIGHUP: Dovecot re-reads its config; sessions started after the reload see it.
    os.kill(int((base_dir / "run" / "master.pid").read_text()), signal.SIGHUP)
    want = {c.upper().encode() for c in capabilities.split()}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        client = server.client()
        got = set(client.capabilities())
        client.logout()
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"Dovecot still announces {sorted(got)}")


@pytest.fixture(scope="module")
def dovecot_without_move() -> Iterator[tuple[ImapServer, Path]]:
    base_dir = Path(tempfile.mkdtemp(prefix="mailbot-test-"))
    try:
        with running_dovecot(base_dir) as server:
            yield server, base_dir
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def test_server_without_move(dovecot_without_move: tuple[ImapServer, Path], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """COPY + UID EXPUNGE of the request alone; with no UIDPLUS either, it stays in place."""
    server, base_dir = dovecot_without_move
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    config = cfg.load(write_config(tmp_path, server, processed_folder="Done"))
    deleted, first, second = a_question("deleted by a person"), a_request(0), a_request(1)
    basic = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UNSELECT"
    client = server.client()
    client.normalise_times = False
    try:
        append(client, deleted, flags=(b"\\Deleted",))
        append(client, first)
        _set_capabilities(server, base_dir, basic + " UIDPLUS")

        run(config)
        assert flags_by_message_id(client) == {message_id(deleted): {b"\\Deleted"}}
        assert flags_by_message_id(client, "Done") == {message_id(first): {b"\\Seen", KEYWORD}}

        _set_capabilities(server, base_dir, basic)
        append(client, second)
        run(config)
        assert flags_by_message_id(client) == {message_id(deleted): {b"\\Deleted"},
                                               message_id(second): {b"\\Seen", KEYWORD}}
        assert set(flags_by_message_id(client, "Done")) == {message_id(first)}
    finally:
        client.logout()
    assert replies(config) == sorted([message_id(first), message_id(second)])


# -- crash between recording and flagging ----------------------------------------------------
def test_crash_after_recording_is_flagged_by_next_run_without_second_answer(
        imap: ImapServer, mailbox: imapclient.IMAPClient, tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    request, question = a_request(0), a_question("question")
    append(mailbox, request)
    append(mailbox, question)
    config = cfg.load(write_config(tmp, imap, processed_folder="Done"))

    def crash(self: ImapSource, key: object) -> None:
        raise RuntimeError("killed before flagging")

    with monkeypatch.context() as patch:
        patch.setattr(ImapSource, "mark_processed", crash)
        patch.setattr(ImapSource, "mark_processed_all", crash)
        with pytest.raises(RuntimeError):
            run_once(config)
    assert answered(config) == [message_id(request)]
    assert flags_by_message_id(mailbox)[message_id(request)] == set()

    run(config)

    assert replies(config) == [message_id(request)]
    assert answered(config) == [message_id(request)]
    assert flags_by_message_id(mailbox) == {message_id(question): set()}
    assert flags_by_message_id(mailbox, "Done") == {message_id(request): {b"\\Seen", KEYWORD}}
    journal = Journal(config.path(config.mailbot.journal))
    try:
        assert journal.unmarked("imap:INBOX") == []
    finally:
        journal.close()


# -- outages and refusals ------------------------------------------------------------------
def test_server_down_ends_the_run_with_75_and_one_line(
        imap: ImapServer, tmp: Path, closed_port: int) -> None:
    config = write_config(tmp, imap, port=closed_port, retry_seconds=1)
    started = time.monotonic()
    done = mailbot_cli(config, "run", password=imap.password)
    elapsed = time.monotonic() - started
    assert done.returncode == 75, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailbot: IMAP server unavailable: "), lines
    assert f":{closed_port}" in lines[0]
    assert elapsed < 10, "retries are bounded by retry_seconds"


def test_connect_retries_for_retry_seconds_then_raises(imap: ImapServer, tmp: Path,
                                                       closed_port: int) -> None:
    settings = cfg.load(write_config(tmp, imap, port=closed_port, retry_seconds=1.5)).inbox.imap
    started = time.monotonic()
    with pytest.raises(ImapError, match="IMAP server unavailable"):
        connect_imap(settings)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 4, elapsed


def test_connection_lost_mid_run_is_an_outage(imap: ImapServer,
                                              mailbox: imapclient.IMAPClient,
                                              tmp: Path) -> None:
    """A server that goes away after login: ImapError (exit 75), not a traceback."""
    append(mailbox, a_request(0))
    settings = cfg.load(write_config(tmp, imap)).inbox.imap
    for step in ("fetch", "mark"):
        source = ImapSource(settings, watermark=None, cutover=OLD)
        try:
            if step == "mark":
                incoming = next(source.fetch_new(lambda _source, _key: False))
            source.client.socket().shutdown(socket.SHUT_RDWR)
            with pytest.raises(ImapError, match="IMAP server unavailable"):
                if step == "fetch":
                    list(source.fetch_new(lambda _source, _key: False))
                else:
                    source.mark_processed(incoming.key)
        finally:
            source.close()
    assert set().union(*flags_by_message_id(mailbox).values()) == set()


def test_wrong_password_is_refused_at_once(imap: ImapServer, tmp: Path) -> None:
    config = write_config(tmp, imap, retry_seconds=30)
    started = time.monotonic()
    done = mailbot_cli(config, "run", password="not-the-password")
    assert time.monotonic() - started < 15, "a refused login is not retried"
    assert done.returncode not in (0, 75), done.stderr
    assert "IMAP login refused" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_password_says_which_variable(imap: ImapServer, tmp: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    settings = cfg.load(write_config(tmp, imap)).inbox.imap
    with pytest.raises(MailbotError, match=PASSWORD_ENV):
        connect_imap(settings)


# -- TLS -----------------------------------------------------------------------------------
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_run(dovecot_tls: ImapServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 security: str) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dovecot_tls.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    dovecot_tls.reset()
    request = a_request(0)
    client = dovecot_tls.client()
    try:
        append(client, request)
    finally:
        client.logout()
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    config = cfg.load(write_config(tmp_path, dovecot_tls, port=port, security=security,
                               ca_file=dovecot_tls.ca_file))
    run(config)
    assert replies(config) == [message_id(request)]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_untrusted_certificate_is_refused(dovecot_tls: ImapServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          security: str) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dovecot_tls.password)
    port = dovecot_tls.ssl_port if security == "ssl" else dovecot_tls.port
    # No ca_file: the system's CAs do not know the test's self-signed certificate.
    settings = cfg.load(write_config(tmp_path, dovecot_tls, port=port, security=security,
                                 retry_seconds=30)).inbox.imap
    started = time.monotonic()
    with pytest.raises(MailbotError, match=r"certificate .* not trusted") as caught:
        connect_imap(settings)
    assert not isinstance(caught.value, ImapError), "not an outage: never retried"
    assert time.monotonic() - started < 5


def test_plain_login_on_a_tls_only_server_is_refused(dovecot_tls: ImapServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dovecot_tls.password)
    settings = cfg.load(write_config(tmp_path, dovecot_tls, security="plain")).inbox.imap
    with pytest.raises(MailbotError, match="login refused"):
        connect_imap(settings)


# -- folder paths in the server's spelling --------------------------------------------------
@pytest.mark.parametrize(("path", "prefix", "delimiter", "name"), [
    ("Mailbot/Sent", "", "/", "Mailbot/Sent"),
    ("Mailbot/Sent", "", ".", "Mailbot.Sent"),  # Dovecot's Maildir++ layout
    ("Mailbot/Sent", "INBOX.", ".", "INBOX.Mailbot.Sent"),  # Courier, Cyrus
    ("INBOX/Done", "INBOX.", ".", "INBOX.Done"),
    ("inbox", "INBOX.", ".", "INBOX"),
    ("Done", "", "", "Done"),
])
def test_folder_paths_are_spelled_as_the_server_names_folders(
        path: str, prefix: str, delimiter: str, name: str) -> None:
    assert spelled(path, prefix, delimiter) == name


@pytest.mark.parametrize(("path", "delimiter", "why"), [
    ("Mailbot//Sent", "/", "an empty level"),
    ("Mailbot/Sent", "", "no folder hierarchy"),
    ("Mailbot/Sent v1.2", ".", "separates levels with '.'"),
])
def test_folder_paths_the_server_cannot_hold_are_a_settings_error(
        path: str, delimiter: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        spelled(path, "", delimiter)


# -- which mail a mail is -------------------------------------------------------------------
def test_the_digest_is_the_same_for_every_copy_of_a_mail() -> None:
    raw = a_request(0).replace(b"\r\n", b"\n")
    crlf = raw.replace(b"\n", b"\r\n")
    relayed = b"Received: from relay by mx; Mon, 2 Sep 2019 10:00:00 +0000\n" + raw
    folded = raw.replace(b"\nSubject: ", b"\nSubject:\n  ", 1)
    assert len({raw, crlf, relayed, folded}) == 4
    assert len({content_digest(m) for m in (raw, crlf, relayed, folded)}) == 1
    assert message_id_key(raw) == message_id_key(relayed) == message_id(raw)


def test_the_digest_tells_another_mail_under_the_same_message_id() -> None:
    raw = a_request(0)
    other_body = raw.replace(b"helpdesk ticket", b"helpdesk  ticket")
    other_sender = raw.replace(b"arc.contact@example.org", b"someone@example.org", 1)
    assert len({raw, other_body, other_sender}) == 3
    digests = {content_digest(m) for m in (raw, other_body, other_sender)}
    assert len(digests) == 3
