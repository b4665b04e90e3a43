"""The archive: runs AOG's SQL files and returns plain `Facts`.

The queries are configuration, maintained by AOG (spec section 2.3): one file
per fact, with `:named` binds and a contract comment at its top. They run as
they are on Oracle (oracledb, thin mode) and on SQLite, where the archive file
is attached read-only as `alma` so that `alma.account` means the same on both.

The parts, one reason to change each:
- `queries`: reading and checking AOG's query files;
- `connections`: SQLite or Oracle, connecting with retries, which faults are transient;
- `oracle`: the oracledb connection, imported only when an Oracle URL is opened;
- `facts`: `SqlArchive`, which turns the queries' rows into `Facts`, and `open_archive`;
- `demo`: a SQLite stand-in with the real table names and demo data.
"""

from __future__ import annotations

from mailbot.archive.connections import ORACLE_DEFAULT_PORT, Rows
from mailbot.archive.facts import Archive, SqlArchive, open_archive
from mailbot.archive.queries import (
    BINDS,
    CONTRACTS,
    SHIPPED_QUERIES,
    Query,
    load_queries,
    parse_statement,
)

__all__ = [
    "BINDS",
    "CONTRACTS",
    "ORACLE_DEFAULT_PORT",
    "SHIPPED_QUERIES",
    "Archive",
    "Query",
    "Rows",
    "SqlArchive",
    "load_queries",
    "open_archive",
    "parse_statement",
]
