"""Where requests come from: the aog@ mailbox over IMAP, a local Maildir, a trigger directory.

Every source hands out NEW items only and never changes anything while doing
so (IMAP `BODY.PEEK[]`, Maildir and trigger files only read). A request is
marked processed only after the journal holds its outcome; every other mail
stays exactly as it was, not even `\\Seen`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import imapclient
import imapclient.exceptions
import tenacity

from mailbot import config as cfg
from mailbot.errors import ImapError, MailbotError

log = logging.getLogger(__name__)

FETCH_BATCH = 50


@dataclass(frozen=True)
class Incoming:
    """One mail or trigger file as read, not yet parsed."""

    source: str  # the journal's source name, e.g. "imap:INBOX"
    key: str  # unique within the source
    raw: bytes
    received: datetime
    is_trigger: bool = False
    uidvalidity: int | None = None
    uid: int | None = None
    skip: bool = False  # already handled or older than the cut-over: only advance past it


class Source(Protocol):
    name: str

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming]: ...
    def mark_processed(self, key: str) -> None: ...
    def close(self) -> None: ...


class SeenCheck(Protocol):
    def __call__(self, source: str, key: str) -> bool: ...


# -- Maildir ---------------------------------------------------------------
class MaildirSource:
    """A local Maildir: new mail is in `new/`; a processed request moves to `cur/` as Seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "maildir"
        for sub in ("new", "cur", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming]:
        entries = sorted(
            (p for p in (self.path / "new").iterdir()
             if p.is_file() and not p.name.startswith(".")),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        for file in entries:
            key = file.name.split(":", 1)[0]
            if seen(self.name, key):
                continue
            received = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            yield Incoming(self.name, key, file.read_bytes(), received)

    def mark_processed(self, key: str) -> None:
        for file in (self.path / "new").glob(f"{key}*"):
            if file.name.split(":", 1)[0] == key:
                os.replace(file, self.path / "cur" / f"{key}:2,S")

    def close(self) -> None:
        pass


# -- trigger directory -----------------------------------------------------
class TriggerSource:
    """`trigger-<MOUS>-<time>.txt` files; removed only once their request is finished."""

    def __init__(self, path: Path, pattern: str) -> None:
        self.path = path
        self.pattern = pattern
        self.name = "triggers"
        if not path.is_dir():
            raise MailbotError(f"trigger directory not found: {path}")

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming]:
        for file in sorted(self.path.glob(self.pattern)):
            if not file.is_file() or seen(self.name, file.name):
                continue
            received = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            yield Incoming(self.name, file.name, file.read_bytes(), received, is_trigger=True)

    def mark_processed(self, key: str) -> None:
        # The file stays while its request is active (spec section 1); see remove().
        pass

    def remove(self, key: str) -> None:
        (self.path / key).unlink(missing_ok=True)

    def close(self) -> None:
        pass


# -- IMAP ------------------------------------------------------------------
def _transient_imap(exc: BaseException) -> bool:
    # LoginError and CapabilityError are imaplib.IMAP4.error too: never retry credentials.
    if isinstance(exc, imapclient.exceptions.LoginError | ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, OSError | socket.timeout | imapclient.exceptions.IMAPClientAbortError)


