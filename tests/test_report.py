"""The stats sheet's numbers, worked out by hand from tests/report_fixture.py, in every form:
the sheet itself, the HTML page (tables, figures and the charts' bars), the CSV files and
the text of the cron mail.

The fixture, hours after receipt (verdicts always after 3 min):
  2024-01  R1 DE staged (run 2 h, mail 3 h, 5 GB, 0 of 2 MSs reused)
           R2 NL calibrator-only, staged (waited 1 h, run 20 h, mail 30 h, 1 GB, 1 of 1 reused)
           R3 DE NOT ENTITLED (reply 6 min)   R4 UK CYCLE 0 (reply 6 min)   M1 DE malformed
  2024-02  nothing
  2024-03  R5 DE failed once (30 min), retried and staged (run 1 h, mail 6.5 h, 2 GB)
           R6 NL failed (run 1 h), not retried   R7 UK INVALID MOUS (reply 12 min)
           R8 DE DUPLICATE, reply held           M2 UK malformed, M3 UK malformed (held)
  2024-04  R9 DE calibrator-only, running   R10 NL waiting   R11 UK NOT DELIVERED (30 min)
           R12 DE cancelled   R13 NL staged by reuse (run 6 min, 2 of 2 reused, mail 15 min)
           R14 UK PROJECT MISMATCH, R15 DE NO QA0_PASS, R16 NL calibrator-only
           UNKNOWN CALFIELD (replies 6 min)
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot import report
from mailbot.journal import Journal, RequestFacts
from mailbot.report.model import Sheet
from mailbot.states import RequestState
from tests.report_fixture import BARS, DE, NL, NOW, UK, fill

CONFIG = cfg.Config()
OUTCOMES = ["staged", "staging", "failed", "cancelled", "CYCLE_0", "INVALID_MOUS",
            "PROJECT_MISMATCH", "NO_QA0_PASS", "UNKNOWN_CALFIELD", "NOT_ENTITLED",
            "NOT_DELIVERED", "DUPLICATE", "malformed"]
# month: requests, outcomes in OUTCOMES order, failed attempts, median h, bytes
MONTHS = {
    "2024-01": (4, [2, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1], 0, 16.5, 6_000_000_000),
    "2024-02": (0, [0] * 13, 0, None, 0),
    "2024-03": (4, [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2], 2, 6.5, 2_000_000_000),
    "2024-04": (8, [1, 2, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0], 0, 0.25, 0),
}
# measure: count, median, p90, max (hours), within 24 h
SPREADS = {
    "verdict": (16, 0.05, 0.05, 0.05, 16),
    "reply": (7, 0.1, 0.5, 0.5, 7),
    "completion": (4, 4.75, 30.0, 30.0, 3),
    "wait": (7, 0.05, 1.0, 1.0, None),
    "staging": (4, 1.5, 20.0, 20.0, None),
}
SHARES = {"completion_within_target": (3, 4), "reuse": (2, 4), "reused_ms": (3, 6),
          "calibrator_only": (3, 16), "calibrator_only_staged": (1, 4)}
# per bin: (completion mails, verdict replies); the 24 h marker after bin 5 ("12–24 h")
MAIL_BINS = [("≤ 1 h", 1, 7), ("1–2 h", 0, 0), ("2–4 h", 1, 0), ("4–8 h", 1, 0),
             ("8–12 h", 0, 0), ("12–24 h", 0, 0), ("24–48 h", 1, 0), ("48–72 h", 0, 0),
             ("> 72 h", 0, 0)]
STAGING_BINS = [("≤ 10 min", 1, 0), ("10–30 min", 0, 1), ("30 min–1 h", 1, 1),
                ("1–2 h", 1, 0), ("2–4 h", 0, 0), ("4–8 h", 0, 0), ("8–16 h", 0, 0),
                ("16–24 h", 1, 0), ("> 24 h", 0, 0)]
CONTACTS = {DE: {"staged": 2, "staging": 1, "cancelled": 1, "NO_QA0_PASS": 1,
                 "NOT_ENTITLED": 1, "DUPLICATE": 1, "malformed": 1},
            UK: {"CYCLE_0": 1, "INVALID_MOUS": 1, "PROJECT_MISMATCH": 1, "NOT_DELIVERED": 1,
                 "malformed": 2},
            NL: {"staged": 2, "staging": 1, "failed": 1, "UNKNOWN_CALFIELD": 1}}
CYCLES = {"2011.0": 1, "2018.1": 2, "2019.1": 4, "2019.A": 1, "2021.1": 2, "2022.1": 3,
          "2023.1": 3}
OPEN = [(8, "its mail to the user is queued or held for review", 746.0),
        (9, "staging since 2024-04-02 09:06 UTC", 243.0),
        (10, "waiting for a staging slot (attempt 1)", 219.0)]


def sheet_of(path: Path, window: report.Window | None = None) -> Sheet:
    journal = Journal(path)
    try:
        return report.gather(journal, window=window or report.Window(), now=NOW,
                             target_hours=24, verdict_line=CONFIG.verdict_line)
    finally:
        journal.close()


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill(tmp_path_factory.mktemp("report") / "journal.sqlite")


@pytest.fixture(scope="module")
def sheet(journal_path: Path) -> Sheet:
    return sheet_of(journal_path)


# --- the sheet ---------------------------------------------------------------------------

def test_months_count_each_outcome(sheet: Sheet) -> None:
    assert [o.key for o in sheet.outcomes] == OUTCOMES
    got = {m.month: (m.requests, [m.outcomes.get(k, 0) for k in OUTCOMES], m.failed_attempts,
                     m.median_hours, m.bytes_staged) for m in sheet.months}
    assert got == MONTHS
    assert [m.staged for m in sheet.months] == [2, 0, 1, 1]
    assert [m.malformed for m in sheet.months] == [1, 0, 2, 0]


def test_turnaround_and_staging_times(sheet: Sheet) -> None:
    got = {s.key: (s.count, s.median, s.p90, s.max, s.within_target) for s in sheet.spreads}
    assert got.keys() == SPREADS.keys()
    for key, values in SPREADS.items():
        assert got[key] == pytest.approx(values), key


def test_histograms_put_each_duration_in_its_bin(sheet: Sheet) -> None:
    mail = sheet.mail_histogram
    assert [(b.label, *b.counts) for b in mail.bins] == MAIL_BINS
    assert mail.series == ("completion mail", "verdict reply")
    assert mail.marker == 5 and mail.bins[5].high == 24
    assert [(b.label, *b.counts) for b in sheet.staging_histogram.bins] == STAGING_BINS


def test_shares_of_reuse_and_calibrator_only(sheet: Sheet) -> None:
    assert {s.key: (s.part, s.whole) for s in sheet.shares} == SHARES


def test_requests_by_contact_and_cycle(sheet: Sheet) -> None:
    assert [(g.name, dict(g.outcomes)) for g in sheet.by_contact] == [
        (DE, CONTACTS[DE]), (UK, CONTACTS[UK]), (NL, CONTACTS[NL])]  # most first
    assert {g.name: g.total for g in sheet.by_cycle} == CYCLES
    assert [g.name for g in sheet.by_cycle] == sorted(CYCLES)


def test_open_requests_and_failed_stagings_oldest_first(sheet: Sheet) -> None:
    assert [(o.request, o.status, o.age_hours) for o in sheet.open] == OPEN
    (failed,) = sheet.failed
    assert (failed.request, failed.attempt, failed.problem) == (
        6, 1, "stagecalms exited with status 1")


def test_a_window_of_receipt_selects_whole_requests(journal_path: Path) -> None:
    march = sheet_of(journal_path, report.Window(since=date(2024, 3, 1),
                                                 until=date(2024, 3, 31)))
    assert [m.month for m in march.months] == ["2024-03"]
    assert [line.request for line in march.requests] == [5, 6, 7, 8]
    assert march.malformed == 2 and [o.request for o in march.open] == [8]
    assert march.spread("completion").count == 1
    # From a day on: the months up to the last request, none after.
    late = sheet_of(journal_path, report.Window(since=date(2024, 4, 6)))
    assert [line.request for line in late.requests] == [13, 14, 15, 16]
    assert [m.month for m in late.months] == ["2024-04"]
    empty = sheet_of(journal_path, report.Window(until=date(2023, 12, 31)))
    assert empty.requests == () and empty.months == ()


# --- the page ----------------------------------------------------------------------------

class _Page(HTMLParser):
    """The page's tables by id (rows of cell texts) and its headline figures."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.figures: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "table":
            self._table = dict(attrs)["id"]
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th", "dt", "dd"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
        elif tag == "dt" and self._cell is not None:
            self._figure = " ".join("".join(self._cell).split())
        elif tag == "dd" and self._cell is not None:
            self.figures[self._figure] = " ".join("".join(self._cell).split())
        if tag in ("td", "th", "dt", "dd"):
            self._cell = None
        elif tag == "table":
            self._table = None


