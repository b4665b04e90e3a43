"""The archive adapter: runs AOG's queries for one MOUS and assembles plain `Facts`.

Any SQL that keeps a file's contract works: columns are found by name, case
insensitively (Oracle upper-cases them), and values are normalised (dates to
`datetime.date`, CHAR padding stripped, 1/0, Y/N or true/false flags).
"""

from __future__ import annotations

from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from mailbot.archive.connections import DRIVER_ERRORS, Connection, connect, fault_line, target_of
from mailbot.archive.queries import CONTRACTS, SHIPPED_QUERIES, Query, load_queries
from mailbot.config import Config
from mailbot.errors import ArchiveError, ConfigError
from mailbot.model import EntitlementRow, Facts

_TRUE = frozenset({"1", "Y", "YES", "T", "TRUE"})


class Archive(Protocol):
    """What the run loop needs from the archive."""

    def facts(self, mous: str) -> Facts: ...

    def close(self) -> None: ...


class SqlArchive:
    """The archive, queried through AOG's SQL files."""

    def __init__(self, connection: Connection, queries: dict[str, Query], url: str) -> None:
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
        except DRIVER_ERRORS as exc:
            raise ArchiveError(f"{self.url}: {query.path.name}: {fault_line(exc)}") from exc
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
    target = target_of(config, config.expand(url if url is not None else settings.url))
    connection = connect(target, settings.retry_seconds)
    return SqlArchive(connection, queries, target.url)