class ImapSource:
    """A folder of the aog@ mailbox, read incrementally by UID watermark."""

    def __init__(self, settings: cfg.Imap, *, watermark: tuple[int, int] | None,
                 cutover: datetime) -> None:
        self.settings = settings
        self.name = f"imap:{settings.folder}"
        self.start_watermark = watermark
        self.cutover = cutover
        self.client = connect_imap(settings)
        self.uidvalidity = 0
        self.processed_folder_ready = False

    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming]:
        s = self.settings
        try:
            info = self.client.select_folder(s.folder)
        except imapclient.exceptions.IMAPClientError as exc:
            raise ImapError(f"cannot select folder {s.folder!r}: {exc}") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        last_uid = 0
        if self.start_watermark and self.start_watermark[0] == self.uidvalidity:
            last_uid = self.start_watermark[1]
        elif self.start_watermark:
            log.warning("UIDVALIDITY of %s changed: rescanning since the cut-over", s.folder)
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if last_uid == 0:
            # First run or new UIDVALIDITY: never look further back than the cut-over day.
            criteria += ["SINCE", self.cutover.date()]
        uids = sorted(u for u in self.client.search(criteria) if u > last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            data = self.client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS"])
            for uid in batch:
                item = data.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                yield from self._incoming(uid, item, seen)

    def _incoming(self, uid: int, item: dict[bytes, Any], seen: SeenCheck) -> Iterator[Incoming]:
        key = f"{self.uidvalidity}:{uid}"
        internal = item[b"INTERNALDATE"]
        received = internal if internal.tzinfo else internal.replace(tzinfo=UTC)
        received = received.astimezone(UTC)
        keyword = self.settings.processed_keyword.encode()
        flags = {f.lower() for f in item.get(b"FLAGS", ())}
        if seen(self.name, key) or keyword.lower() in flags or received < self.cutover:
            # Already handled (by this journal or, per its keyword, another), or old mail:
            # advance the watermark past it without touching it.
            yield Incoming(self.name, key, b"", received, uidvalidity=self.uidvalidity,
                           uid=uid, skip=True)
            return
        yield Incoming(self.name, key, bytes(item[b"BODY[]"]), received,
                       uidvalidity=self.uidvalidity, uid=uid)

    def mark_processed(self, key: str) -> None:
        uidvalidity, _, uid_text = key.partition(":")
        if int(uidvalidity) != self.uidvalidity:
            log.warning("cannot mark %s: UIDVALIDITY changed", key)
            return
        uid = int(uid_text)
        s = self.settings
        flags = [b"\\Seen"] + ([s.processed_keyword.encode()] if s.processed_keyword else [])
        self.client.add_flags([uid], flags, silent=True)
        if s.processed_folder:
            self._ensure_folder(s.processed_folder)
            if self.client.has_capability("MOVE"):
                self.client.move([uid], s.processed_folder)
            else:
                # COPY + \Deleted + UID EXPUNGE of that one UID only: a plain EXPUNGE
                # would remove every \Deleted mail of the folder.
                self.client.copy([uid], s.processed_folder)
                self.client.add_flags([uid], [b"\\Deleted"], silent=True)
                self.client.uid_expunge([uid])

    def _ensure_folder(self, folder: str) -> None:
        if not self.processed_folder_ready:
            if not self.client.folder_exists(folder):
                self.client.create_folder(folder)
            self.processed_folder_ready = True

    def close(self) -> None:
        with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
            self.client.logout()


def connect_imap(s: cfg.Imap) -> imapclient.IMAPClient:
    """Connect and log in, retrying transient faults for at most `retry_seconds`."""
    password = cfg.secret(s.password_env) or ""

    @tenacity.retry(
        retry=tenacity.retry_if_exception(_transient_imap),
        stop=tenacity.stop_before_delay(s.retry_seconds),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=10),
        reraise=True,
    )
    def attempt() -> imapclient.IMAPClient:
        context = ssl.create_default_context(cafile=s.ca_file or None)
        client = imapclient.IMAPClient(
            s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context,
            timeout=imapclient.SocketTimeout(connect=s.connect_timeout, read=s.read_timeout),
        )
        try:
            if s.security == "starttls":
                client.starttls(context)
            client.login(s.user, password)
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        return client

    where = f"{s.host}:{s.port}"
    try:
        return attempt()
    except imapclient.exceptions.LoginError as exc:
        raise MailbotError(f"IMAP login refused for {s.user!r} at {where}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailbotError(f"IMAP certificate of {where} not trusted: {exc}") from exc
    except (OSError, imapclient.exceptions.IMAPClientError) as exc:
        raise ImapError(f"{where}: {exc}") from exc
