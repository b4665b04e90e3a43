"""A backlog is read and marked in batches (issue 14): the new mails' bodies in one FETCH,
the recorded requests flagged with one STORE and moved with one MOVE per batch, and
only after the journal holds every one of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import imapclient
import pytest

from mailbot import config as cfg
from mailbot.inbox.imap import ImapLink
from mailbot.journal import Journal
from mailbot.run import run_once
from tests.servers.dovecot import ImapServer
from tests.servers.wiretap import Wiretap, wiretap
from tests.test_inbox import (  # noqa: F401  (fixtures)
    KEYWORD,
    a_question,
    a_request,
    answered,
    append,
    flags_by_message_id,
    mailbox,
    message_id,
    run,
    tmp,
    write_config,
)


@pytest.fixture
def tap(imap: ImapServer) -> Iterator[Wiretap]:
    """What the bot sends to Dovecot, read off the wire (the bot connects through it)."""
    with wiretap(imap.host, imap.port) as relay:
        yield relay


def test_a_backlog_is_read_flagged_and_moved_in_one_command_each(
        imap: ImapServer, mailbox: imapclient.IMAPClient,  # noqa: F811
        tmp: Path, tap: Wiretap) -> None:  # noqa: F811
    requests = [a_request(n) for n in range(5)]
    question = a_question("not a request")
    for raw in requests:
        append(mailbox, raw)
    append(mailbox, question)
    config = cfg.load(write_config(tmp, imap, port=tap.port, processed_folder="Done"))

    run(config)

    assert [c.uids() for c in tap.named("UID FETCH", "BODY.PEEK[]")] == [6]
    assert [c.uids() for c in tap.named("UID STORE", "+FLAGS")] == [5]
    assert [c.uids() for c in tap.named("UID MOVE")] == [5]
    assert answered(config) == [message_id(r) for r in requests]
    assert flags_by_message_id(mailbox) == {message_id(question): set()}
    assert flags_by_message_id(mailbox, "Done") == {
        message_id(r): {b"\\Seen", KEYWORD} for r in requests}
    journal = Journal(config.path(config.mailbot.journal))
    try:
        assert journal.unmarked("imap:INBOX") == []
    finally:
        journal.close()


def test_passes_on_a_kept_connection_log_in_and_look_up_folders_once(
        imap: ImapServer, mailbox: imapclient.IMAPClient,  # noqa: F811
        tmp: Path, tap: Wiretap) -> None:  # noqa: F811
    """`mailbot watch`'s passes: one login, the processed folder's name asked and the folder
    made once; each pass still reads, records, then marks its new mail."""
    config = cfg.load(write_config(tmp, imap, port=tap.port, processed_folder="Mailbot/Done"))
    link = ImapLink(config.inbox.imap)
    requests = [a_request(n) for n in range(3)]
    try:
        for raw in requests:
            append(mailbox, raw)
            assert run_once(config, imap=link).outages == []
        # LIST: whether the processed folder exists (made once, by CREATE, if not).
        assert [len(tap.named(n)) for n in ("LOGIN", "NAMESPACE", "LIST", "CREATE", "LOGOUT")] \
            == [1, 1, 1, 1, 0]
        assert len(tap.named("UID MOVE")) == 3
    finally:
        link.drop()
    assert len(tap.named("LOGOUT")) == 1
    assert answered(config) == [message_id(r) for r in requests]
    assert flags_by_message_id(mailbox) == {}
