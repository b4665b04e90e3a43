"""Where requests come from: the aog@ mailbox over IMAP, a local Maildir, a trigger directory.

Every source hands out NEW items only and never changes anything while doing
so (IMAP `BODY.PEEK[]`, Maildir and trigger files only read). A request is
marked processed only after the journal holds its outcome; every other mail
stays exactly as it was, not even `\\Seen`. Each source owns its keys (where it
finds a mail again), how far it has read (`Position`) and its marking (`marks`,
`mark_processed`); `identity` says which mail a mail is, whatever its key.
"""

from mailbot.inbox.base import BatchMarking, Channel, Incoming, Position, SeenCheck, Skipped, Source
from mailbot.inbox.files import MaildirSource, TriggerSource, delivered_at
from mailbot.inbox.folders import server_folder
from mailbot.inbox.identity import content_digest, message_id_key
from mailbot.inbox.imap import FETCH_BATCH, ImapSource, connect_imap, ensure_folder

__all__ = [
    "FETCH_BATCH",
    "BatchMarking",
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
    "content_digest",
    "delivered_at",
    "ensure_folder",
    "message_id_key",
    "server_folder",
]
