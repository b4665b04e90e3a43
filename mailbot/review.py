"""The copy of each sent mail that AOG reads: an IMAP folder of the aog@ mailbox, or files.

APPENDed with `\\Seen` to `outbox.review.imap_folder` (created if missing, its
path spelled with the server's hierarchy delimiter; with `per_month`, to its
subfolder of the month the mail was sent, so that no folder grows for years), or
written as .eml files to `outbox.directory`.

Copies are stored in batches: the batch is marked `storing` in the journal, sent
in ONE command where the server offers MULTIAPPEND (RFC 3502), then marked
stored. A copy that could not be stored is retried at the next run without
sending the mail again; only a copy marked `storing` by a run that died is
looked for in the folder (by its Message-ID) first, so it is never stored twice
and a run that did not die searches nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot import config as cfg
from mailbot import faults
from mailbot.clock import parse_stamp
from mailbot.journal import Journal, MailRecord
from mailbot.outbox import without_bcc, write_eml

if TYPE_CHECKING:  # imported when copies go to IMAP: an idle run loads no IMAP client
    import imapclient

    from mailbot.inbox import ImapLink

# Copies per APPEND command (and per pair of journal commits around it): a few MB.
COPY_BATCH = 50


def copy_for_review(config: cfg.Config, journal: Journal, link: ImapLink | None = None) -> int:
    """Store a copy of each sent mail where AOG reads it; retried next run on failure.
    `link`: the run's connection to the aog@ mailbox (else one of its own)."""
    review = config.outbox.review
    pending = journal.uncopied()
    if review.copy_to == "none" or not pending:
        return 0
    if review.copy_to == "directory":
        same_place = config.outbox.transport == "directory"
        for mail in pending:
            if not same_place:
                write_eml(config.path(config.outbox.directory), mail)
            _copied(journal, [mail])
        return len(pending)
    return _append_copies(config, journal, pending, link)


def review_folder(review: cfg.Review, sent: datetime | None) -> str:
    """The folder path (settings' spelling) a mail sent at `sent` is copied to."""
    if not review.per_month or sent is None:
        return review.imap_folder
    return f"{review.imap_folder}/{sent:%Y-%m}"


def _copied(journal: Journal, mails: Sequence[MailRecord]) -> None:
    faults.reached(faults.Point.COPIED)
    with journal.transaction():
        journal.mark_copied([m.id for m in mails])


def _append_copies(config: cfg.Config, journal: Journal, pending: list[MailRecord],
                   link: ImapLink | None) -> int:
    from mailbot.inbox import ImapLink

    review = config.outbox.review
    own = link is None
    link = link or ImapLink(config.inbox.imap)
    try:
        with link.step(f"cannot store review copies in {review.imap_folder!r}") as client:
            for path, mails in _by_folder(review, pending):
                folder = link.folder(path, create=True)
                for at in range(0, len(mails), COPY_BATCH):
                    _store_batch(client, folder, journal, mails[at:at + COPY_BATCH])
    finally:
        link.selected = False  # a copy in doubt made another folder the selected one
        if own:
            link.drop()
    return len(pending)


def _by_folder(review: cfg.Review,
               pending: list[MailRecord]) -> Iterator[tuple[str, list[MailRecord]]]:
    def folder(mail: MailRecord) -> str:
        return review_folder(review, parse_stamp(mail.sent) if mail.sent else None)

    for path, mails in itertools.groupby(sorted(pending, key=folder), key=folder):
        yield path, list(mails)


def _store_batch(client: imapclient.IMAPClient, folder: str, journal: Journal,
                 batch: list[MailRecord]) -> None:
    """Mark, store, mark: a run that dies in between leaves the batch `storing`."""
    doubtful = [m for m in batch if m.copy_in_doubt]
    there = _stored_already(client, folder, doubtful) if doubtful else set()
    todo = [m for m in batch if m.message_id not in there]
    if todo:
        with journal.transaction():
            journal.mark_copying([m.id for m in todo])
        append_copies(client, folder, todo, multiappend=client.has_capability("MULTIAPPEND"))
    _copied(journal, batch)


def append_copies(client: imapclient.IMAPClient, folder: str, mails: list[MailRecord], *,
                  multiappend: bool) -> None:
    """The mails' copies, `\\Seen`, dated when sent: in one command with `multiappend`
    (RFC 3502, where the server offers it), else one APPEND each."""
    copies = [(without_bcc(m.data), parse_stamp(m.sent) if m.sent else None) for m in mails]
    if multiappend:
        client.multiappend(folder, [{"msg": data, "flags": [b"\\Seen"],
                                     **({"date": when} if when else {})}
                                    for data, when in copies])
        return
    for data, when in copies:
        client.append(folder, data, flags=[b"\\Seen"], msg_time=when)


def _stored_already(client: imapclient.IMAPClient, folder: str,
                    mails: list[MailRecord]) -> set[str]:
    """The Message-IDs of `mails` found in the folder (stored by a run that died)."""
    client.select_folder(folder, readonly=True)
    return {m.message_id for m in mails if _has_copy(client, m.message_id)}


def _has_copy(client: imapclient.IMAPClient, message_id: str) -> bool:
    from mailbot.inbox import message_id_key

    # HEADER search matches substrings: keep exact matches only.
    found = client.search(["HEADER", "Message-ID", message_id])
    if not found:
        return False
    heads = client.fetch(found, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return any(message_id_key(bytes(value)) == message_id
               for item in heads.values() for name, value in item.items()
               if isinstance(name, bytes) and name.upper().startswith(b"BODY[HEADER"))