def charts(html: str) -> dict[str, ET.Element]:
    """Each inline SVG, parsed as the XML it must be."""
    found = {}
    for svg in re.findall(r"<svg .*?</svg>", html, re.DOTALL):
        root = ET.fromstring(svg)
        found[root.attrib["id"]] = root
    return found


def bars(chart: ET.Element) -> Iterator[ET.Element]:
    return (g for g in chart.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "bar")


def segments(bar: ET.Element) -> dict[str, float]:
    return {r.attrib["data-series"]: float(r.attrib["data-value"])
            for r in bar.iter("{http://www.w3.org/2000/svg}rect")}


@pytest.fixture(scope="module")
def page(sheet: Sheet) -> str:
    return report.html(sheet)


def test_the_page_shows_the_headline_figures(page: str) -> None:
    parsed = _Page()
    parsed.feed(page)
    assert parsed.figures == {
        "requests": "16 + 3 malformed", "staged": "4",
        "completion mail within 24 h": "75 % (3 of 4)",
        "median receipt → completion mail": "4.8 h", "90th percentile": "30.0 h",
        "volume staged": "8.0 GB", "stagings reusing earlier MSs": "50 % (2 of 4)",
        "calibrator-only requests": "19 % (3 of 16)", "open requests": "3",
        "failed stagings not retried": "1"}


