"""The shape the code keeps (design guide): small modules, functions that fit on a screen."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mailbot"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    return found


def test_no_module_over_the_limit() -> None:
    big = [f"{p.relative_to(ROOT)} ({n})" for p in _modules()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert big == []


def test_no_function_over_the_limit() -> None:
    assert [f for p in _modules() for f in _long_functions(p)] == []


def _grep(pattern: str, *exclude: str) -> list[str]:
    hits = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        if any(rel == e or rel.startswith(e + "/") for e in exclude):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                hits.append(f"{rel}:{number}: {line.strip()}")
    return hits


def test_sqlite_only_in_the_journal_and_the_archive() -> None:
    assert _grep(r"\bsqlite3\b", "journal", "archive") == []


def test_the_pure_middle_does_not_see_the_whole_config() -> None:
    middle = [p for p in ("grammar", "decide", "reply", "plan")]
    hits = [h for h in _grep(r"\bConfig\b|from mailbot\.config import|import mailbot\.config")
            if h.split("/")[0].split(".")[0] in middle]
    assert hits == []


def test_the_clock_is_passed_in() -> None:
    assert _grep(r"journal\.now\b|from mailbot\.journal import .*\bnow\b", "clock.py") == []
