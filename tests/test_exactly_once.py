"""Exactly once where it used to break (issue 12): one test per hole that was found.

- a mail is one mail by its Message-ID and content, whatever source and key it
  arrives under: a second copy is a copy (never served again), another mail under
  a known Message-ID is kept for AOG (never dropped);
- every source applies the cut-over;
- AOG's discard or hold and the flush's send cannot cross;
- a job directory without a pid is in doubt, never a dead job, and `retry`
  waits while a staging of the MOUS may still run;
- folder paths follow the server's hierarchy delimiter;
- a mail refused for some of its recipients reaches `mailbot attention`.

Each drives the real edge: Maildir and the embedded setup, Dovecot, the SMTP
server, sshd with the stagecalms simulator, and the real CLI where AOG uses it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.journal import Journal
from mailbot.model import VerdictCode
from mailbot.outbox import flush
from mailbot.run import reprocess, run_once
from tests import test_cli_outbox as cli_outbox
from tests.servers.dovecot import ImapServer, running_dovecot
from tests.servers.smtp import SmtpServer
from tests.settings import changed
from tests.test_inbox import KEYWORD, PASSWORD_ENV, a_request, append, mailbot_cli
from tests.test_inbox import write_config as imap_config
from tests.test_outbox import USER, message_ids, queue, rendered
from tests.test_run_embedded import empty_demo, run_until_idle, sent_files
from tests.test_staging_acceptance import FIRST, SAME_MOUS, Bot, bot, staging_host_down

__all__ = ["bot"]  # the staging tests' fixture, used here

STAGED = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
REFUSED = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)


def journal_rows(config: cfg.Config, sql: str) -> list[tuple[object, ...]]:
    journal = Journal(config.path(config.mailbot.journal))
    try:
        return [tuple(r) for r in journal.db.execute(sql)]
    finally:
        journal.close()


def replies_of(config: cfg.Config, kind: str) -> list[Path]:
    return [p for p in sent_files(config) if p.name.endswith(f"-{kind}.eml")]


# -- Maildir: copies and the cut-over ----------------------------------------------------


def test_a_maildir_copy_after_completion_is_never_served_again(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    raw = request_mail(STAGED, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    (inbox_new / "1.first.mailbot").write_bytes(raw)
    run_until_idle(config)
    assert len(replies_of(config, "completion")) == 1

    (inbox_new / "2.again.mailbot").write_bytes(raw)  # the same mail, delivered again
    run_until_idle(config)

    assert len(replies_of(config, "completion")) == 1
    runs = (config.path("{data_dir}/staging") / "runs.log").read_text().splitlines()
    assert [line.split()[1] for line in runs] == ["start", "end"], "staged once"
    assert journal_rows(config, "SELECT kind, earlier, marked FROM messages ORDER BY id") == [
        ("request", None, 1), ("copy", 1, 1)]
    assert list(inbox_new.iterdir()) == [], "the copy is marked as its first arrival was"


def test_two_maildir_copies_in_one_run_get_one_reply(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    raw = request_mail(REFUSED, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    (inbox_new / "1.to.mailbot").write_bytes(raw)
    (inbox_new / "2.alias.mailbot").write_bytes(b"Received: by the alias's relay\n" + raw)

    report = run_once(config)

    assert report.kinds == {"request": 1, "copy": 1}
    assert len(replies_of(config, "verdict")) == 1


def test_the_maildir_source_applies_the_cutover(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    config = changed(config, mailbot={"cutover": "2030-01-01"})
    raw = request_mail(REFUSED, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    (inbox_new / "1.before-the-bot.mailbot").write_bytes(raw)

    report = run_once(config)

    assert report.kinds == {} and sent_files(config) == []
    assert [p.name for p in inbox_new.iterdir()] == ["1.before-the-bot.mailbot"]


# -- IMAP: a reused Message-ID, a folder renumbered ---------------------------------------


@pytest.fixture
def imap_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, imap: ImapServer) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, imap.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    return tmp_path


@pytest.fixture
def mailbox(imap: ImapServer) -> Iterator[imapclient.IMAPClient]:
    client = imap.client()
    try:
        yield client
    finally:
        client.logout()


def flags_in(client: imapclient.IMAPClient, folder: str = "INBOX") -> list[set[bytes]]:
    """Each mail's flags in UID order (\\Recent belongs to a session, not to the mail)."""
    client.select_folder(folder, readonly=True)
    fetched = client.fetch(client.search("ALL"), ["FLAGS"])
    client.unselect_folder()
    return [set(fetched[uid][b"FLAGS"]) - {b"\\Recent"} for uid in sorted(fetched)]