def test_the_page_tables_hold_the_numbers(page: str) -> None:
    parsed = _Page()
    parsed.feed(page)
    months = parsed.tables["table-months"]
    assert months[0][:3] == ["month", "requests", "staged"]
    assert months[1] == ["2024-01", "4", *map(str, MONTHS["2024-01"][1]), "0", "16.5 h",
                         "6.0 GB"]
    assert months[2][-2:] == ["-", "0 B"]
    turnaround = {row[0]: row[1:] for row in parsed.tables["table-turnaround"][1:]}
    assert turnaround["receipt → completion mail sent"] == ["4", "4.8 h", "30.0 h", "30.0 h",
                                                           "3"]
    assert turnaround["receipt → verdict reply sent"] == ["7", "6 min", "30 min", "30 min", "7"]
    assert [r[0] for r in parsed.tables["table-open"][1:]] == ["8", "9", "10"]
    assert parsed.tables["table-failed"][1][:3] == ["5", "1", "6"]
    contacts = {row[0]: row[1] for row in parsed.tables["table-by-contact"][1:]}
    assert contacts == {DE: "8", UK: "6", NL: "5"}
    assert "table-requests" not in parsed.tables  # hundreds of rows: in the CSV only


def test_every_chart_draws_the_numbers(page: str) -> None:
    drawn = charts(page)
    assert {k: len(list(bars(c))) for k, c in drawn.items()} == BARS
    assert {k: c.attrib["data-bars"] for k, c in drawn.items()} == {
        k: str(n) for k, n in BARS.items()}
    labels = {o.key: o.label for o in report.sheet.outcomes(CONFIG.verdict_line)}
    for bar, (month, (_, counts, _, _, _)) in zip(
            bars(drawn["chart-months"]), MONTHS.items(), strict=True):
        assert bar.attrib["data-label"] == month
        assert segments(bar) == {labels[k]: n for k, n in zip(OUTCOMES, counts, strict=True)
                                 if n}
    assert [float(b.attrib["data-total"]) for b in bars(drawn["chart-volume"])] == [
        m[4] for m in MONTHS.values()]
    assert [tuple(segments(b).get(s, 0) for s in ("completion mail", "verdict reply"))
            for b in bars(drawn["chart-turnaround"])] == [(c, v) for _, c, v in MAIL_BINS]
    assert [b.attrib["data-label"] for b in bars(drawn["chart-contacts"])] == [DE, UK, NL]
    assert [float(b.attrib["data-total"]) for b in bars(drawn["chart-cycles"])] == [
        CYCLES[c] for c in sorted(CYCLES)]
    reuse = next(b for b in bars(drawn["chart-shares"])
                 if b.attrib["data-label"] == "stagings reusing earlier MSs")
    assert segments(reuse) == {"yes": 50, "no": 50}


def test_the_page_is_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    # No URL the browser would fetch: no src/href/url(...) at all, no @import.
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", page, re.IGNORECASE)
    assert page.count("<svg ") == len(BARS)


# --- the CSV files and the text -----------------------------------------------------------

