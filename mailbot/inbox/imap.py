"""The aog@ mailbox over IMAP: read by UID watermark with BODY.PEEK[], marked after recording.

imapclient is imported when a connection is made, not with this module: a run
that reads a Maildir only, and every command that reads no mail, start without it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbot import config as cfg
from mailbot import faults
from mailbot.errors import ConfigError, ImapError, MailbotError
from mailbot.inbox.base import FETCH_BATCH, Channel, Incoming, Position, SeenCheck, Skipped
from mailbot.inbox.folders import server_folder
from mailbot.retry import ConnectRetry
from mailbot.tables import secret

if TYPE_CHECKING:
    import imapclient

log = logging.getLogger(__name__)



# The first pass reads only what decides whether a mail is new: a mail that is
# skipped (old, already handled) is never downloaded.
_FIRST_PASS = [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]
# The new mails of a batch are read in as few FETCHes as this bounds (one round trip,
# not one per mail), at least one mail each.
BODY_BYTES = 8_000_000
_HEAD = b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
_UID_KEY = re.compile(r"(\d+):(\d+)")


def _transient_imap(exc: BaseException) -> bool:
    from imapclient.exceptions import IMAPClientAbortError, LoginError

    # LoginError and CapabilityError are imaplib.IMAP4.error too: never retry credentials.
    if isinstance(exc, LoginError | ssl.SSLCertVerificationError):
        return False
    return isinstance(exc, OSError | socket.timeout | IMAPClientAbortError)


def _header_item(item: dict[bytes, Any]) -> bytes:
    # The server names the item BODY[HEADER.FIELDS (MESSAGE-ID)], in its own spelling.
    for name, value in item.items():
        if isinstance(name, bytes) and name.upper().startswith(b"BODY[HEADER"):
            return bytes(value or b"")
    return b""


class ImapLink:
    """One logged-in connection to the aog@ mailbox: a cron run's, or the one `mailbot watch`
    keeps from pass to pass and IDLEs on between them. A fault drops it; the next use logs in
    anew. Folder names are asked of the server once per connection."""

    def __init__(self, settings: cfg.Imap) -> None:
        self.settings = settings
        self._client: imapclient.IMAPClient | None = None
        self._folders: dict[str, str] = {}  # settings path -> the server's name
        self._ensured: set[str] = set()
        self.selected = False  # the settings' folder, read-write
        # The last UID the folder had when a pass looked (UIDNEXT - 1 at its SELECT, or a
        # UID it found): mail above it came in later. None: no pass looked since `news`.
        self.looked: int | None = None

    def client(self) -> imapclient.IMAPClient:
        """The connection, logged in now if it is not."""
        if self._client is None:
            self._client = connect_imap(self.settings)
        return self._client

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[imapclient.IMAPClient]:
        """A server that drops the connection or refuses a command mid-run ends this source's
        part of the run as an outage; whatever was not recorded is redone by the next run."""
        from imapclient.exceptions import IMAPClientError

        client = self.client()
        try:
            yield client
        except (OSError, IMAPClientError) as exc:
            self.drop()
            raise ImapError(f"{what}: {exc}") from exc

    def folder(self, path: str, *, create: bool = False) -> str:
        """`path` as the server names it; with `create`, made (subscribed) when missing."""
        if path not in self._folders:
            self._folders[path] = server_folder(self.client(), path)
        name = self._folders[path]
        if create and name not in self._ensured:
            ensure_folder(self.client(), name)
            self._ensured.add(name)
        return name

    def select(self) -> int:
        """SELECT the settings' folder (read-write: marking needs it); its UIDVALIDITY. Once a
        pass: it also clears the responses imaplib kept of the last pass."""
        with self.step(f"cannot select folder {self.settings.folder!r}") as client:
            info = client.select_folder(self.folder(self.settings.folder))
        uidnext = info.get(b"UIDNEXT")
        self.looked = int(uidnext) - 1 if uidnext else None
        self.selected = True
        return int(info[b"UIDVALIDITY"])

    def saw(self, uids: Sequence[int]) -> None:
        """The pass found these UIDs: they came in before it looked."""
        if self.looked is not None and uids:
            self.looked = max(self.looked, max(uids))

    def news(self) -> bool:
        """Whether mail came in since the last pass looked. Asked right before IDLE: the
        server's notice of such mail may have come with the answer to another command (a
        STORE, a SEARCH), which imaplib keeps aside, and IDLE does not repeat it."""
        looked, self.looked = self.looked, None
        if looked is None or self._client is None or not self.selected:
            return False
        with self.step(f"cannot search {self.settings.folder!r}") as client:
            # imaplib keeps what other commands heard; imapclient shows no public way to it.
            kept = client._imap.untagged_responses
            kept.pop("EXISTS", None)  # mail the pass's commands heard of: the SEARCH finds it
            found = client.search(["UID", f"{looked + 1}:*"])
            heard = kept.pop("EXISTS", None)  # mail announced as the SEARCH ended
        return bool(heard) or any(uid > looked for uid in found)

    def drop(self) -> None:
        """Log out, quietly: the next use connects anew (after a fault, or at the end)."""
        from imapclient.exceptions import IMAPClientError

        client, self._client = self._client, None
        self._folders.clear()
        self._ensured.clear()
        self.selected, self.looked = False, None
        if client is not None:
            with contextlib.suppress(OSError, IMAPClientError):
                client.logout()


class ImapSource:
    """A folder of the aog@ mailbox, read incrementally by UID watermark.

    A mail is found again by its key `<uidvalidity>:<uid>`; which mail it is
    (`Incoming.mail`: Message-ID and content digest) lets the intake recognise
    a mail already in the journal under another key: a second copy, or the same
    mail after a UIDVALIDITY change (a rebuilt or migrated mailbox renumbers
    every UID, and may drop the keyword set on handled mail).
    """

    channel = Channel.MAIL
    marks = True

    def __init__(self, settings: cfg.Imap, *, watermark: tuple[int, int] | None,
                 cutover: datetime, link: ImapLink | None = None) -> None:
        """`link`: a connection kept by `mailbot watch`, left open by `close`."""
        self.settings = settings
        self.name = f"imap:{settings.folder}"
        self.start_watermark = watermark
        self.cutover = cutover
        self.owned = link is None
        self.link = link or ImapLink(settings)
        self.client = self.link.client()
        self.uidvalidity: int | None = None

    # -- reading ------------------------------------------------------------
    def fetch_new(self, seen: SeenCheck) -> Iterator[Incoming | Skipped]:
        uidvalidity = self._select()
        last_uid = 0
        if self.start_watermark and self.start_watermark[0] == uidvalidity:
            last_uid = self.start_watermark[1]
        elif self.start_watermark:
            log.warning("UIDVALIDITY of %s changed: rescanning since the cut-over",
                        self.settings.folder)
        for batch in self._new_batches(last_uid):
            with self._step("cannot read"):
                heads = self.client.fetch(batch, _FIRST_PASS)
            # Expunged meanwhile: no item. The rest is decided for the whole batch, then
            # yielded in UID order, so the watermark never passes a mail not recorded.
            decided = [(uid, heads[uid], self._skipped(uidvalidity, uid, heads[uid], seen))
                       for uid in batch if uid in heads]
            yield from self._with_bodies(uidvalidity, decided)

    def _select(self) -> int:
        if self.uidvalidity is None:
            self.uidvalidity = self.link.select()
        return self.uidvalidity

    def _step(self, what: str) -> contextlib.AbstractContextManager[imapclient.IMAPClient]:
        return self.link.step(f"{what} {self.settings.folder!r}")

    def _new_batches(self, last_uid: int) -> Iterator[list[int]]:
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if last_uid == 0:
            # First run or new UIDVALIDITY: never look further back than the cut-over.
            # SINCE compares dates in the server's time zone: a day of margin, and the
            # exact instant is checked per mail.
            criteria += ["SINCE", self.cutover.date() - timedelta(days=1)]
        with self._step("cannot search"):
            found = self.client.search(criteria)
        self.link.saw(found)
        # "UID n:*" also matches the last mail when n is past the end.
        uids = sorted(u for u in found if u > last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            yield uids[start : start + FETCH_BATCH]

    def _skipped(self, uidvalidity: int, uid: int, item: dict[bytes, Any],
                 seen: SeenCheck) -> Skipped | None:
        """None for a new mail, to be read."""
        key = f"{uidvalidity}:{uid}"
        received = item[b"INTERNALDATE"].astimezone(UTC)
        flags = {bytes(f).lower() for f in item.get(b"FLAGS", ())}
        keyword = self.settings.processed_keyword.encode().lower()
        if (received < self.cutover or (keyword and keyword in flags)
                or seen(self.name, key)):
            # Old mail, or handled (by this journal or, per its keyword, another one):
            # advance the watermark past it without touching it.
            return Skipped(self.name, key, Position(self.settings.folder, uidvalidity, uid))
        return None

    def _with_bodies(self, uidvalidity: int, decided: list[tuple[int, Any, Skipped | None]],
                     ) -> Iterator[Incoming | Skipped]:
        new = [(uid, item) for uid, item, skipped in decided if skipped is None]
        at = {uid: n for n, (uid, _) in enumerate(new)}
        bodies: dict[int, Any] = {}
        fetched: set[int] = set()
        for uid, item, skipped in decided:
            if skipped is not None:
                yield skipped
                continue
            if uid not in fetched:
                group = _size_bounded(new[at[uid]:])
                with self._step("cannot read"):
                    bodies = self.client.fetch(group, [b"BODY.PEEK[]"])
                fetched.update(group)
            body = bodies.get(uid)
            if body is None:  # expunged meanwhile
                continue
            yield Incoming.mail(self.name, f"{uidvalidity}:{uid}", bytes(body[b"BODY[]"]),
                                item[b"INTERNALDATE"].astimezone(UTC),
                                Position(self.settings.folder, uidvalidity, uid))

    # -- marking ------------------------------------------------------------
    def mark_processed(self, key: str) -> None:
        """Flag (and move) a recorded request; also one recorded by a run that died."""
        uids = self._locate(key)
        if not uids:
            # Moved already by a run that died before noting it, or by a person.
            log.info("%s %s is no longer in %s: nothing to mark", self.name, key,
                     self.settings.folder)
            return
        self._flag(uids)

    def mark_processed_all(self, keys: Sequence[str]) -> None:
        """`mark_processed` of each key, in one SEARCH, one STORE and one MOVE: all are
        recorded already, and a run that dies midway leaves them to the next run's repair
        (`Journal.unmarked`), as it would one mail."""
        uidvalidity = self._select()
        uids: set[int] = set()
        for key in keys:
            by_uid = _UID_KEY.fullmatch(key)
            if by_uid and int(by_uid.group(1)) == uidvalidity:
                uids.add(int(by_uid.group(2)))
            else:  # a key of an older journal, or a renumbered mail: one at a time
                self.mark_processed(key)
        if not uids:
            return
        with self._step("cannot search"):
            present = sorted(set(self.client.search(["UID", ",".join(map(str, uids))])) & uids)
        if present:
            self._flag(present)

    def _flag(self, uids: list[int]) -> None:
        s = self.settings
        flags = [b"\\Seen"] + ([s.processed_keyword.encode()] if s.processed_keyword else [])
        with self._step("cannot flag mail in"):
            self.client.add_flags(uids, flags, silent=True)
        faults.reached(faults.Point.FLAGGED)
        if s.processed_folder:
            self._move(uids, s.processed_folder)

    def _locate(self, key: str) -> list[int]:
        """The UIDs of the mail `key` in the folder (after a crash: found again by its key)."""
        uidvalidity = self._select()
        with self._step("cannot search"):
            by_uid = _UID_KEY.fullmatch(key)
            if by_uid:
                if int(by_uid.group(1)) != uidvalidity:
                    return []  # renumbered: the rescan finds it again as a copy
                uid = int(by_uid.group(2))
                return [u for u in self.client.search(["UID", str(uid)]) if u == uid]
            # A key of a journal of before migration 5: the Message-ID. HEADER search
            # matches substrings: keep the exact matches only.
            candidates = self.client.search(["HEADER", "Message-ID", key])
            if not candidates:
                return []
            heads = self.client.fetch(candidates, [_HEAD])
        from mailbot.inbox.identity import message_id_key

        return sorted(u for u, item in heads.items()
                      if message_id_key(_header_item(item)) == key)

    def _move(self, uids: list[int], path: str) -> None:
        with self.link.step(f"cannot move mail to {path!r}"):
            folder = self.link.folder(path, create=True)
            if self.client.has_capability("MOVE"):
                self.client.move(uids, folder)
            elif self.client.has_capability("UIDPLUS"):
                # COPY + \Deleted + UID EXPUNGE of these UIDs only: a plain EXPUNGE
                # would remove every \Deleted mail of the folder.
                self.client.copy(uids, folder)
                self.client.add_flags(uids, [b"\\Deleted"], silent=True)
                self.client.uid_expunge(uids)
            else:
                log.warning("the IMAP server has neither MOVE nor UIDPLUS: processed "
                            "requests stay in %s", self.settings.folder)

    def close(self) -> None:
        """Log out, unless the connection is kept for the next pass."""
        if self.owned:
            self.link.drop()


def _size_bounded(mails: list[tuple[int, Any]]) -> list[int]:
    """The first UIDs of `mails` whose sizes add up to at most BODY_BYTES (one at least)."""
    group: list[int] = []
    total = 0
    for uid, item in mails:
        total += int(item.get(b"RFC822.SIZE", 0))
        if group and total > BODY_BYTES:
            break
        group.append(uid)
    return group


def ensure_folder(client: imapclient.IMAPClient, folder: str) -> None:
    """Create `folder` when missing, subscribed: many mail clients list subscribed ones only."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
        client.subscribe_folder(folder)