def test_another_mail_under_a_known_message_id_is_kept_for_aog(
        imap: ImapServer, mailbox: imapclient.IMAPClient, imap_tmp: Path) -> None:
    reused = "<req-16140@helpdesk.example>"
    stranger = EmailMessage()
    stranger["From"] = "Somebody Else <somebody@elsewhere.example>"
    stranger["To"] = "aog@example.org"
    stranger["Subject"] = "Hello"
    stranger["Message-ID"] = reused
    stranger.set_content("Just saying hello.\n")
    genuine = a_request(0)
    original_id = genuine.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip()
    genuine = genuine.replace(original_id, reused.encode())
    append(mailbox, bytes(stranger))
    append(mailbox, genuine)
    settings = imap_config(imap_tmp, imap)
    config = cfg.load(settings)

    assert run_once(config).outages == []

    assert journal_rows(config, "SELECT kind FROM messages ORDER BY id") == [
        ("ignored",), ("reused",)], "recorded, never dropped"
    assert journal_rows(config, "SELECT earlier FROM messages WHERE id = 2") == [(1,)]
    assert sent_files(config) == [] and flags_in(mailbox) == [set(), set()]
    attention = mailbot_cli(settings, "attention", password=imap.password).stdout
    assert "reuse the Message-ID of an earlier, different mail" in attention
    assert "  mail 2 " in attention and "helpdesk ticket" not in attention

    assert reprocess(config, 2) == "request", "AOG judged it genuine"
    assert run_once(config).outages == []
    assert len(replies_of(config, "verdict")) == 1
    assert flags_in(mailbox) == [set(), {b"\\Seen", KEYWORD}]


def test_a_renumbered_folder_does_not_answer_a_mail_without_message_id_again(
        imap: ImapServer, mailbox: imapclient.IMAPClient, imap_tmp: Path) -> None:
    folder = "Requests"  # Dovecot cannot delete INBOX: the bot reads another folder here
    mailbox.create_folder(folder)
    raw = b"".join(line for line in a_request(0).splitlines(keepends=True)
                   if not line.startswith(b"Message-ID:"))
    append(mailbox, raw, folder=folder)
    config = cfg.load(imap_config(imap_tmp, imap, folder=folder))
    assert run_once(config).outages == []
    assert len(replies_of(config, "verdict")) == 1

    # Rebuilt: a new UIDVALIDITY, and the server dropped the keyword the bot had set.
    mailbox.delete_folder(folder)
    mailbox.create_folder(folder)
    append(mailbox, raw, folder=folder)
    assert run_once(config).outages == []

    assert len(replies_of(config, "verdict")) == 1
    assert journal_rows(config, "SELECT kind, earlier FROM messages ORDER BY id") == [
        ("request", None), ("copy", 1)]
    assert flags_in(mailbox, folder) == [{b"\\Seen", KEYWORD}]


