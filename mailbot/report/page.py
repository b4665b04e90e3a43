"""The stats sheet as one self-contained HTML file: inline SVG and CSS, no script, no fetch.

It opens from a mail attachment or a file share with no network, prints on A4
(colours kept, sections not split) and reads on a phone (charts scroll
sideways rather than shrink their text to nothing).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from mailbot.report import svg
from mailbot.report.charts import charts
from mailbot.report.measure import duration_text, size_text
from mailbot.report.model import Share, Sheet
from mailbot.report.page_template import TEMPLATE
from mailbot.report.tables import page_cell, tables

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _template() -> jinja2.Template:
    import jinja2  # here, not above: only the HTML page needs it, not the text sheet

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = page_cell
    return env.from_string(TEMPLATE)


def window_text(sheet: Sheet) -> str:
    """Which requests the sheet counts, in words."""
    if sheet.since and sheet.until:
        return f"received from {sheet.since} to {sheet.until}"
    if sheet.since:
        return f"received since {sheet.since}"
    if sheet.until:
        return f"received until {sheet.until}"
    return "all requests in the journal"


def _share(share: Share) -> str:
    percent = share.percent
    return "-" if percent is None else f"{percent:.0f} % ({share.part} of {share.whole})"


def figures(sheet: Sheet) -> list[tuple[str, str]]:
    """The headline numbers above the charts: (what, value)."""
    completion = sheet.spread("completion")
    return [
        ("requests", f"{len(sheet.requests)}"
         + (f" + {sheet.malformed} malformed" if sheet.malformed else "")),
        ("staged", str(sheet.staged)),
        (f"completion mail within {sheet.target_hours:g} h",
         _share(sheet.share("completion_within_target"))),
        ("median receipt → completion mail", duration_text(completion.median)),
        ("90th percentile", duration_text(completion.p90)),
        ("volume staged", size_text(sheet.bytes_staged)),
        *((sheet.share(key).label, _share(sheet.share(key)))
          for key in ("reuse", "calibrator_only")),
        ("open requests", str(len(sheet.open))),
        ("failed stagings not retried", str(len(sheet.failed))),
    ]


def html(sheet: Sheet) -> str:
    """The whole page."""
    drawn = {c.key: c for c in charts(sheet)}
    return _template().render(
        sheet=sheet, window=window_text(sheet), figures=figures(sheet),
        target=f"{sheet.target_hours:g}",
        generated=sheet.generated.strftime("%Y-%m-%d %H:%M"),
        # Our own SVG, every text in it escaped by svg.render: marked safe in the template.
        charts={key: svg.render(chart) for key, chart in drawn.items()},
        legends={key: chart.series for key, chart in drawn.items() if chart.legend},
        tables={t.name: t for t in tables(sheet)},
    )
