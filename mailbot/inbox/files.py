"""Local sources: a Maildir (the embedded setup) and the trigger directory."""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mailbot.errors import TriggerDirError
from mailbot.inbox.base import Channel, Incoming, SeenCheck, Skipped

log = logging.getLogger(__name__)


# Only the Received fields matter to `delivered_at`, and mail-parser reads all of a
# mail it is given: seconds for a hostile one (40,000 Cc took 2 s). It gets those
# fields of the header section, at most 100, each cut at 16 kB.
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RECEIVED = re.compile(rb"^Received:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*",
                       re.IGNORECASE | re.MULTILINE)


def _received_fields(raw: bytes) -> bytes:
    end = _HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    fields = [m.group()[:16384] for m in itertools.islice(_RECEIVED.finditer(head), 100)]
    return b"\n".join(fields) + b"\n\n"


def delivered_at(raw: bytes) -> datetime | None:
    """When the mail reached this mailbox: the date of its newest `Received:` hop.

    Entitlement is judged on the day AOG received the request; a file's time
    only says when it was written (a copy, a restore).
    """
    import mailparser  # only when there is mail to date: an idle run does not load it

    try:
        hops = mailparser.parse_from_bytes(_received_fields(raw)).received
        stamp = hops[-1].get("date_utc") if hops else None  # oldest hop first
        when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except Exception:  # a header mail-parser cannot read: fall back to the file time
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class MaildirSource:
    """A local Maildir: new mail is in `new/`; a processed request moves to `cur/` as Seen.

    A mail is found again by its file name (the part before any `:2,` info); which
    mail it is, by its Message-ID and content (`Incoming.mail`).
    """

    name = "maildir"
    channel = Channel.MAIL
    marks = True

    def __init__(self, path: Path, cutover: datetime | None = None) -> None:
        self.path = path
        self.cutover = cutover
        for sub in ("new", "cur", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming | Skipped]:
        entries = sorted(
            ((p, p.stat().st_mtime) for p in (self.path / "new").iterdir()
             if p.is_file() and not p.name.startswith(".")),
            key=lambda entry: (entry[1], entry[0].name),
        )
        for file, mtime in entries:
            key = file.name.split(":", 1)[0]
            # The file's time is when the mail was delivered into this mailbox.
            written = datetime.fromtimestamp(mtime, UTC)
            if (self.cutover is not None and written < self.cutover) or seen(self.name, key):
                continue  # before the bot took over (AOG's), or already recorded
            raw = file.read_bytes()
            # A mail cannot arrive after its file was written: a Received header
            # dated later is forged (it would move "the day of the request").
            received = min(delivered_at(raw) or written, written)
            yield Incoming.mail(self.name, key, raw, received)

    def mark_processed(self, key: str) -> None:
        for file in (self.path / "new").glob(f"{key}*"):
            if file.name.split(":", 1)[0] == key:
                os.replace(file, self.path / "cur" / f"{key}:2,S")

    def close(self) -> None:
        pass


class TriggerSource:
    """`trigger-<MOUS>-<time>.txt` files; removed only once their request is finished."""

    name = "triggers"
    channel = Channel.TRIGGER
    marks = False  # the file stays while its request is active (spec section 1); see remove()

    def __init__(self, path: Path, pattern: str, cutover: datetime | None = None) -> None:
        self.path = path
        self.pattern = pattern
        self.cutover = cutover
        if not path.is_dir():
            raise TriggerDirError(f"{path} is not a readable directory")

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming | Skipped]:
        try:
            files = sorted(self.path.glob(self.pattern))
        except OSError as exc:
            raise TriggerDirError(f"{self.path}: {exc.strerror or exc}") from exc
        for file in files:
            try:
                if not file.is_file() or seen(self.name, file.name):
                    continue
                received = datetime.fromtimestamp(file.stat().st_mtime, UTC)
                if self.cutover is not None and received < self.cutover:
                    # Written before the bot took over: AOG is handling it by hand.
                    continue
                raw = file.read_bytes()
            except OSError as exc:
                # One unreadable file must not hold up the others; it is retried next run.
                log.warning("cannot read trigger file %s: %s", file, exc.strerror or exc)
                continue
            yield Incoming(self.name, file.name, raw, received, Channel.TRIGGER)

    def mark_processed(self, key: str) -> None:
        pass

    def remove(self, key: str) -> None:
        try:
            (self.path / key).unlink(missing_ok=True)
        except OSError as exc:
            raise TriggerDirError(f"cannot remove {self.path / key}: "
                                  f"{exc.strerror or exc}") from exc

    def close(self) -> None:
        pass
