"""The stats sheet opened in headless Chromium (Debian's, which scripts/test installs).

The page must load from a file with no request beyond itself and nothing on the
console, draw every chart as a non-empty SVG with the bars the numbers call for,
fit a phone's width (charts scroll inside their boxes) and print. A page that
does fetch or log is caught by the same checks, so a pass means something.

The screenshot is kept beside the test's files; with MAILBOT_REPORT_SCREENSHOT=PATH
it is also written there (docs/report.png is made so).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from mailbot import config as cfg
from mailbot import report
from mailbot.journal import Journal
from tests.report_fixture import BARS, NOW, fill
from tests.servers.chromium import Browser, running_chromium

CHARTS = """JSON.stringify([...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const painted = [...svg.querySelectorAll('rect.segment')].filter(r => {
    const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
  return {id: svg.id, width: box.width, height: box.height,
          bars: svg.querySelectorAll('g.bar').length,
          segments: svg.querySelectorAll('rect.segment').length, painted: painted.length,
          shown: getComputedStyle(svg).display !== 'none'};
}))"""
WIDTH = 1000


def problems(browser: Browser, url: str) -> dict[str, list[Any]]:
    """What the page did that a self-contained page must not: fetch, or log errors."""
    return {
        "requests": [e["request"]["url"] for e in browser.of("Network.requestWillBeSent")
                     if e["request"]["url"] != url],
        "console": [e["args"] for e in browser.of("Runtime.consoleAPICalled")
                    if e["type"] in ("error", "assert", "warning")],
        "exceptions": [e["exceptionDetails"] for e in browser.of("Runtime.exceptionThrown")],
        "log": [e["entry"] for e in browser.of("Log.entryAdded")
                if e["entry"]["level"] in ("error", "warning")],
    }


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def page(tmp_path: Path) -> Path:
    config = cfg.Config()
    journal = Journal(fill(tmp_path / "journal.sqlite"))
    try:
        sheet = report.gather(journal, window=report.Window(), now=NOW, target_hours=24,
                              verdict_line=config.verdict_line)
    finally:
        journal.close()
    return report.write_html(sheet, tmp_path / "report.html")


def test_the_sheet_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    url = page.as_uri()
    with running_chromium(tmp_path / "profile") as browser:
        browser.open(url)
        charts = {c["id"]: c for c in json.loads(browser.evaluate(CHARTS))}
        shot = tmp_path / "report.png"
        browser.screenshot(shot, WIDTH)
        browser.page("Emulation.setDeviceMetricsOverride",
                     {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        phone = browser.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        pdf = base64.b64decode(browser.page("Page.printToPDF", {})["data"])
        seen = problems(browser, url)
    assert seen == {"requests": [], "console": [], "exceptions": [], "log": []}
    assert {k: c["bars"] for k, c in charts.items()} == BARS
    for chart in charts.values():
        assert chart["shown"] and chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["segments"] > 0 and chart["painted"] == chart["segments"], chart
    width, height = png_size(shot.read_bytes())
    assert width == WIDTH and height > 2000  # the whole page, not one screen
    assert phone[0] <= phone[1], "the page is wider than a phone: charts must scroll inside"
    assert pdf.startswith(b"%PDF-")
    keep = os.environ.get("MAILBOT_REPORT_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(shot.read_bytes())


def test_a_page_that_fetches_or_logs_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    # A closed port on loopback: refused at once, so the load event is not held up.
    bad.write_text('<!doctype html><title>bad</title><img src="http://127.0.0.1:9/x.png">'
                   '<script>console.error("drawn wrong")</script>', encoding="utf-8")
    with running_chromium(tmp_path / "profile") as browser:
        browser.open(bad.as_uri())
        seen = problems(browser, bad.as_uri())
    assert seen["requests"] == ["http://127.0.0.1:9/x.png"]
    assert [[a.get("value") for a in args] for args in seen["console"]] == [["drawn wrong"]]
