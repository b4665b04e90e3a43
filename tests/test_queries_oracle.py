"""The shipped queries (and the alternative set) run unchanged on Oracle.

No Oracle server runs here: each statement is parsed as Oracle SQL and refused if
it uses what Oracle lacks (`tests/oracle_sql.py`); the oracledb adapter's error
path is tested against real closed and silent ports in test_archive.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.archive import SHIPPED_QUERIES, load_queries
from tests.oracle_sql import problems

ALT_QUERIES = Path(__file__).parent / "queries_alt"
QUERIES = [pytest.param(query.sql, id=f"{where}/{name}")
           for where, directory in (("shipped", SHIPPED_QUERIES), ("alternative", ALT_QUERIES))
           for name, query in load_queries(directory).items()]


@pytest.mark.parametrize("sql", QUERIES)
def test_query_runs_on_oracle(sql: str) -> None:
    assert problems(sql) == []


# Each construct the check must refuse, with a word of the reason it gives.
REFUSED = [
    ("SELECT a FROM alma.t WHERE b = :mous LIMIT 1", "LIMIT"),
    ("SELECT a FROM alma.t FETCH FIRST 1 ROWS ONLY", "FETCH"),
    ("SELECT t.a FROM alma.account AS t", "AS before the alias of alma"),
    ("SELECT x.a FROM alma.t x JOIN alma.u AS y ON y.a = x.a", "AS before the alias of alma"),
    ("SELECT s.n FROM (SELECT 1 AS n FROM alma.t) AS s", "AS before the alias of ("),
    ("SELECT a FROM alma.t x, alma.u AS y", "AS before the alias of alma"),
    ("SELECT a FROM alma.t WHERE flag = TRUE", "boolean"),
    ("SELECT a FROM alma.t WHERE x = 1 || y = 2", "||"),
    ("SELECT a || NULL FROM alma.t", "||"),
    ("SELECT a FROM alma.t WHERE release_date <= '2024-05-17'", "without TO_DATE"),
    ("SELECT a FROM alma.t WHERE release_date <= DATE '2024-05-17'", "DATE literal"),
    ("SELECT a FROM alma.t WHERE release_date <= SYSDATE", "clock"),
    ("SELECT a FROM alma.t WHERE release_date <= CURRENT_DATE", "clock"),
    ("SELECT NVL(a, 'x') FROM alma.t", "NVL"),
    ("SELECT IFNULL(a, 'x') FROM alma.t", "function"),
    ("SELECT GROUP_CONCAT(a) FROM alma.t", "function"),
    ("SELECT a FROM alma.t WHERE a == 1", "=="),
    ("SELECT a FROM alma.t WHERE a ILIKE 'x%'", "SQLite only"),
    ('SELECT a AS "state" FROM alma.t', "upper case"),
    ("SELECT FROM WHERE", "does not parse"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED, ids=[r[1] + ":" + r[0] for r in REFUSED])
def test_constructs_oracle_lacks_are_refused(sql: str, reason: str) -> None:
    found = problems(sql)
    assert any(reason in p for p in found), found


ACCEPTED = [
    "WITH m AS (SELECT a FROM alma.t) SELECT m.a AS n FROM m",
    "SELECT p.prj_code || '_' || REPLACE(:mous, '/', '_') AS name FROM alma.p p",
    "SELECT TO_DATE('2024-05-17', 'YYYY-MM-DD') AS d FROM alma.t",
    "SELECT COUNT(DISTINCT a) AS n FROM alma.t x, alma.u y WHERE x.a = y.a",
    "SELECT CASE WHEN LENGTH(TRIM(a)) > 0 THEN 1 ELSE 0 END AS \"N\" FROM alma.t",
    "SELECT a FROM alma.t WHERE UPPER(a) LIKE 'PASS%' AND INSTR(b, 'x') = 0",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_portable_constructs_pass(sql: str) -> None:
    assert problems(sql) == []
