"""`mailbot report`: the stats sheet of the procedure page, from the journal.

How many requests, how they ended, how long users waited, how much was
staged, what reuse and calibrator-only requests save, who asks for what:
`gather` reads one window of receipt from the journal into a `Sheet`
(`sheet.py`, pure), which is written as text for the cron mail (`text.py`),
as one self-contained HTML page with inline SVG charts (`page.py`, `svg.py`)
and as one CSV file per table (`tables.py`), all with the same numbers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from mailbot.journal import Journal
from mailbot.report.model import Sheet
from mailbot.report.page import html
from mailbot.report.sheet import Window, build
from mailbot.report.tables import Table, csv_cell, tables
from mailbot.report.text import text

__all__ = ["Sheet", "Window", "csv_paths", "gather", "html", "text", "write_csv", "write_html"]


def gather(journal: Journal | None, *, window: Window, now: datetime, target_hours: float,
           verdict_line: Callable[[str], str]) -> Sheet:
    """The sheet of the requests and malformed mails received in the window (none without
    a journal: an empty sheet)."""
    since = None if window.since is None else datetime.combine(window.since, time(), UTC)
    until = None if window.until is None else datetime.combine(
        window.until + timedelta(days=1), time(), UTC)
    requests = [] if journal is None else journal.request_facts(since, until)
    malformed = [] if journal is None else journal.malformed_facts(since, until)
    return build(requests, malformed, window=window, now=now, target_hours=target_hours,
                 verdict_line=verdict_line)


def write_html(sheet: Sheet, path: Path) -> Path:
    _replace(path, html(sheet))
    return path


def csv_paths(path: Path, names: list[str]) -> dict[str, Path]:
    """`stats.csv` -> `stats-months.csv`, `stats-turnaround.csv`, ...: one file per table."""
    stem = path.name.removesuffix(".csv")
    return {name: path.with_name(f"{stem}-{name}.csv") for name in names}


def write_csv(sheet: Sheet, path: Path) -> list[Path]:
    """Every table of the sheet as its own CSV file named after `path`; the files written."""
    found = tables(sheet)
    paths = csv_paths(path, [t.name for t in found])
    for table in found:
        _replace(paths[table.name], _csv(table), encoding="utf-8-sig")
    return list(paths.values())


def _csv(table: Table) -> str:
    # utf-8-sig: spreadsheets take a CSV for UTF-8 only with the byte order mark.
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    return out.getvalue()


def _replace(path: Path, content: str, encoding: str = "utf-8") -> None:
    """Write beside and rename: a reader (a web server, a mail job) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(content, encoding=encoding)
        tmp.replace(path)
    except OSError as exc:
        # Name the file asked for, not the temporary one beside it.
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        with contextlib.suppress(OSError):  # gone, or never made
            tmp.unlink()
