"""Folder paths of the settings ("Mailbot/Sent") as the IMAP server names them.

The settings write a folder path with "/" between its levels, whatever the
server. Servers differ: Dovecot with its default Maildir++ layout separates
levels with "." and refuses a "/" in a name; Courier and Cyrus put every
personal folder under "INBOX."; others use "/". The server says which in its
NAMESPACE answer (or, without NAMESPACE, in `LIST "" ""`), and the path is
spelled accordingly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailbot.errors import ConfigError

if TYPE_CHECKING:
    import imapclient

SETTINGS_DELIMITER = "/"


def server_folder(client: imapclient.IMAPClient, path: str) -> str:
    """`path` (levels separated by "/") as this server names that folder."""
    if path.upper() == "INBOX":
        return "INBOX"
    prefix, delimiter = _personal_namespace(client)
    return spelled(path, prefix, delimiter)


def spelled(path: str, prefix: str, delimiter: str) -> str:
    """`path` for a server whose own folders are under `prefix`, levels split by `delimiter`
    ("" for a server without hierarchy)."""
    if path.upper() == "INBOX":
        return "INBOX"
    parts = path.split(SETTINGS_DELIMITER)
    if any(not part for part in parts):
        raise ConfigError(f"folder {path!r}: an empty level (use / between levels)")
    if len(parts) > 1 and not delimiter:
        raise ConfigError(f"folder {path!r}: the IMAP server has no folder hierarchy")
    if delimiter and delimiter != SETTINGS_DELIMITER and any(delimiter in p for p in parts):
        raise ConfigError(f"folder {path!r}: the IMAP server separates levels with "
                          f"{delimiter!r}, which no folder name may hold (use / between levels)")
    name = (delimiter or SETTINGS_DELIMITER).join(parts)
    if parts[0].upper() == "INBOX" or (prefix and name.startswith(prefix)):
        return name  # already under the personal namespace (e.g. INBOX.Sent)
    return prefix + name


def _personal_namespace(client: imapclient.IMAPClient) -> tuple[str, str]:
    """The prefix and hierarchy delimiter of the user's own folders."""
    if client.has_capability("NAMESPACE"):
        personal = client.namespace().personal or ()
        if personal:
            prefix, delimiter = personal[0]
            return _text(prefix), _text(delimiter)
    listed = client.list_folders("", "")  # the root: only its delimiter
    return "", _text(listed[0][1]) if listed else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
