"""The copy of each sent mail that AOG reads: an IMAP folder of the aog@ mailbox, or files.

APPENDed with `\\Seen` to `outbox.review.imap_folder` (created if missing, its
path spelled with the server's hierarchy delimiter), or written as .eml files
to `outbox.directory`. A copy that could not be stored is retried at the next
run without sending the mail again; one stored by a run that died before
noting it is found in the folder by its Message-ID and not stored twice.
"""

from __future__ import annotations

import contextlib

import imapclient
import imapclient.exceptions

from mailbot import config as cfg
from mailbot import faults
from mailbot.clock import parse_stamp
from mailbot.errors import ImapError
from mailbot.inbox import connect_imap, ensure_folder, message_id_key, server_folder
from mailbot.journal import Journal, MailRecord
from mailbot.outbox import without_bcc, write_eml


def copy_for_review(config: cfg.Config, journal: Journal) -> int:
    """Store a copy of each sent mail where AOG reads it; retried next run on failure."""
    review = config.outbox.review
    pending = journal.uncopied()
    if review.copy_to == "none" or not pending:
        return 0
    if review.copy_to == "directory":
        same_place = config.outbox.transport == "directory"
        for mail in pending:
            if not same_place:
                write_eml(config.path(config.outbox.directory), mail)
            _copied(journal, mail)
        return len(pending)
    return _append_copies(config, journal, pending)


def _copied(journal: Journal, mail: MailRecord) -> None:
    faults.reached(faults.Point.COPIED)
    with journal.transaction():
        journal.mark_copied(mail.id)


def _append_copies(config: cfg.Config, journal: Journal, pending: list[MailRecord]) -> int:
    path = config.outbox.review.imap_folder
    client = connect_imap(config.inbox.imap)
    try:
        folder = server_folder(client, path)
        ensure_folder(client, folder)
        client.select_folder(folder, readonly=True)
        for mail in pending:
            # A run that died between APPEND and its mark left a copy there already.
            if not _has_copy(client, mail.message_id):
                when = parse_stamp(mail.sent) if mail.sent else None
                client.append(folder, without_bcc(mail.data), flags=[b"\\Seen"],
                              msg_time=when)
            _copied(journal, mail)
    except (TimeoutError, OSError, imapclient.exceptions.IMAPClientError) as exc:
        raise ImapError(f"cannot store review copies in {path!r}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
            client.logout()
    return len(pending)


def _has_copy(client: imapclient.IMAPClient, message_id: str) -> bool:
    # HEADER search matches substrings: keep exact matches only.
    found = client.search(["HEADER", "Message-ID", message_id])
    if not found:
        return False
    heads = client.fetch(found, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return any(message_id_key(bytes(value)) == message_id
               for item in heads.values() for name, value in item.items()
               if isinstance(name, bytes) and name.upper().startswith(b"BODY[HEADER"))