def connect_imap(s: cfg.Imap) -> imapclient.IMAPClient:
    """Connect and log in, retrying transient faults for at most `retry_seconds`."""
    import imapclient.exceptions  # and with it imapclient

    password = secret(s.password_env)
    if not password:
        raise ConfigError(f"no IMAP password: set ${s.password_env} "
                          f"(or ${s.password_env}_FILE to a file holding it)")

    def attempt() -> imapclient.IMAPClient:
        # Loading the CA store costs milliseconds a connection: only for TLS.
        context = (None if s.security == "plain"
                   else ssl.create_default_context(cafile=s.ca_file or None))
        client = imapclient.IMAPClient(
            s.host, port=s.port, ssl=s.security == "ssl", ssl_context=context,
            timeout=imapclient.SocketTimeout(connect=s.connect_timeout, read=s.read_timeout),
        )
        # Aware datetimes: the default turns INTERNALDATE into naive local time.
        client.normalise_times = False
        try:
            if context is not None and s.security == "starttls":
                client.starttls(context)
            client.login(s.user, password)
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        return client

    where = f"{s.host}:{s.port}"
    retry = ConnectRetry(f"IMAP server {where}", s.retry_seconds, _transient_imap)
    try:
        return retry(attempt)
    except imapclient.exceptions.LoginError as exc:
        raise MailbotError(f"IMAP login refused for {s.user!r} at {where}: {exc}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailbotError(f"IMAP certificate of {where} not trusted: "
                           f"{exc.verify_message or exc}") from exc
    except (OSError, imapclient.exceptions.IMAPClientError) as exc:
        raise ImapError(f"{where}: {exc} ({retry.summary})") from exc