@pytest.fixture(scope="module")
def dovecot_maildir_layout() -> Iterator[ImapServer]:
    """A Dovecot with its default Maildir++ layout: "." between levels, "/" refused."""
    base_dir = Path(tempfile.mkdtemp(prefix="mailbot-test-"))
    try:
        with running_dovecot(base_dir, separator=None) as server:
            yield server
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def test_folder_paths_use_the_servers_hierarchy_delimiter(
        dovecot_maildir_layout: ImapServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = dovecot_maildir_layout
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    demo_archive.seed(tmp_path / "alma.sqlite")
    settings = imap_config(tmp_path, server, processed_folder="Mailbot/Done")
    settings.write_text(settings.read_text().replace(
        'copy_to = "none"', 'copy_to = "imap"\nimap_folder = "Mailbot/Sent"'))
    request = a_request(0)
    client = server.client()
    try:
        append(client, request)
        assert run_once(cfg.load(settings)).outages == []
        names = {name for _flags, _sep, name in client.list_folders()}
        assert {"Mailbot", "Mailbot.Sent", "Mailbot.Done"} <= names
        assert flags_in(client) == [] and flags_in(client, "Mailbot.Done") == [
            {b"\\Seen", KEYWORD}]
        months = [n for n in names if n.startswith("Mailbot.Sent.")]  # review.per_month
        assert len(months) == 1 and re.fullmatch(r"Mailbot\.Sent\.\d{4}-\d{2}", months[0])
        assert flags_in(client, months[0]) == [{b"\\Seen"}]
    finally:
        client.logout()


# -- the outbox: AOG's word and the flush cannot cross; partial refusals ------------------


def test_a_discard_or_hold_before_the_send_wins_and_one_after_is_refused(
        tmp_path: Path, smtp: SmtpServer) -> None:
    settings = cli_outbox.write_config(tmp_path, smtp)
    config = cfg.load(settings)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        first, second, held, discarded = queue(journal, [rendered(config, n) for n in range(4)])
        said: dict[str, subprocess.CompletedProcess[bytes]] = {}

        def meanwhile(event: str, mail: object) -> None:
            """AOG at the console while the flush sends: its CLI in another process."""
            mail_id = getattr(mail, "id", None)
            if event == "sending" and mail_id == first:  # before the others are sent
                said["hold"] = cli_outbox.mailbot(settings, "outbox", "hold", str(held))
                said["discard"] = cli_outbox.mailbot(settings, "outbox", "discard",
                                                     str(discarded))
            if event == "sending" and mail_id == second:  # this one is on its way
                said["late"] = cli_outbox.mailbot(settings, "outbox", "discard", str(second))

        flush(config, journal, trace=meanwhile)

        by_id = {m.id: m for m in journal.outbox()}
    finally:
        journal.close()
    sent = message_ids(smtp.messages)
    assert b"discarded; it will never be sent" in said["discard"].stdout
    assert by_id[discarded].message_id not in sent and by_id[discarded].state == "discarded"
    assert said["late"].returncode == 1, "a discard after the claim is refused, not pretended"
    assert f"mail {second} is being sent".encode() in said["late"].stderr
    assert said["hold"].returncode == 0 and b"held;" in said["hold"].stdout
    assert sent == [by_id[first].message_id, by_id[second].message_id]
    assert [by_id[i].state for i in (first, second, held, discarded)] == [
        "sent", "sent", "held", "discarded"]


def test_a_mail_refused_for_some_recipients_is_listed_until_dismissed(
        tmp_path: Path, smtp: SmtpServer) -> None:
    settings = cli_outbox.write_config(tmp_path, smtp)
    config = cfg.load(settings)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        (mail_id,) = queue(journal, [rendered(config, 1)])  # a completion to USER
    finally:
        journal.close()
    smtp.refused_recipients = {USER}

    cli_outbox.out(cli_outbox.mailbot(settings, "run"))

    (received,) = smtp.messages
    assert USER not in received.rcpt_tos
    attention = cli_outbox.out(cli_outbox.mailbot(settings, "attention"))
    assert "refused for some recipients" in attention
    assert f"  mail {mail_id} " in attention and f"refused: {USER} (550 5.1.1" in attention
    dismissed = cli_outbox.mailbot(settings, "outbox", "dismiss", str(mail_id))
    assert dismissed.returncode == 0, dismissed.stderr
    assert USER not in cli_outbox.out(cli_outbox.mailbot(settings, "attention"))


# -- staging: a missing pid is doubt, not death -------------------------------------------


def in_doubt(bot: Bot, ticket: str) -> tuple[subprocess.Popen[bytes], Path]:
    """What a launch that died before the pid file leaves: its staging runs, no pid.

    The staging holds until the test creates `release` in its job directory.
    """
    job = bot.job(ticket)
    config = bot.loaded()
    journal = Journal(config.path(config.mailbot.journal))
    try:
        name = journal.job(job["id"]).name
    finally:
        journal.close()
    job_dir = bot.jobs_dir / name
    job_dir.mkdir(parents=True)
    (job_dir / "command").write_text(job["command"] + "\n")
    (job_dir / "job.sh").write_text("mkdir started 2>/dev/null || exit 0\n")
    (job_dir / "started").mkdir()
    with (job_dir / "out.log").open("wb") as log:
        staging = subprocess.Popen(
            ["setsid", "sh", "-c", "until [ -e release ]; do sleep 0.05; done; "
             f"({job['command']}); echo $? > rc.tmp && mv rc.tmp rc"],
            cwd=job_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return staging, job_dir


def test_a_staging_without_pid_file_is_in_doubt_and_retry_waits_for_it(bot: Bot) -> None:
    bot.root.mkdir()
    (bot.root / "fail").write_text(f"{FIRST.ticket}\n")
    bot.send(FIRST)
    bot.settle()
    failed = bot.job(FIRST.ticket)
    assert failed["state"] == "failed"
    bot.send(SAME_MOUS)
    config = bot.loaded()
    assert run_once(config, transport_factory=staging_host_down).outages  # recorded, waiting
    staging, job_dir = in_doubt(bot, SAME_MOUS.ticket)
    try:
        for _ in range(2):  # adopted, then polled: never judged dead without a pid
            bot.run()
            doubtful = bot.job(SAME_MOUS.ticket)
            assert doubtful["state"] == "running" and not doubtful["pid"]
        assert len(bot.mails("failure")) == 1, "FIRST's, and no other"
        refused = bot.cli("retry", str(failed["id"]))
        assert refused.returncode == 1
        assert f"job {doubtful['id']} of the same MOUS" in refused.stderr
        assert "pid file" not in refused.stderr and "may still run" in refused.stderr
        assert f"job {doubtful['id']}" in bot.cli("attention").stdout
    finally:
        (job_dir / "release").touch()
        assert staging.wait(30) == 0
    bot.run()
    assert bot.job(SAME_MOUS.ticket)["state"] == "succeeded"
    assert bot.cli("retry", str(failed["id"])).returncode == 0
    (bot.root / "fail").write_text("")
    bot.settle()
    starts = Counter(e.ticket for e in bot.events() if e.what == "start")
    assert starts == Counter({FIRST.ticket: 2, SAME_MOUS.ticket: 1}), "never two at once"
    assert len(bot.mails("completion")) == 2