def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_the_csv_files_hold_the_rows_behind_every_chart(sheet: Sheet, tmp_path: Path) -> None:
    written = report.write_csv(sheet, tmp_path / "stats.csv")
    assert [p.name for p in written] == [f"stats-{n}.csv" for n in (
        "months", "turnaround", "turnaround-histogram", "staging-histogram", "volume",
        "shares", "by-contact", "by-cycle", "open", "failed", "requests")]
    months = read_csv(tmp_path / "stats-months.csv")
    for row, (month, (requests, counts, failed, median, volume)) in zip(
            months, MONTHS.items(), strict=True):
        assert row["month"] == month and int(row["requests"]) == requests
        assert [int(row[k]) for k in OUTCOMES] == counts
        assert int(row["failed_attempts"]) == failed and int(row["bytes_staged"]) == volume
        assert row["median_hours_to_completion"] == ("" if median is None else f"{median:.2f}")
    turnaround = {r["measure"]: r for r in read_csv(tmp_path / "stats-turnaround.csv")}
    completion = turnaround["receipt → completion mail sent"]
    assert (completion["median_h"], completion["p90_h"], completion["within_target"]) == (
        "4.75", "30.00", "3")
    histogram = read_csv(tmp_path / "stats-turnaround-histogram.csv")
    assert [(r["bin"], int(r["completion_mail"]), int(r["verdict_reply"]))
            for r in histogram] == MAIL_BINS
    shares = {r["share"]: (int(r["part"]), int(r["whole"]))
              for r in read_csv(tmp_path / "stats-shares.csv")}
    assert sorted(shares.values()) == sorted(SHARES.values())
    contacts = {r["arc_contact"]: r for r in read_csv(tmp_path / "stats-by-contact.csv")}
    assert {c: {k: int(v) for k, v in r.items() if k in OUTCOMES and v != "0"}
            for c, r in contacts.items()} == CONTACTS
    cycles = read_csv(tmp_path / "stats-by-cycle.csv")
    assert {r["cycle"]: int(r["total"]) for r in cycles} == CYCLES
    requests = read_csv(tmp_path / "stats-requests.csv")
    assert [r["outcome"] for r in requests][:4] == ["staged", "staged", "NOT_ENTITLED",
                                                    "CYCLE_0"]
    assert (requests[1]["calibrator_only"], requests[1]["reused"], requests[1]["ebs"]) == (
        "1", "1", "1")
    assert [r["request"] for r in read_csv(tmp_path / "stats-open.csv")] == ["8", "9", "10"]


def test_the_text_report_has_the_same_numbers(sheet: Sheet) -> None:
    text = report.text(sheet, CONFIG.verdicts)
    lines = text.splitlines()
    assert lines[0] == ("2024-01     4 request(s)    2 staged    0 failed attempt(s)"
                        "  median turnaround 16.5 h  6.0 GB staged")
    indent = " " * 14
    assert f"{indent}1  malformed mail(s) answered" in lines
    assert f"{indent}1  NOT ENTITLED" in lines and f"{indent}4  staged (accepted)" in lines
    assert ("2024-03     4 request(s)    1 staged    2 failed attempt(s)"
            "  median turnaround 6.5 h  2.0 GB staged") in lines
    assert ("total      16 request(s)    4 staged    2 failed attempt(s)  3 malformed"
            "  8.0 GB staged") in lines
    assert ("receipt → completion mail sent: 4, median 4.8 h, 90th percentile 30.0 h,"
            " max 30.0 h, 3 within 24 h") in lines
    assert "stagings reusing earlier MSs: 2 of 4 (50 %)" in lines
    assert "calibrator-only requests: 3 of 16 (19 %)" in lines
    assert lines[-1] == ("open requests: 3; failed stagings not retried: 1"
                         " (see `mailbot attention`)")


def test_an_empty_journal_gives_an_empty_sheet(tmp_path: Path) -> None:
    empty = sheet_of(tmp_path / "journal.sqlite")
    assert report.text(empty, CONFIG.verdicts) == "(no request yet)\n"
    assert empty.months == () and empty.spread("completion").median is None
    drawn = charts(report.html(empty))
    assert {k: len(list(bars(c))) for k, c in drawn.items()} == {
        "chart-months": 0, "chart-turnaround": 9, "chart-staging": 9, "chart-volume": 0,
        "chart-shares": 5, "chart-contacts": 0, "chart-cycles": 0}
    assert "nothing in this window" in ET.tostring(drawn["chart-months"], encoding="unicode")


def test_a_state_no_outcome_names_is_still_counted_and_drawn() -> None:
    odd = RequestFacts(
        id=1, ticket="1", mous="uid://A001/X1/X1", project="2019.1.00001.S", calfields=(),
        arc_contact=DE, received="2024-01-01T00:00:00+00:00",
        decided="2024-01-01T00:01:00+00:00", verdict="STAGE", state=RequestState.ANSWERED,
        replied=None, completed=None, mail_waiting=False, attempts=())
    odd_sheet = report.sheet.build([odd], [], window=report.Window(), now=NOW, target_hours=24,
                                   verdict_line=CONFIG.verdict_line)
    assert [(o.key, o.label) for o in odd_sheet.outcomes] == [("answered", "answered")]
    (bar,) = bars(charts(report.html(odd_sheet))["chart-months"])
    assert segments(bar) == {"answered": 1}
