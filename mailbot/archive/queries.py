"""AOG's query files: one SQL statement per fact, with `:named` binds and a contract.

Each file's contract (binds in, columns out) is documented at its top; the
columns each must return are listed in `CONTRACTS`. A statement gets exactly the
binds it uses, because oracledb rejects the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mailbot.config import PACKAGE_DIR
from mailbot.errors import ConfigError

SHIPPED_QUERIES = PACKAGE_DIR / "queries"

# Each query file, the columns its contract promises (binds: only :mous).
CONTRACTS: dict[str, tuple[str, ...]] = {
    "entitlement": ("project_code", "role", "email"),
    "mous_state": ("state",),
    "qa0_pass": ("n",),
    "fields": ("field_name", "is_calibrator"),
    "release": ("release_date",),
}
# Columns a query may add for `mailbot explain` (what the checks read never depends on them).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "fields": ("intents",),
    "release": ("delivery",),
}
BINDS = frozenset({"mous"})


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
