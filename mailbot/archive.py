"""The archive adapter: runs AOG's SQL files and returns plain `Facts`.

The queries are configuration, maintained by AOG (spec section 2.3): one file
per fact, with `:named` binds and a contract comment at its top. They run as
they are on Oracle (oracledb, thin mode) and on SQLite, where the archive file
is attached read-only as `alma` so that `alma.account` means the same on both.

Any SQL that keeps a file's contract works: columns are found by name, case
insensitively (Oracle upper-cases them), values are normalised (dates to
`datetime.date`, CHAR padding stripped, 1/0, Y/N or true/false flags), and a
statement gets exactly the binds it uses (oracledb rejects the others).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import quote, urlsplit

import oracledb

from mailbot.config import PACKAGE_DIR, Config, secret
from mailbot.errors import ArchiveError, ConfigError
from mailbot.model import EntitlementRow, Facts
from mailbot.retry import ConnectRetry

log = logging.getLogger(__name__)

SHIPPED_QUERIES = PACKAGE_DIR / "queries"
ORACLE_DEFAULT_PORT = 1521

# Each query file, the columns its contract promises (binds: only :mous).
CONTRACTS: dict[str, tuple[str, ...]] = {
    "entitlement": ("project_code", "role", "email"),
    "mous_state": ("state",),
    "qa0_pass": ("n",),
    "fields": ("field_name", "is_calibrator"),
    "release": ("release_date",),
}
BINDS = frozenset({"mous"})

# Oracle errors that a retry cannot cure: wrong credentials, locked or expired account.
_PERMANENT_ORACLE = frozenset({"ORA-01017", "ORA-01005", "ORA-28000", "ORA-28001", "ORA-01045"})
_TRUE = frozenset({"1", "Y", "YES", "T", "TRUE"})


class Archive(Protocol):
    """What the run loop needs from the archive."""

    def facts(self, mous: str) -> Facts: ...

    def close(self) -> None: ...


# --- query files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One of AOG's SQL files, ready to execute."""

    name: str
    path: Path
    sql: str  # the statement without its trailing ';'
    binds: frozenset[str]  # the bind names the statement uses


