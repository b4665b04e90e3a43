"""The page's Jinja2 template (autoescaped): kept in a module, so it ships with the code."""

TEMPLATE = """\
{% macro legend(key) %}
<ul class="legend">
{% for s in legends[key] %}
  <li><span class="swatch" style="background:{{ s.color }}"></span>{{ s.label }}</li>
{% endfor %}
</ul>
{% endmacro %}
{% macro table(name, open=False) %}
{% set t = tables[name] %}
{% if open %}<div class="scroll">{% else %}<details><summary>the numbers</summary>
<div class="scroll">{% endif %}
<table id="table-{{ t.name }}">
<thead><tr>{% for c in t.columns %}<th class="{{ c.kind }}">{{ c.label }}</th>{% endfor %}</tr>
</thead>
<tbody>
{% for row in t.rows %}
<tr>{% for c in t.columns %}<td class="{{ c.kind }}">{{ row[loop.index0] | cell(c.kind) }}</td>
{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
</div>{% if not open %}</details>{% endif %}
{% endmacro %}
{% macro chart(key) %}
<figure class="chart-box">
{% if key in legends %}{{ legend(key) }}{% endif %}
<div class="scroll">{{ charts[key] | safe }}</div>
</figure>
{% endmacro %}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mailbot report">
<title>Calibrated MS requests: stats sheet, {{ window }}</title>
<style>
:root { color-scheme: light; --ink: #222; --muted: #555; --rule: #ddd; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 16px; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; border-bottom: 1px solid var(--rule); }
.window, .note, footer { color: var(--muted); font-size: .9em; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 8px; margin: 16px 0; padding: 0; }
.figures div { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 10px; }
.figures dt { color: var(--muted); font-size: .85em; }
.figures dd { margin: 2px 0 0; font-size: 1.25em; font-weight: 600; }
figure { margin: 8px 0; }
.scroll { overflow-x: auto; }
svg.chart { display: block; width: 100%; min-width: 540px; height: auto; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 0;
  margin: 0 0 6px; font-size: .85em; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border-radius: 2px; vertical-align: -1px; }
table { border-collapse: collapse; font-size: .88em; margin: 6px 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--rule); text-align: left;
  white-space: nowrap; }
td.count, td.hours, td.bytes, td.percent, th.count, th.hours, th.bytes, th.percent {
  text-align: right; font-variant-numeric: tabular-nums; }
summary { cursor: pointer; color: var(--muted); font-size: .9em; }
@media (max-width: 600px) { body { padding: 10px; font-size: 14px; } }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  section { break-inside: avoid; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  svg.chart { min-width: 0; }
  details { display: none; }
  /* Paper does not scroll: long tables wrap instead. */
  .scroll { overflow: visible; }
  table { font-size: 8pt; }
  th, td { white-space: normal; overflow-wrap: break-word; padding: 2px 4px; }
}
</style>
</head>
<body>
<header>
<h1>Calibrated MS requests: stats sheet</h1>
<p class="window">{{ window }}; made {{ generated }} UTC from the mailbot journal.
Months are those of receipt at aog@ (UTC).</p>
</header>
<dl class="figures" id="figures">
{% for what, value in figures %}
<div><dt>{{ what }}</dt><dd>{{ value }}</dd></div>
{% endfor %}
</dl>

<section id="months">
<h2>Requests per month, by outcome</h2>
{{ chart("chart-months") }}
{{ table("months") }}
</section>

<section id="turnaround">
<h2>Turnaround against the advertised {{ target }} h</h2>
{{ table("turnaround", open=True) }}
<p class="note">From receipt at aog@ to the verdict (recorded with the request), and to
the user's mail leaving: the verdict reply of a rejection, the completion mail of a
staging. The 90th percentile is a measured value: 90 % took as long or less.</p>
{{ chart("chart-turnaround") }}
{{ table("turnaround-histogram") }}
</section>

<section id="staging">
<h2>Staging durations and volume</h2>
{{ chart("chart-staging") }}
{{ table("staging-histogram") }}
{{ chart("chart-volume") }}
{{ table("volume") }}
</section>

<section id="shares">
<h2>Reuse and calibrator-only requests</h2>
<p class="note">A staging that finds an MS staged in the last days hard-links it instead of
regenerating it; a calibrator-only request stages only the calibrator fields.</p>
{{ chart("chart-shares") }}
{{ table("shares") }}
</section>

<section id="contacts">
<h2>Requests by ARC contact</h2>
{{ chart("chart-contacts") }}
{{ table("by-contact") }}
</section>

<section id="cycles">
<h2>Requests by project cycle</h2>
<p class="note">The cycle part of the project code: 2019.1 is the 2019 call, A and B are
Director's Discretionary Time.</p>
{{ chart("chart-cycles") }}
{{ table("by-cycle") }}
</section>

<section id="open">
<h2>Open requests, oldest first</h2>
{% if sheet.open %}{{ table("open", open=True) }}{% else %}<p>None.</p>{% endif %}
</section>

<section id="failed">
<h2>Failed stagings not retried, oldest first</h2>
{% if sheet.failed %}{{ table("failed", open=True) }}
<p class="note"><code>mailbot retry JOB</code> queues a new attempt.</p>
{% else %}<p>None.</p>{% endif %}
</section>

<footer>
<p>Every number above is in the CSV files of <code>mailbot report --csv FILE</code>.</p>
</footer>
</body>
</html>
"""
