"""A check that a query file runs unchanged on Oracle (and stays portable to SQLite).

No Oracle server can run in the tests, so each statement is parsed with sqlglot in
the Oracle dialect, which is lenient (it accepts LIMIT, `FROM t AS x`, TRUE...);
the constructs Oracle lacks, or reads differently from SQLite, are refused here:

- LIMIT / OFFSET / FETCH FIRST: Oracle 11 has no LIMIT, SQLite no FETCH;
- `AS` before a table or subquery alias: Oracle refuses it (column aliases are fine);
- boolean literals TRUE/FALSE: no SQL boolean type before Oracle 23;
- `||` on anything but strings: it is concatenation, never OR, and Oracle reads a
  NULL operand as '' where SQLite makes the whole NULL;
- date literals not inside TO_DATE (a bare '2024-01-01' compares as text, and
  `DATE '...'` does not parse on SQLite), and the database's clock (SYSDATE,
  CURRENT_DATE): the release day is compared in Python, on the day of the request;
- `==`, ILIKE, GLOB, REGEXP: SQLite only;
- functions not known to behave alike on both (NVL, IFNULL, GROUP_CONCAT, ...);
- quoted identifiers in lower case: Oracle folds unquoted names to upper case.
"""

from __future__ import annotations

import itertools
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import Token, TokenType

ORACLE = sqlglot.Dialect.get_or_raise("oracle")
# Functions, by the name written, that behave alike on Oracle and on SQLite. By name
# and not only by parse tree: sqlglot reads IFNULL and NVL as COALESCE.
PORTABLE_NAMES = frozenset({"UPPER", "LOWER", "TRIM", "LENGTH", "INSTR", "SUBSTR", "REPLACE",
                            "COALESCE", "COUNT", "SUM", "MIN", "MAX", "TO_DATE"})
_DATE_TEXT = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")

# Expression types that run alike on Oracle and on SQLite (functions and operators).
PORTABLE_FUNCTIONS = (
    exp.Upper, exp.Lower, exp.Trim, exp.Length, exp.StrPosition, exp.Substring,
    exp.Replace, exp.Coalesce, exp.Count, exp.Sum, exp.Min, exp.Max, exp.Case, exp.If,
    exp.And, exp.Or, exp.StrToDate, exp.StrToTime,
)
SQLITE_ONLY = (exp.ILike, exp.Glob, exp.RegexpLike, exp.Boolean)
CLOCK = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)
# What a `||` operand may be: text, or something that yields text.
TEXT = (exp.Column, exp.Placeholder, exp.DPipe, exp.Upper, exp.Lower, exp.Trim, exp.Substring,
        exp.Replace, exp.Coalesce, exp.Case, exp.Paren)


def problems(sql: str) -> list[str]:
    """What keeps `sql` from running unchanged on Oracle; empty when nothing does."""
    try:
        tree = sqlglot.parse_one(sql, read="oracle", error_level=ErrorLevel.RAISE)
        tokens = ORACLE.tokenize(sql)
    except ParseError as exc:
        return [f"does not parse as Oracle SQL: {str(exc).splitlines()[0]}"]
    found = [*_tree_problems(tree), *_token_problems(tokens)]
    return sorted(set(found))


def _tree_problems(tree: exp.Expression) -> list[str]:
    found: list[str] = []
    for node in tree.walk():
        found += _node_problems(node)
    return found


def _node_problems(node: exp.Expression) -> list[str]:
    if isinstance(node, exp.Limit | exp.Fetch | exp.Offset):
        return ["LIMIT/OFFSET/FETCH: not on both Oracle and SQLite"]
    if isinstance(node, exp.Boolean):
        return ["boolean literal TRUE/FALSE: Oracle has no boolean type"]
    if isinstance(node, SQLITE_ONLY):
        return [f"{type(node).__name__}: SQLite only"]
    if isinstance(node, CLOCK):
        return ["the database's clock (SYSDATE, CURRENT_DATE): compare days in Python"]
    if isinstance(node, exp.DPipe):
        return _concat_problems(node)
    if (isinstance(node, exp.Literal) and node.is_string and _DATE_TEXT.match(node.this)
            and not isinstance(node.parent, exp.StrToDate | exp.StrToTime)):
        return [f"date literal {node.sql()} without TO_DATE"]
    if isinstance(node, exp.DateStrToDate | exp.Cast) and "DATE" in node.sql().upper():
        return ["a DATE literal or cast: use TO_DATE on Oracle, or compare in Python"]
    if isinstance(node, exp.Coalesce) and node.args.get("is_nvl"):
        return ["NVL: Oracle only (COALESCE runs on both)"]
    if isinstance(node, exp.Func) and not isinstance(node, PORTABLE_FUNCTIONS):
        return [f"function {node.sql_name()}: not known to run alike on Oracle and SQLite"]
    if isinstance(node, exp.Identifier) and node.quoted and node.this != node.this.upper():
        return [f'quoted identifier "{node.this}": Oracle folds names to upper case']
    return []


def _concat_problems(node: exp.DPipe) -> list[str]:
    bad = [side for side in (node.this, node.expression)
           if not isinstance(side, TEXT) and not (isinstance(side, exp.Literal) and side.is_string)]
    return [f"|| on {side.sql()}: || concatenates text (a NULL operand differs)" for side in bad]


def _token_problems(tokens: list[Token]) -> list[str]:
    found = [f"operator {t.text}: SQLite only" for t in tokens if t.text == "=="]
    found += [f"function {t.text}: not known to run alike on Oracle and SQLite"
              for t, following in itertools.pairwise(tokens)
              if following.token_type == TokenType.L_PAREN
              and t.token_type in (TokenType.VAR, TokenType.REPLACE)
              and t.text.upper() not in PORTABLE_NAMES]
    for index, token in enumerate(tokens):
        if token.token_type in (TokenType.FROM, TokenType.JOIN) or _from_list_comma(tokens, index):
            after = _after_table(tokens, index + 1)
            if after < len(tokens) and tokens[after].token_type == TokenType.ALIAS:
                name = tokens[index + 1].text
                found.append(f"AS before the alias of {name}...: Oracle refuses it")
    return found


def _after_table(tokens: list[Token], index: int) -> int:
    """The position just past a table reference (schema.table) or a parenthesised subquery."""
    if index < len(tokens) and tokens[index].token_type == TokenType.L_PAREN:
        depth = 0
        for position in range(index, len(tokens)):
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(
                tokens[position].token_type, 0)
            if depth == 0:
                return position + 1
        return len(tokens)
    while index + 2 < len(tokens) and tokens[index + 1].token_type == TokenType.DOT:
        index += 2
    return index + 1


def _from_list_comma(tokens: list[Token], index: int) -> bool:
    """A comma of `FROM a x, b y` (not of a select list or a function's arguments)."""
    if tokens[index].token_type != TokenType.COMMA:
        return False
    depth = 0
    for position in range(index - 1, -1, -1):
        kind = tokens[position].token_type
        depth += {TokenType.R_PAREN: 1, TokenType.L_PAREN: -1}.get(kind, 0)
        if depth < 0:
            return False
        if depth == 0 and kind in (TokenType.SELECT, TokenType.WHERE, TokenType.ON):
            return False
        if depth == 0 and kind == TokenType.FROM:
            return True
    return False