_SQL_TOKEN = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?<![:\w]):(?P<bind>[A-Za-z_]\w*)
    """,
    re.DOTALL | re.VERBOSE,
)


def parse_statement(text: str) -> tuple[str, frozenset[str]]:
    """The statement without a trailing `;` (and what follows it), and its bind names.

    Binds are found outside string literals, quoted identifiers and comments, so
    a contract comment that mentions `:mous` does not count as a use.
    """
    binds: set[str] = set()
    code_end = 0  # end of the last character that is neither comment nor blank
    position = 0
    for match in _SQL_TOKEN.finditer(text):
        code_end = _last_code(text, position, match.start(), code_end)
        if match.lastgroup == "bind":
            binds.add(match.group("bind"))
        if match.lastgroup != "comment":
            code_end = match.end()
        position = match.end()
    code_end = _last_code(text, position, len(text), code_end)
    statement = text[:code_end]
    if statement.endswith(";"):
        statement = statement[:-1]
    return statement.rstrip(), frozenset(binds)


def _last_code(text: str, start: int, end: int, current: int) -> int:
    stripped = text[start:end].rstrip()
    return start + len(stripped) if stripped else current


def load_queries(directory: Path) -> dict[str, Query]:
    """Read and check the five query files; a missing file or unknown bind is a ConfigError."""
    queries: dict[str, Query] = {}
    for name in CONTRACTS:
        path = directory / f"{name}.sql"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"archive query {path}: {exc.strerror or exc}") from None
        sql, binds = parse_statement(text)
        if not sql:
            raise ConfigError(f"archive query {path} holds no statement")
        unknown = binds - BINDS
        if unknown:
            raise ConfigError(
                f"archive query {path} uses unknown bind(s) "
                f"{', '.join(':' + b for b in sorted(unknown))}; available: :mous"
            )
        queries[name] = Query(name=name, path=path, sql=sql, binds=binds)
    return queries


# --- connections ------------------------------------------------------------------------

Rows = tuple[list[str], list[Sequence[Any]]]  # column names as the driver gives them, rows


class _Connection(Protocol):
    def rows(self, sql: str, binds: dict[str, str]) -> Rows: ...

    def close(self) -> None: ...


class _SqliteConnection:
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
            return _names(cursor.description), cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self._db.close()


class _OracleConnection:
    """An oracledb thin connection driven by a private event loop.

    The asyncio API is used because only it can bound the whole connect: thin
    mode has no connect timeout, and a peer that accepts TCP but never answers
    makes the blocking `connect()` hang for ever.
    """

    def __init__(self, params: dict[str, Any], timeout: float, query_timeout: float) -> None:
        self._runner = asyncio.Runner()
        try:
            self._conn = self._runner.run(_bounded(params, timeout))
        except BaseException:
            self._runner.close()
            raise
        # A query that hangs must end the run (an outage), not block cron for ever.
        self._conn.call_timeout = int(query_timeout * 1000)

    def rows(self, sql: str, binds: dict[str, str]) -> Rows:
        return self._runner.run(self._rows(sql, binds))

    async def _rows(self, sql: str, binds: dict[str, str]) -> Rows:
        with self._conn.cursor() as cursor:
            await cursor.execute(sql, binds)
            rows = await cursor.fetchall()
            return _names(cursor.description), rows

    def close(self) -> None:
        try:
            self._runner.run(self._conn.close())
        except oracledb.Error:
            pass  # already broken: nothing left to release on the server side
        finally:
            self._runner.close()


async def _bounded(params: dict[str, Any], timeout: float) -> Any:
    # connect_async needs the running loop, so it is called in here.
    return await asyncio.wait_for(_connect_async(params), timeout)


async def _connect_async(params: dict[str, Any]) -> Any:
    return await oracledb.connect_async(**params)


def _names(description: Sequence[Sequence[Any]] | None) -> list[str]:
    return [str(column[0]) for column in description or ()]


# --- the adapter ------------------------------------------------------------------------


class SqlArchive:
    """The archive, queried through AOG's SQL files."""

    def __init__(self, connection: _Connection, queries: dict[str, Query], url: str) -> None:
        self._connection = connection
        self._queries = queries
        self.url = url  # for messages; never holds a password

    def facts(self, mous: str) -> Facts:
        """Everything the decision needs to know about one MOUS (URI form)."""
        entitlement = self._records("entitlement", mous)
        state = self._records("mous_state", mous)
        qa0 = self._records("qa0_pass", mous)
        fields = self._records("fields", mous)
        release = self._records("release", mous)
        return Facts(
            entitlement=tuple(
                EntitlementRow(
                    project_code=_text(r["project_code"]),
                    role=_text(r["role"]).upper(),
                    email=_text(r["email"]),
                )
                for r in entitlement
            ),
            state=(_text(state[0]["state"]) or None) if state else None,
            qa0_pass=_int(qa0[0]["n"]) if qa0 else 0,
            fields=tuple(
                (_text(r["field_name"]), _flag(r["is_calibrator"]))
                for r in fields
                if _text(r["field_name"])
            ),
            release_date=max(
                (d for r in release if (d := self._date(r["release_date"])) is not None),
                default=None,
            ),
        )

    def close(self) -> None:
        """Release the connection."""
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _records(self, name: str, mous: str) -> list[dict[str, Any]]:
        query = self._queries[name]
        binds = {b: mous for b in query.binds}
        try:
            names, rows = self._connection.rows(query.sql, binds)
        except (sqlite3.Error, oracledb.Error, OSError) as exc:
            raise ArchiveError(f"{self.url}: {query.path.name}: {_one_line(exc)}") from exc
        columns = [name.lower() for name in names]  # Oracle upper-cases unquoted names
        missing = [c for c in CONTRACTS[name] if c not in columns]
        if missing:
            raise ConfigError(
                f"archive query {query.path} returns ({', '.join(columns)}); "
                f"its contract needs ({', '.join(CONTRACTS[name])})"
            )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def _date(self, value: Any) -> date | None:
        try:
            return _as_date(value)
        except ValueError:
            raise ConfigError(
                f"archive query {self._queries['release'].path}: not a date: {value!r}"
            ) from None


