"""A backlog is read and marked in batches (issue 14): the new mails' bodies in one FETCH,
the recorded requests flagged with one STORE and moved with one MOVE per batch, and
only after the journal holds every one of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imapclient
import pytest

from mailbot import config as cfg
from mailbot.inbox.imap import ImapLink
from mailbot.journal import Journal
from mailbot.run import run_once
from tests.servers.dovecot import ImapServer
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


class Calls:
    """The IMAP commands the bot sent that matter here, with what they were about."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch,
                 names: tuple[str, ...] = ("fetch", "add_flags", "move")) -> None:
        self.seen: list[tuple[str, Any]] = []
        for name in names:
            monkeypatch.setattr(imapclient.IMAPClient, name, self._wrap(name))

    def _wrap(self, name: str) -> Any:
        original = getattr(imapclient.IMAPClient, name)

        def call(client: imapclient.IMAPClient, *args: Any, **kwargs: Any) -> Any:
            self.seen.append((name, args))
            return original(client, *args, **kwargs)
        return call

    def of(self, name: str, wanting: bytes | None = None) -> list[Any]:
        return [args for n, args in self.seen
                if n == name and (wanting is None or wanting in args[1])]


def test_a_backlog_is_read_flagged_and_moved_in_one_command_each(
        imap: ImapServer, mailbox: imapclient.IMAPClient,  # noqa: F811
        tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    requests = [a_request(n) for n in range(5)]
    question = a_question("not a request")
    for raw in requests:
        append(mailbox, raw)
    append(mailbox, question)
    config = cfg.load(write_config(tmp, imap, processed_folder="Done"))
    calls = Calls(monkeypatch)

    run(config)

    assert [len(uids) for uids, *_ in calls.of("fetch", b"BODY.PEEK[]")] == [6]
    assert [len(uids) for uids, *_ in calls.of("add_flags")] == [5]
    assert [len(uids) for uids, *_ in calls.of("move")] == [5]
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
        tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """`mailbot watch`'s passes: one login, the processed folder's name asked and the folder
    made once; each pass still reads, records, then marks its new mail."""
    config = cfg.load(write_config(tmp, imap, processed_folder="Mailbot/Done"))
    calls = Calls(monkeypatch, ("login", "namespace", "folder_exists", "logout", "move"))
    link = ImapLink(config.inbox.imap)
    requests = [a_request(n) for n in range(3)]
    try:
        for raw in requests:
            append(mailbox, raw)
            assert run_once(config, imap=link).outages == []
        assert [len(calls.of(n)) for n in ("login", "namespace", "folder_exists", "logout")] \
            == [1, 1, 1, 0]
        assert len(calls.of("move")) == 3
    finally:
        link.drop()
    assert len(calls.of("logout")) == 1
    assert answered(config) == [message_id(r) for r in requests]
    assert flags_by_message_id(mailbox) == {}
