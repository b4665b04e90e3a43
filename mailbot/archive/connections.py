"""Connections to the archive database: SQLite or Oracle, opened with bounded retries.

On SQLite the archive file is attached read-only as `alma`, so that the
queries' `alma.account` means the same as on Oracle. Which faults are worth
another try, and how a fault reads in one line, is decided here too.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from mailbot.config import Config
from mailbot.errors import ArchiveError, ConfigError
from mailbot.retry import ConnectRetry
from mailbot.tables import secret
from mailbot.text import one_line

ORACLE_DEFAULT_PORT = 1521

Rows = tuple[list[str], list[Sequence[Any]]]  # column names as the driver gives them, rows


class Connection(Protocol):
    """An open archive database: runs a statement, returns its column names and rows."""

    def rows(self, sql: str, binds: dict[str, str]) -> Rows: ...

    def close(self) -> None: ...


class SqliteConnection:
    """An in-memory database with the archive file attached read-only as `alma`."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(":memory:", uri=True)
        try:
            self._db.execute("ATTACH DATABASE ? AS alma", (f"file:{quote(str(path))}?mode=ro",))
            # ATTACH is lazy about the file's content: read it now, so a file that
            # is not a database fails here and not in the middle of a decision.
            self._db.execute("SELECT COUNT(*) FROM alma.sqlite_master").fetchone()
        except sqlite3.Error:
            self._db.close()
            raise

    def rows(self, sql: str, binds: dict[str, str]) -> Rows:
        cursor = self._db.execute(sql, binds)
        try:
            return column_names(cursor.description), cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self._db.close()


def column_names(description: Sequence[Sequence[Any]] | None) -> list[str]:
    """The column names of a cursor's description, as the driver spells them."""
    return [str(column[0]) for column in description or ()]


@dataclass(frozen=True)
class Target:
    """Where the archive is: a display URL and how to connect to it."""

    url: str
    connect: Callable[[], Connection]


def target_of(config: Config, url: str) -> Target:
    """Where `archive.url` points; a malformed URL or a missing password is a ConfigError."""
    if url.startswith("sqlite:"):
        return _sqlite_target(url)
    if url.startswith("oracle:"):
        return _oracle_target(config, url)
    raise ConfigError(f"archive.url must start with sqlite:// or oracle://, not {url!r}")


def _sqlite_target(url: str) -> Target:
    """`sqlite:///abs/path`; also `sqlite:////abs/path`, which `{data_dir}` expands to."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"archive.url must be sqlite:///ABSOLUTE/PATH, not {url!r}")
    rest = url[len(prefix) :]
    path = Path(rest if rest.startswith(("/", "~")) else "/" + rest).expanduser()
    return Target(f"sqlite://{path}", lambda: _sqlite(path))


def _sqlite(path: Path) -> SqliteConnection:
    # A missing file is a setting to fix (a fresh config names the demo archive), not an
    # outage to retry; a file that is there but unreadable is still retried.
    if not path.exists():
        raise ConfigError(f"archive.url names {path}, which does not exist: create the demo "
                          f"archive with `mailbot archive init --demo {path}`, or set archive.url")
    return SqliteConnection(path)


def _oracle_target(config: Config, url: str) -> Target:
    settings = config.archive
    parts = urlsplit(url)
    service = parts.path.strip("/")
    if parts.password is not None:
        raise ConfigError(f"archive.url must not hold a password: set ${settings.password_env}")
    try:
        port = parts.port or ORACLE_DEFAULT_PORT
    except ValueError:
        raise ConfigError(f"archive.url has a bad port: {url!r}") from None
    if not (parts.username and parts.hostname and service):
        raise ConfigError(f"archive.url must be oracle://USER@HOST:PORT/SERVICE, not {url!r}")
    password = secret(settings.password_env)
    if not password:
        raise ConfigError(
            f"archive password not set: set ${settings.password_env} "
            f"(or ${settings.password_env}_FILE)"
        )
    params: dict[str, Any] = {
        "user": parts.username,
        "password": password,
        "host": parts.hostname,
        "port": port,
        "service_name": service,
        "tcp_connect_timeout": settings.connect_timeout,
        "retry_count": 0,  # the retries are ours, bounded by archive.retry_seconds
    }
    shown = f"oracle://{parts.username}@{parts.hostname}:{port}/{service}"
    # oracledb (a second of start-up) is loaded here, by an Oracle URL, and by nothing else.
    from mailbot.archive.oracle import OracleConnection

    return Target(
        shown, lambda: OracleConnection(params, settings.connect_timeout, settings.query_timeout)
    )


def driver_errors() -> tuple[type[BaseException], ...]:
    """What a driver raises for a database that is down, gone or refusing a statement.

    oracledb's faults only once an Oracle URL loaded it: none of them can exist before.
    """
    if "mailbot.archive.oracle" not in sys.modules:
        return (sqlite3.Error, OSError)
    from mailbot.archive import oracle

    return (sqlite3.Error, *oracle.DRIVER_ERRORS, OSError)


def connect(target: Target, retry_seconds: float) -> Connection:
    """Connect, retrying transient faults; the last one becomes an ArchiveError."""
    retry = ConnectRetry(f"archive database {target.url}", retry_seconds, _transient)
    try:
        return retry(target.connect)
    except driver_errors() as exc:
        raise ArchiveError(f"{target.url}: {fault_line(exc)} ({retry.summary})") from exc


def _transient(exc: BaseException) -> bool:
    """A fault a later attempt may not meet: network, listener, database starting up."""
    if "mailbot.archive.oracle" in sys.modules:
        from mailbot.archive import oracle

        if isinstance(exc, oracle.DRIVER_ERRORS):
            return oracle.transient(exc)
    # socket.gaierror and TimeoutError (our connect bound) are OSErrors; an SQLite
    # file that is there but cannot be opened may be on a volume not mounted yet.
    return isinstance(exc, OSError | socket.gaierror | sqlite3.OperationalError)


# oracledb puts a fresh random id into every connect error: noise in a one-line message.
_CONNECTION_ID = re.compile(r"\s*\(CONNECTION_ID=[^)]*\)")


def fault_line(exc: BaseException) -> str:
    """A driver's fault in one line, for the one line an outage is reported in."""
    text = one_line(_CONNECTION_ID.sub("", str(exc)))
    if isinstance(exc, TimeoutError) and not text:
        return "no answer (connect timed out)"
    return text or type(exc).__name__