def _text(value: Any) -> str:
    # Oracle pads CHAR values (e.g. 'PI' united with 'DELEGEE') and stores '' as NULL.
    return "" if value is None else str(value).strip()


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool | int | float):
        return bool(value)
    return str(value).strip().upper() in _TRUE


def _as_date(value: Any) -> date | None:
    """Oracle gives `datetime`, SQLite an ISO string; both become a `date`."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


# --- opening ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where the archive is: a display URL and how to connect to it."""

    url: str
    connect: Callable[[], _Connection]


def open_archive(
    config: Config, *, url: str | None = None, queries_dir: str | None = None
) -> SqlArchive:
    """Read the query files and connect, retrying connection faults for a while.

    The arguments override `archive.url` and `archive.queries_dir`. Raises
    ConfigError for a bad URL or query file, ArchiveError when the database stays
    unavailable for `archive.retry_seconds`.
    """
    settings = config.archive
    directory = queries_dir if queries_dir is not None else settings.queries_dir
    queries = load_queries(config.path(directory) if directory else SHIPPED_QUERIES)
    target = _target(config, config.expand(url if url is not None else settings.url))
    connection = _connect(target, settings.retry_seconds)
    return SqlArchive(connection, queries, target.url)


def _target(config: Config, url: str) -> _Target:
    if url.startswith("sqlite:"):
        return _sqlite_target(url)
    if url.startswith("oracle:"):
        return _oracle_target(config, url)
    raise ConfigError(f"archive.url must start with sqlite:// or oracle://, not {url!r}")


def _sqlite_target(url: str) -> _Target:
    """`sqlite:///abs/path`; also `sqlite:////abs/path`, which `{data_dir}` expands to."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"archive.url must be sqlite:///ABSOLUTE/PATH, not {url!r}")
    rest = url[len(prefix) :]
    path = Path(rest if rest.startswith(("/", "~")) else "/" + rest).expanduser()
    return _Target(f"sqlite://{path}", lambda: _SqliteConnection(path))


def _oracle_target(config: Config, url: str) -> _Target:
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
    return _Target(shown, lambda: _OracleConnection(params, settings.connect_timeout,
                                                    settings.query_timeout))


def _connect(target: _Target, retry_seconds: float) -> _Connection:
    """Connect, retrying transient faults; the last one becomes an ArchiveError."""
    retry = ConnectRetry(f"archive database {target.url}", retry_seconds, _transient)
    try:
        return retry(target.connect)
    except (sqlite3.Error, oracledb.Error, OSError) as exc:
        raise ArchiveError(f"{target.url}: {_one_line(exc)} ({retry.summary})") from exc


def _transient(exc: BaseException) -> bool:
    """A fault a later attempt may not meet: network, listener, database starting up."""
    if isinstance(exc, oracledb.Error):
        code = getattr(exc.args[0], "full_code", "") if exc.args else ""
        return isinstance(exc, oracledb.OperationalError) and code not in _PERMANENT_ORACLE
    # socket.gaierror and TimeoutError (our connect bound) are OSErrors; a missing
    # SQLite file may be a volume not mounted yet.
    return isinstance(exc, OSError | socket.gaierror | sqlite3.OperationalError)


# oracledb puts a fresh random id into every connect error: noise in a one-line message.
_CONNECTION_ID = re.compile(r"\s*\(CONNECTION_ID=[^)]*\)")


def _one_line(exc: BaseException) -> str:
    text = " ".join(_CONNECTION_ID.sub("", str(exc)).split())
    if isinstance(exc, TimeoutError) and not text:
        return "no answer (connect timed out)"
    return text or type(exc).__name__
