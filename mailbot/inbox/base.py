"""What every source hands out: new mail as read, or a mail it only moves past."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Channel(StrEnum):
    """How a request reached aog@: which grammar reads it."""

    MAIL = "mail"
    TRIGGER = "trigger"  # a trigger file written by the trigger script


# Mails read (IMAP: FETCHed) in one go, and recorded ones marked (one STORE) in one go.
FETCH_BATCH = 50


@dataclass(frozen=True)
class Position:
    """How far a source has read (an IMAP folder's UID watermark per UIDVALIDITY)."""

    folder: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class Incoming:
    """One mail or trigger file as read, not yet parsed."""

    source: str  # the journal's source name, e.g. "imap:INBOX"
    key: str  # where the source finds it again: `uidvalidity:uid`, a file name
    raw: bytes
    received: datetime
    channel: Channel = Channel.MAIL
    position: Position | None = None
    # What makes it the same mail as another (`identity`); None for trigger files,
    # which have no Message-ID and are known by their name.
    message_id: str | None = None
    digest: str | None = None

    @classmethod
    def mail(cls, source: str, key: str, raw: bytes, received: datetime,
             position: Position | None = None) -> Incoming:
        """A mail, with its identity: Message-ID and content digest."""
        # With the first mail: the header parser it needs is not loaded by an idle run.
        from mailbot.inbox.identity import mail_identity

        return cls(source, key, raw, received, Channel.MAIL, position, *mail_identity(raw))


@dataclass(frozen=True)
class Skipped:
    """Already handled, or older than the cut-over: the source only moves past it."""

    source: str
    key: str
    position: Position | None = None


class SeenCheck(Protocol):
    """Whether the journal already holds the item the source finds at `key`."""

    def __call__(self, source: str, key: str) -> bool: ...


class Source(Protocol):
    """A place requests arrive: hands out new items; marks a request once it is recorded."""

    name: str
    channel: Channel
    marks: bool  # whether a recorded request is flagged/moved (trigger files are removed later)

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming | Skipped]: ...
    def mark_processed(self, key: str) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class BatchMarking(Protocol):
    """A source that marks many recorded requests at once (IMAP: one STORE, one MOVE)."""

    def mark_processed_all(self, keys: Sequence[str]) -> None: ...
