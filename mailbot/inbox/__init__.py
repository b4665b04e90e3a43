"""Where requests come from: the aog@ mailbox over IMAP, a local Maildir, a trigger directory.

Every source hands out NEW items only and never changes anything while doing
so (IMAP `BODY.PEEK[]`, Maildir and trigger files only read). A request is
marked processed only after the journal holds its outcome; every other mail
stays exactly as it was, not even `\\Seen`. Each source owns its keys (where it
finds a mail again), how far it has read (`Position`) and its marking (`marks`,
`mark_processed`); `identity` says which mail a mail is, whatever its key.
"""

from typing import TYPE_CHECKING

from mailbot import lazy

if TYPE_CHECKING:
    from mailbot.inbox.base import (
        FETCH_BATCH,
        BatchMarking,
        Channel,
        Incoming,
        Position,
        SeenCheck,
        Skipped,
        Source,
    )
    from mailbot.inbox.files import MaildirSource, TriggerSource, delivered_at
    from mailbot.inbox.folders import server_folder
    from mailbot.inbox.identity import content_digest, message_id_key
    from mailbot.inbox.imap import ImapLink, ImapSource, connect_imap, ensure_folder

# Where each name lives. Each is imported on its first use: a run from a Maildir
# never loads `imap` and `folders`, and imapclient with them.
_HOMES = {
    "BatchMarking": "base",
    "Channel": "base",
    "connect_imap": "imap",
    "content_digest": "identity",
    "delivered_at": "files",
    "ensure_folder": "imap",
    "FETCH_BATCH": "base",
    "ImapLink": "imap",
    "ImapSource": "imap",
    "Incoming": "base",
    "MaildirSource": "files",
    "message_id_key": "identity",
    "Position": "base",
    "SeenCheck": "base",
    "server_folder": "folders",
    "Skipped": "base",
    "Source": "base",
    "TriggerSource": "files",
}


__getattr__ = lazy.attributes(__name__, _HOMES)


__all__ = [
    "FETCH_BATCH",
    "BatchMarking",
    "Channel",
    "ImapLink",
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
