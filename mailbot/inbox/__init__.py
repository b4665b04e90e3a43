"""Where requests come from: the aog@ mailbox over IMAP, a local Maildir, a trigger directory.

Every source hands out NEW items only and never changes anything while doing
so (IMAP `BODY.PEEK[]`, Maildir and trigger files only read). A request is
marked processed only after the journal holds its outcome; every other mail
stays exactly as it was, not even `\\Seen`. Each source owns its keys, how far
it has read (`Position`) and its marking (`marks`, `mark_processed`).
"""

from mailbot.inbox.base import Channel, Incoming, Position, SeenCheck, Skipped, Source
from mailbot.inbox.files import MaildirSource, TriggerSource, delivered_at
from mailbot.inbox.imap import (
    FETCH_BATCH,
    ImapSource,
    connect_imap,
    ensure_folder,
    message_id_key,
)

__all__ = [
    "FETCH_BATCH",
    "Channel",
    "ImapSource",
    "Incoming",
    "MaildirSource",
    "Position",
    "SeenCheck",
    "Skipped",
    "Source",
    "TriggerSource",
    "connect_imap",
    "delivered_at",
    "ensure_folder",
    "message_id_key",
]
