"""`mailbot outbox ...` and `mailbot run` as AOG uses them: the real CLI in a subprocess.

The journal is filled with rendered mails as the run loop fills it; `mailbot
run` delivers to the real SMTP server (its Maildir inbox is empty, so the run
only flushes the outbox).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.demo import prepare
from mailbot.journal import Journal
from mailbot.states import MailState
from tests.servers.dovecot import ImapServer, folder_tree
from tests.servers.smtp import SmtpServer
from tests.settings import PAST, imap_table, smtp_table, write_settings
from tests.test_outbox import (
    ARC,
    MAINTAINER,
    USER,
    assert_transmitted_as_queued,
    message_ids,
    queue,
    rendered,
)


def write_config(tmp: Path, smtp: SmtpServer, *, port: int | None = None,
                 imap: ImapServer | None = None, hold: Sequence[str] = (),
                 staging_command: str = "") -> Path:
    """Maildir in (empty), SMTP out to `smtp` (or to `port`), review copies to `imap` if given."""
    port = port or smtp.port
    review = {"copy_to": "imap", "imap_folder": "Mailbot/Sent"} if imap else {"copy_to": "none"}
    return write_settings(tmp / f"mailbot-{port}.toml", {
        "mailbot": {"data_dir": tmp, "cutover": PAST},
        "addresses": {"aog": "aog@example.org", "maintainer": MAINTAINER},
        "inbox": {"sources": ["maildir"],
                  "imap": None if imap is None else imap_table(imap, retry_seconds=1)},
        "staging": {"command": staging_command or cfg.Staging().command},
        "outbox": {"transport": "smtp", "smtp": smtp_table(smtp, port=port, retry_seconds=1),
                   "review": {"hold": list(hold), **review}},
    })


def mailbot(config: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MAILBOT_IMAP_PASSWORD": password}
    return subprocess.run([sys.executable, "-m", "mailbot", "--config", str(config), *args],
                          capture_output=True, env=env, timeout=60, check=False)


def out(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Path:
    return write_config(tmp_path, smtp)


@pytest.fixture
def journal(settings: Path) -> Iterator[Journal]:
    config = cfg.load(settings)
    j = Journal(config.path(config.mailbot.journal))
    yield j
    j.close()


def row_of(listing: str, mail_id: int) -> str:
    (line,) = [x for x in listing.splitlines() if re.match(rf"\s*{mail_id}\s", x)]
    return line


def test_list_shows_state_kind_age_recipients_subject_and_error(
        settings: Path, journal: Journal) -> None:
    config = cfg.load(settings)
    verdict, completion, malformed, failure = (rendered(config, n) for n in range(4))
    queued_id, completion_id = queue(journal, [verdict, completion])
    malformed_id, failure_id = queue(journal, [malformed, failure], held=True)
    with journal.transaction():
        journal.claim_for_sending(completion_id)
        journal.mark_sent(completion_id)
        journal.set_outbox_state(failure_id, MailState.QUEUED, only_from=(MailState.HELD,))
        journal.claim_for_sending(failure_id)
        journal.mark_attempt_failed(failure_id, "550 5.1.1 no such user", permanent=True)

    listing = out(mailbot(settings, "outbox", "list"))

    header, *_ = listing.splitlines()
    assert header.split() == ["ID", "STATE", "KIND", "AGE", "SENT", "RECIPIENTS", "SUBJECT"]
    for mail_id, state, kind, mail in ((queued_id, "queued", "verdict", verdict),
                                       (completion_id, "sent", "completion", completion),
                                       (malformed_id, "held", "malformed", malformed),
                                       (failure_id, "failed", "failure", failure)):
        line = row_of(listing, mail_id)
        assert line.split()[1:3] == [state, kind]
        assert re.search(r"\s\d+s\s", line), f"age in seconds: {line}"
        assert mail.subject[:20] in line
    assert f"{USER} +3 bcc" in row_of(listing, completion_id)
    assert ARC in row_of(listing, queued_id)
    assert MAINTAINER in row_of(listing, failure_id)
    assert re.search(r"\n\s+error: 550 5\.1\.1 no such user\n", listing)

    only_held = out(mailbot(settings, "outbox", "list", "--state", "held"))
    assert [row_of(only_held, malformed_id)] == only_held.splitlines()[1:]


def test_list_of_an_empty_outbox(settings: Path) -> None:
    assert out(mailbot(settings, "outbox", "list")).splitlines()[1:] == ["(no mail)"]


def test_show_decodes_the_mail_and_marks_blind_copies(settings: Path, journal: Journal) -> None:
    config = cfg.load(settings)
    mail = rendered(config, 1)  # a completion: user in To, staff in Bcc
    (mail_id,) = queue(journal, [mail])
    assert b"quoted-printable" in mail.data or b"=C3=A1" in mail.data or mail.data.isascii()

    shown = out(mailbot(settings, "outbox", "show", str(mail_id)))

    head, _, body = shown.partition("\n\n")
    assert f"Envelope to:   {USER}\n" in head
    for hidden in (ARC, MAINTAINER, "aog@example.org"):
        assert f"Envelope to:   {hidden} (bcc)" in head
    headers = dict(line.split(": ", 1) for line in body.split("\n\n")[0].splitlines())
    assert set(headers) >= {"From", "To", "Subject", "Date", "Message-ID"}
    assert headers["Message-ID"] == mail.message_id
    assert headers["Subject"] == mail.subject
    assert "Szulágyi" in headers["To"], "display names decoded"
    assert "Bcc" not in headers
    text = body.partition("\n\n")[2]
    assert "arcdistribution/preview/" in text
    assert "=\n" not in text and "=C3" not in text, "transfer encoding undone"

    raw = mailbot(settings, "outbox", "show", "--raw", str(mail_id))
    assert raw.returncode == 0 and raw.stdout == mail.data


def test_show_decodes_a_quoted_printable_body(settings: Path, journal: Journal) -> None:
    config = cfg.load(settings)
    mail = rendered(config, 0)  # a verdict quoting the request: non-ASCII body
    assert b"Content-Transfer-Encoding: quoted-printable" in mail.data
    assert "Szulágyi".encode() not in mail.data
    (mail_id,) = queue(journal, [mail])
    shown = out(mailbot(settings, "outbox", "show", str(mail_id)))
    assert "> for user Judit Szulágyi" in shown


def test_show_of_an_unknown_mail_is_an_error(settings: Path) -> None:
    done = mailbot(settings, "outbox", "show", "42")
    assert done.returncode == 1
    assert "no outgoing mail 42" in done.stderr.decode()


def test_held_mail_leaves_only_after_approval(
        settings: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = cfg.load(settings)
    approved, waiting = queue(journal, [rendered(config, n) for n in (1, 5)], held=True)

    out(mailbot(settings, "run"))
    assert smtp.messages == []
    listing = out(mailbot(settings, "outbox", "list"))
    assert row_of(listing, approved).split()[1] == "held"

    assert "approved" in out(mailbot(settings, "outbox", "approve", str(approved)))
    assert smtp.messages == [], "approval itself sends nothing"
    out(mailbot(settings, "run"))

    assert message_ids(smtp.messages) == [journal.outbox_mail(approved).message_id]
    assert_transmitted_as_queued(smtp.messages, [journal.outbox_mail(approved)])
    assert journal.outbox_mail(waiting).state == "held"
    out(mailbot(settings, "run"))
    assert len(smtp.messages) == 1


def test_discarded_mail_is_never_sent(settings: Path, smtp: SmtpServer, journal: Journal) -> None:
    config = cfg.load(settings)
    held, queued = queue(journal, [rendered(config, 1)], held=True) + queue(
        journal, [rendered(config, 2)])
    assert "discarded" in out(mailbot(settings, "outbox", "discard", str(held), str(queued)))
    out(mailbot(settings, "run"))
    assert smtp.messages == []
    listing = out(mailbot(settings, "outbox", "list"))
    assert [row_of(listing, i).split()[1] for i in (held, queued)] == ["discarded"] * 2


def test_approving_a_sent_or_unknown_mail_is_refused(
        settings: Path, journal: Journal) -> None:
    config = cfg.load(settings)
    sent, held = queue(journal, [rendered(config, 1), rendered(config, 2)], held=True)
    with journal.transaction():
        journal.set_outbox_state(sent, MailState.QUEUED, only_from=(MailState.HELD,))
        journal.claim_for_sending(sent)
        journal.mark_sent(sent)

    done = mailbot(settings, "outbox", "approve", str(sent), str(held), "99")

    assert done.returncode == 1
    errors = done.stderr.decode()
    assert f"mail {sent} is sent, not held or failed; cannot approve it" in errors
    assert "no outgoing mail 99" in errors
    assert f"mail {held}: approved" in done.stdout.decode(), "the others are still done"
    assert journal.outbox_mail(sent).state == "sent"
    assert journal.outbox_mail(held).state == "queued"


def test_smtp_outage_exits_75_and_next_run_sends_each_mail_once(
        tmp_path: Path, settings: Path, smtp: SmtpServer, journal: Journal,
        closed_port: int) -> None:
    config = cfg.load(settings)
    queue(journal, [rendered(config, n) for n in range(3)])
    down = write_config(tmp_path, smtp, port=closed_port)

    done = mailbot(down, "run")
    assert done.returncode == 75
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("mailbot: SMTP server unavailable: 127.0.0.1:")
    assert {m.state for m in journal.outbox()} == {"queued"}

    out(mailbot(settings, "run"))
    out(mailbot(settings, "run"))
    assert_transmitted_as_queued(smtp.messages, journal.outbox())


def test_run_keeps_a_review_copy_in_the_aog_mailbox(
        tmp_path: Path, smtp: SmtpServer, imap: ImapServer) -> None:
    settings = write_config(tmp_path, smtp, imap=imap)
    config = cfg.load(settings)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        queue(journal, [rendered(config, n) for n in range(2)])
    finally:
        journal.close()

    out(mailbot(settings, "run", password=imap.password))

    client = imap.client()
    try:
        fetched = []
        for folder in folder_tree(client, "Mailbot/Sent"):  # a subfolder per month
            client.select_folder(folder, readonly=True)
            fetched += client.fetch(client.search("ALL"), [b"BODY.PEEK[]", b"FLAGS"]).values()
    finally:
        client.logout()
    assert sorted(bytes(f[b"BODY[]"]) for f in fetched) == sorted(r.data for r in smtp.messages)
    assert all(b"\\Seen" in f[b"FLAGS"] for f in fetched)
    listing = out(mailbot(settings, "outbox", "list"))
    assert listing.count(" sent ") == 2


def test_kinds_listed_in_hold_wait_for_approval_in_a_real_run(
        tmp_path: Path, smtp: SmtpServer) -> None:
    """Requests through `mailbot run`: verdict and malformed replies held, one approved."""
    demo, _ = prepare(tmp_path / "demo", duration=0.2)
    settings = write_config(tmp_path / "demo", smtp, hold=["verdict", "malformed"],
                            staging_command=demo.staging.command)

    out(mailbot(settings, "run"))

    journal = Journal(demo.path(demo.mailbot.journal))
    try:
        held = journal.outbox("held")
        assert {m.kind for m in held} == {"verdict", "malformed"}
        assert journal.outbox("queued") == []
        listing = out(mailbot(settings, "outbox", "list", "--state", "held"))
        assert len(listing.splitlines()) == 1 + len(held)
        chosen = held[0]
        assert smtp.messages == []

        out(mailbot(settings, "outbox", "approve", str(chosen.id)))
        out(mailbot(settings, "run"))

        held_ids = {m.message_id for m in held}
        arrived = [i for i in message_ids(smtp.messages) if i in held_ids]
        assert arrived == [chosen.message_id]
        assert {m.id for m in journal.outbox("held")} == {m.id for m in held[1:]}
    finally:
        journal.close()
