"""The journal file: one connection, explicit transactions, the meta table, the migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mailbot.clock import SYSTEM, Clock, stamp
from mailbot.errors import MailbotError
from mailbot.journal import migrations
from mailbot.journal.migrations import MIGRATIONS, MIGRATIONS_TABLE, SCHEMA_VERSION, Migration

log = logging.getLogger(__name__)


class JournalError(MailbotError):
    """A journal this mailbot cannot use: written by a newer one, or not a journal at all."""


class Store:
    """The connection the tables' operations share (`Journal` composes them).

    Every timestamp the journal writes comes from `clock`. Read-only, nothing is
    created, migrated or written: what `mailbot check` needs to promise that.
    """

    def __init__(self, path: Path, clock: Clock = SYSTEM, *, read_only: bool = False) -> None:
        self.path = path
        self.clock = clock
        self.read_only = read_only
        self._depth = 0
        self.db = _connect(path, read_only)
        try:
            if read_only:
                self.migrated: tuple[int, ...] = ()
                self._readable()
            else:
                self.migrated = self._migrate()
            self.instance = self._instance(read_only)
        except BaseException as exc:
            self.db.close()
            if read_only and isinstance(exc, sqlite3.Error):
                raise JournalError(f"journal {path} cannot be read: {exc}") from exc
            raise

    def close(self) -> None:
        if not self.read_only:
            self.durable()  # what this run wrote survives a power cut, too
        self.db.close()

    def durable(self) -> None:
        """Every commit so far on disk, not only in the OS's cache: called before an act
        outside the journal relies on it (flagging mail as handled, sending mail).

        Commits are `synchronous=NORMAL` (WAL): they survive the process being killed at
        any point, which is what exactly-once rests on; only a power cut or a kernel
        crash can undo the last ones, and this barrier bounds that to what no outside
        act depends on. One fsync of the WAL here costs what `synchronous=FULL` paid at
        every commit (about 2 ms on this machine's disk; see `benchmarks/`).
        """
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:  # checkpointed and removed: all is in the main file
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _stamp_now(self) -> str:
        """The journal's clock, as stored."""
        return stamp(self.clock.now())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested, a savepoint (undone alone, committed by the outer one)."""
        if self.db.in_transaction:
            self._depth += 1
            name = f"nested{self._depth}"
            self.db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self.db.execute(f"RELEASE {name}")
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- schema -------------------------------------------------------------
    def _known(self) -> set[int]:
        """The migrations the file has; refused when a newer mailbot wrote it."""
        have = migrations.applied(self.db)
        version = max(max(have, default=0), migrations.meta_version(self.db))
        if version > SCHEMA_VERSION:
            raise JournalError(f"journal {self.path} was written by a newer mailbot (schema "
                               f"{version}, this one knows {SCHEMA_VERSION}): upgrade mailbot")
        return have

    def _migrate(self) -> tuple[int, ...]:
        """Apply what the file lacks, one transaction each; the numbers recorded now."""
        recorded: list[int] = []
        with self.transaction():
            have = self._known()
            if "schema_migrations" not in migrations.tables(self.db):
                self.db.execute(MIGRATIONS_TABLE)
                # Written before migrations were numbered: what it has is adopted as is.
                recorded += [self._record(m) for m in MIGRATIONS if m.number in have]
        for migration in (m for m in MIGRATIONS if m.number not in have):
            with self.transaction():
                # Asked again under the write lock: another process may have just done it.
                if migration.number in migrations.applied(self.db):
                    continue
                migration.apply(self.db)
                recorded.append(self._record(migration))
                log.info("journal %s: migration %d applied (%s)", self.path,
                         migration.number, migration.name)
        return tuple(recorded)

    def _record(self, migration: Migration) -> int:
        self.db.execute("INSERT INTO schema_migrations(number, name, applied) VALUES (?,?,?)",
                        (migration.number, migration.name, self._stamp_now()))
        # The one key an older mailbot reads to refuse the file.
        self.set_meta("schema_version", str(migration.number))
        return migration.number

    def _readable(self) -> None:
        """Without migrating: a journal of this schema or an older one (whose missing
        columns read as unknown) is read; a newer one is refused by `_known`."""
        if not self._known():
            raise JournalError(f"{self.path} is not a mailbot journal")

    def _instance(self, read_only: bool) -> str:
        """This journal's random name: job ids repeat across journals, job names must not."""
        instance = self.get_meta("instance")
        if instance is None and not read_only:
            with self.transaction():
                instance = self.get_meta("instance")
                if instance is None:
                    import secrets  # once, for a new journal: not with every start

                    instance = secrets.token_hex(4)
                    self.set_meta("instance", instance)
        return instance or ""


def stored(text: str | None) -> str | None:
    """`text` as SQLite takes it: a lone surrogate (the stdlib's stand-in for a raw byte
    of a header it could not decode, e.g. in a Message-ID) as its escape, `\\xe9`.

    The same text is always stored the same way, so that a lookup finds it again.
    """
    if text is None or not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                   else c.encode("unicode_escape").decode("ascii")
                   if "\ud800" <= c <= "\udfff" else c for c in text)


def marks(values: Sequence[object]) -> str:
    """The `?` placeholders of an IN (...) list of these values."""
    return ",".join("?" * len(values))


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a transaction
    # spans exactly what `transaction()` encloses.
    if read_only:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                             isolation_level=None, timeout=30)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process's death; `durable()` makes it survive a
        # power cut, before whatever outside the journal depends on it.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    db.row_factory = sqlite3.Row
    return db
