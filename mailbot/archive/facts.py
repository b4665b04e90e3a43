"""The archive adapter: runs AOG's queries for one MOUS and assembles plain `Facts`.

Any SQL that keeps a file's contract works: columns are found by name, case
insensitively (Oracle upper-cases them), and values are normalised (dates to
`datetime.date`, CHAR padding stripped, 1/0, Y/N or true/false flags).

What the rows say is read so that it fails closed, whatever the query: a NULL
calibrator flag is "science", a field is a calibrator only when all its rows
say so, any delivery without a release date keeps the MOUS proprietary, and
states that disagree are no state at all.
"""

from __future__ import annotations

from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from mailbot.archive.connections import Connection, connect, driver_errors, fault_line, target_of
from mailbot.archive.queries import CONTRACTS, SHIPPED_QUERIES, Query, load_queries
from mailbot.config import Config
from mailbot.errors import ArchiveError, ConfigError
from mailbot.model import EntitlementRow, Facts, FieldRow, ReleaseRow

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

    @property
    def queries(self) -> dict[str, Query]:
        """The query files in use, by fact (what `mailbot explain` names)."""
        return dict(self._queries)

    def facts(self, mous: str) -> Facts:
        """Everything the decision needs to know about one MOUS (URI form)."""
        entitlement = self._records("entitlement", mous)
        state = self._records("mous_state", mous)
        qa0 = self._records("qa0_pass", mous)
        field_rows = tuple(
            FieldRow(_text(r["field_name"]), _flag(r["is_calibrator"]),
                     None if r.get("intents") is None else str(r["intents"]))
            for r in self._records("fields", mous)
            if _text(r["field_name"])
        )
        release_rows = tuple(
            ReleaseRow(_text(r.get("delivery")), self._date(r["release_date"]))
            for r in self._records("release", mous)
        )
        return Facts(
            entitlement=tuple(
                EntitlementRow(project_code=_text(r["project_code"]), role=_text(r["role"]),
                               email=_text(r["email"]))
                for r in entitlement
            ),
            state=_one_state(state),
            qa0_pass=_int(qa0[0]["n"]) if qa0 else 0,
            fields=calibrator_flags(field_rows),
            release_date=public_from(release_rows),
            field_rows=field_rows,
            release_rows=release_rows,
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
        except driver_errors() as exc:
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


def calibrator_flags(rows: tuple[FieldRow, ...]) -> tuple[tuple[str, bool], ...]:
    """One (field, is_calibrator) per field, in first-seen order.

    A field on several rows (one per intent set, EB, ...) is a calibrator only when
    every one of its rows says so: one row that does not is enough to make its data
    proprietary science data.
    """
    flags: dict[str, bool] = {}
    for row in rows:
        flags[row.name] = flags.get(row.name, True) and row.is_calibrator
    return tuple(flags.items())


def public_from(rows: tuple[ReleaseRow, ...]) -> date | None:
    """The day the MOUS's data is public: the latest release date of its deliveries.

    None (never public) when there is no delivery, or when any delivery has no date
    yet: a redelivery whose date is still to be set must not be outvoted by an old one.
    """
    dates = [row.release_date for row in rows]
    if not dates or any(d is None for d in dates):
        return None
    return max(d for d in dates if d is not None)


def _one_state(rows: list[dict[str, Any]]) -> str | None:
    """The MOUS's state; None (unknown, so not delivered) when the rows disagree or are blank."""
    states = {_text(r["state"]) for r in rows}
    if len(states) != 1:
        return None
    return states.pop() or None


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
