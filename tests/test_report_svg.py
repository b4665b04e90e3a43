"""The stats sheet's own pieces: the SVG bar-chart writer and the duration summaries."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mailbot.report import measure, svg
from mailbot.report.charts import MAX_GROUPS, grouped
from mailbot.report.model import Group
from mailbot.report.sheet import cycle_of

NS = "{http://www.w3.org/2000/svg}"
TWO = (svg.Series("a", "#111111"), svg.Series("b", "#222222"))


def drawn(chart: svg.Chart) -> ET.Element:
    return ET.fromstring(svg.render(chart))


def rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "segment"]


def test_a_stacked_bar_is_as_tall_as_its_total_on_a_round_axis() -> None:
    root = drawn(svg.Chart("c", "t", TWO, (svg.Bar("x", (3, 1)), svg.Bar("y", (2, 0)))))
    a, b, c = rects(root)
    # axis 0..4 over 200 px: 3 -> 150, 1 -> 50, 2 -> 100; b sits on a.
    assert [float(r.attrib["height"]) for r in (a, b, c)] == [150, 50, 100]
    assert float(b.attrib["y"]) + 50 == pytest.approx(float(a.attrib["y"]))
    assert [r.attrib["data-series"] for r in (a, b, c)] == ["a", "b", "a"]  # no empty segment
    assert [g.attrib["data-total"] for g in root.iter(f"{NS}g")
            if g.get("class") == "bar"] == ["4", "2"]
    grid = next(g for g in root.iter(f"{NS}g") if g.get("class") == "grid")
    assert [t.text for t in grid.iter(f"{NS}text")] == ["0", "1", "2", "3", "4"]


def test_ticks_are_round_and_cover_the_top() -> None:
    assert svg.ticks(4, integers=True) == (4, [0, 1, 2, 3, 4])
    assert svg.ticks(7, integers=True) == (8, [0, 2, 4, 6, 8])
    assert svg.ticks(2, integers=True) == (2, [0, 1, 2])  # never half a request
    assert svg.ticks(0, integers=True) == (1, [0, 1])
    end, marks = svg.ticks(6e9, integers=False)
    assert (end, marks[1]) == (6e9, 2e9)


def test_labels_are_escaped_and_the_output_is_deterministic() -> None:
    chart = svg.Chart("c", 'A <b>&"title"', TWO, (svg.Bar("<x&y>", (1, 1)),), horizontal=True)
    text = svg.render(chart)
    root = ET.fromstring(text)  # well-formed: nothing unescaped
    assert root.find(f"{NS}title").text == 'A <b>&"title"'
    assert "<x&y>" not in text and "&lt;x&amp;y&gt;" in text
    assert svg.render(chart) == text
    assert "<script" not in text and "href" not in text


def test_a_horizontal_bar_writes_its_note_and_a_long_label_is_cut() -> None:
    label = "a very long ARC contact address@example.org"
    root = drawn(svg.Chart("c", "t", TWO, (svg.Bar(label, (1, 3), note="1 of 4 (25 %)"),),
                           horizontal=True))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "1 of 4 (25 %)" in texts and label not in texts
    assert label[:31] + "…" in texts
    (bar,) = (g for g in root.iter(f"{NS}g") if g.get("class") == "bar")
    assert bar.attrib["data-label"] == label  # the tooltip and the data keep it whole
    a, b = rects(root)
    assert float(b.attrib["width"]) == pytest.approx(3 * float(a.attrib["width"]))


def test_the_marker_sits_between_two_bars() -> None:
    bars = tuple(svg.Bar(str(n), (1, 0)) for n in range(4))
    root = drawn(svg.Chart("c", "t", TWO, bars, marker=(1, "24 h target")))
    (line,) = (e for e in root.iter(f"{NS}line") if e.get("class") == "marker")
    _, second, third, _ = rects(root)
    x = float(line.attrib["x1"])
    assert float(second.attrib["x"]) + float(second.attrib["width"]) < x
    assert x < float(third.attrib["x"])
    assert "24 h target" in [t.text for t in root.iter(f"{NS}text")]


def test_an_empty_chart_says_so() -> None:
    root = drawn(svg.Chart("c", "t", TWO, ()))
    assert root.attrib["data-bars"] == "0" and rects(root) == []
    assert "nothing in this window" in [t.text for t in root.iter(f"{NS}text")]


def test_p90_is_a_measured_value_by_nearest_rank() -> None:
    assert measure.p90([]) is None
    assert measure.p90([5.0]) == 5.0
    assert measure.p90([float(n) for n in range(1, 11)]) == 9.0  # 9 of 10 at or below
    assert measure.p90([float(n) for n in range(1, 12)]) == 10.0
    assert measure.p90([1.0, 100.0]) == 100.0


def test_histogram_bins_are_right_closed_so_the_target_itself_is_within() -> None:
    hist = measure.histogram("h", (0.0, 12.0, 48.0), (("s", [0.0, 12.0, 12.5, 24.0, 24.01,
                                                             48.0, 99.0]),), target=24.0)
    assert [(b.label, b.counts[0]) for b in hist.bins] == [
        ("≤ 12 h", 2), ("12–24 h", 2), ("24–48 h", 2), ("> 48 h", 1)]
    assert hist.marker == 1  # the target was made an edge: the marker ends "12–24 h"
    spread = measure.spread("k", "l", [24.0, 24.01], target=24.0)
    assert spread.within_target == 1


def test_bin_labels_and_durations_read_short() -> None:
    assert measure.bin_label(0, 1 / 6, first=True) == "≤ 10 min"
    assert measure.bin_label(1 / 6, 0.5, first=False) == "10–30 min"
    assert measure.bin_label(0.5, 1, first=False) == "30 min–1 h"
    assert measure.bin_label(72, None, first=False) == "> 72 h"
    assert [measure.duration_text(h) for h in (None, 0.05, 4.75, 30, 50)] == [
        "-", "3 min", "4.8 h", "30.0 h", "2.1 d"]
    assert [measure.size_text(n) for n in (0, 999, 5_800_000_000)] == ["0 B", "999 B",
                                                                       "5.8 GB"]


def test_project_cycles_and_many_contacts() -> None:
    assert [cycle_of(p) for p in ("2019.1.01234.S", "2013.A.00021.S", "bad")] == [
        "2019.1", "2013.A", "other"]
    groups = [Group(f"c{n:02d}", {"staged": 30 - n}) for n in range(MAX_GROUPS + 3)]
    kept = grouped(groups)
    assert len(kept) == MAX_GROUPS
    assert kept[-1].name == "4 others" and kept[-1].total == sum(g.total for g in groups[-4:])
    assert sum(g.total for g in kept) == sum(g.total for g in groups)
