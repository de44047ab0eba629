"""The report as one self-contained HTML page: inline CSS and SVG, no script, no fetch.

It opens from a CI artifact or a laptop's disk and works offline: nothing is loaded
from anywhere (no font, stylesheet, image or script), links are the only URLs. A
multi-function release shows a section per function (versions, status, rollback, steps)
in place of the one alias's traffic chart and smoke cases. Light
and dark follow ``prefers-color-scheme``; printed it turns black on white, keeps the
series colours and starts no section across a page break.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from html import escape
from typing import Any

from stackflow_tools.report.model import FunctionOutcome, Migrations, Report, SmokeCase
from stackflow_tools.report.svg import timeline_svg, traffic_svg
from stackflow_tools.report.text import (
    count,
    count_of,
    duration,
    elapsed,
    function_versions,
    outcome_title,
    percent,
    schema_text,
    since_start,
    state_groups,
    step_runs,
    utc,
    versions_text,
)

CSS = """
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --s0: #1f6feb; --s1: #d4640b; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700;
  --task: #8c959f; --wait: #d1d9e0;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23;
    --s0: #4493f8; --s1: #f0883e; --ok: #3fb950; --bad: #f85149; --warn: #d29922;
    --task: #6e7681; --wait: #2f363d;
  }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 24px; background: var(--bg);
  color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 4px 0 6px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
a { color: var(--s0); }
.verdict { border: 1px solid var(--line); border-left: 8px solid var(--muted);
  border-radius: 6px; padding: 12px 16px; background: var(--panel); }
.verdict.ok { border-left-color: var(--ok); }
.verdict.bad { border-left-color: var(--bad); }
.verdict.running { border-left-color: var(--warn); }
.outcome { font-weight: 700; letter-spacing: .06em; text-transform: uppercase;
  font-size: 12px; margin: 0; }
.verdict.ok .outcome { color: var(--ok); }
.verdict.bad .outcome { color: var(--bad); }
.verdict.running .outcome { color: var(--warn); }
.cause { margin: 6px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px;
  margin: 14px 0 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: auto; min-width: 60%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
th { white-space: nowrap; }
.pass { color: var(--ok); font-weight: 600; }
.fail { color: var(--bad); font-weight: 600; }
.muted, .note { color: var(--muted); }
figure { margin: 8px 0 0; }
svg.chart { width: 100%; height: auto; display: block; overflow: visible; }
svg text { fill: var(--fg); font-size: 11px; }
svg .tick, svg .marker-label, svg .empty { fill: var(--muted); }
svg .panel-title { font-weight: 600; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .marker { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 3 3; }
svg .bar.task { fill: var(--task); }
svg .bar.wait { fill: var(--wait); stroke: var(--task); stroke-width: .5; }
svg .bar.succeed { fill: var(--ok); }
svg .bar.failed, svg .bar.fail { fill: var(--bad); }
svg .series { fill: none; stroke-width: 2.5; stroke-linejoin: round; }
svg .series.s0 { stroke: var(--s0); stroke-dasharray: 7 4; }
svg .series.s1 { stroke: var(--s1); }
svg .series.rate { stroke-width: 1.5; }
svg .dot.s0 { fill: var(--s0); }
svg .dot.s1 { fill: var(--s1); }
svg .dot.bad { stroke: var(--bad); stroke-width: 2; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; margin: 4px 0 0 150px;
  color: var(--muted); }
.swatch { display: inline-block; width: 26px; height: 0; vertical-align: middle;
  margin-right: 6px; border-top: 3px solid var(--s0); }
.swatch.s0 { border-top-style: dashed; }
.swatch.s1 { border-top-color: var(--s1); }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  :root {
    --bg: #ffffff; --fg: #000000; --muted: #444c56; --line: #b6bec8; --panel: #ffffff;
    --s0: #0b4fb3; --s1: #b35300; --ok: #116329; --bad: #a40e26; --warn: #7d4e00;
    --task: #6e7781; --wait: #d0d7de;
  }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  section, figure, tr, .verdict { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 8pt;
    color: var(--muted); overflow-wrap: anywhere; }
}
"""


def render_html(report: Report) -> str:
    """The whole page."""
    versions = "" if report.functions else f" {versions_text(report)}"
    title = f"{outcome_title(report.verdict.outcome)}: {report.target}{versions} ({report.name})"
    middle: tuple[str, ...] = (_functions(report.functions), _timeline(report)) \
        if report.functions else (_traffic(report), _timeline(report), _smoke(report.smoke))
    body = "\n".join(part for part in (
        _verdict(report), *middle, _migrations(report.migrations), _footer(report)) if part)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="color-scheme" content="light dark">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _verdict(report: Report) -> str:
    verdict = report.verdict
    tone = "ok" if verdict.ok else "running" if verdict.outcome == "RUNNING" else "bad"
    error = ""
    if verdict.error:
        error = (f'<p class="cause"><code>{escape(verdict.error)}</code> '
                 f"{escape(verdict.cause or '')}</p>")
    return (f'<header class="verdict {tone}">\n'
            f'<p class="outcome">{escape(outcome_title(verdict.outcome))}</p>\n'
            f"<h1>{escape(verdict.headline)}</h1>\n{error}\n"
            f'<dl class="facts">{_facts(report)}</dl>\n</header>')


def _facts(report: Report) -> str:
    facts: list[tuple[str, str]] = [
        ("execution", f'<span class="mono">{escape(report.name)}</span> '
                      f'<span class="muted">({escape(report.status)})</span>'),
        *_target_facts(report),
        ("strategy", escape(report.strategy or "-")),
        ("started", escape(utc(report.started_at))),
        ("took", escape(duration(report.seconds) if report.ended_at
                        else f"{duration(report.seconds)} so far")),
    ]
    if report.commit:
        facts.append(("commit", f'<span class="mono">{escape(report.commit)}</span>'))
    if report.run_url:
        facts.append(("CI run", _link(report.run_url)))
    return "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)


def _target_facts(report: Report) -> list[tuple[str, str]]:
    if report.functions:
        return [("functions", escape(", ".join(f"{f.function}:{f.alias}"
                                               for f in report.functions)))]
    return [("function", escape(report.target)), ("versions", escape(versions_text(report)))]


def _link(url: str) -> str:
    if url.startswith(("https://", "http://")):
        return f'<a href="{escape(url)}">{escape(url)}</a>'
    return escape(url)


def _traffic(report: Report) -> str:
    legend = "".join(
        f'<span><span class="swatch s{i}"></span>version {escape(line.version)} '
        f"({escape(line.role)}){_errors_text(line.invocations, line.errors, report)}</span>"
        for i, line in enumerate(report.versions))
    if report.period_seconds:
        legend += (f'<span>error rate: errors ÷ requests per {report.period_seconds} s '
                   "metric period</span>")
    rows = [("+0:00", "start", "100%", "0%")] + [
        (elapsed(since_start(report, s.at)), s.label, percent(1 - s.weight),
         percent(s.weight)) for s in report.traffic]
    steps = _table(("at", "step", f"version {report.previous_version or '?'}",
                    f"version {report.new_version or '?'}"), rows, numeric={0, 2, 3})
    return (f"<section>\n<h2>Traffic and errors per version</h2>\n<figure>"
            f"{traffic_svg(report)}\n<figcaption class=\"legend\">{legend}</figcaption>"
            f"</figure>\n{steps}\n</section>")


def _errors_text(invocations: float, errors: float, report: Report) -> str:
    if report.metrics_note is not None:
        return ""
    rate = errors / invocations if invocations else None
    return (f": {count_of(errors, 'error')} of {count_of(invocations, 'request')} "
            f"({percent(rate)})")


def _timeline(report: Report) -> str:
    rows = []
    for group in state_groups(report.states):
        result = ('<span class="pass">ok</span>' if group.error is None
                  else f'<span class="fail">failed</span> {escape(group.error)}')
        if group.kind == "Fail":
            result = '<span class="fail">failed</span> (the error above)'

        if group.error is None and group.seconds is None:
            result = '<span class="muted">running</span>'
        runs = str(group.runs) + (f" ({group.attempts} attempts)"
                                  if group.attempts > group.runs else "")
        rows.append((escape(group.name), runs,
                     elapsed(since_start(report, group.first_start)),
                     duration(group.seconds), result))
    table = _table(("state", "runs", "first start", "time", "result"), rows,
                   numeric={1, 2, 3}, escaped=True)
    return (f"<section>\n<h2>Timeline</h2>\n<figure>{timeline_svg(report)}</figure>\n"
            f"{table}\n</section>")


def _functions(functions: Sequence[FunctionOutcome]) -> str:
    rows = [(f'<span class="mono">{escape(f.function)}:{escape(f.alias)}</span>',
             escape(function_versions(f)), escape(f.status or "-"),
             escape(f.rollback or "-"), _steps(f)) for f in functions]
    return ("<section>\n<h2>Functions</h2>\n"
            + _table(("function", "versions", "status", "rollback", "steps"), rows,
                     escaped=True) + "\n</section>")


def _steps(outcome: FunctionOutcome) -> str:
    runs = step_runs(outcome.steps)
    if not runs:
        return '<span class="muted">not recorded</span>'
    return ", ".join(
        f'<span class="pass">{escape(run.label)}</span>' if run.outcome != "failed" else
        f'<span class="fail">{escape(run.label)} failed</span>'
        + (f" {escape(run.error)}" if run.error else "") for run in runs)


def _smoke(cases: Sequence[SmokeCase]) -> str:
    if not cases:
        return ('<section>\n<h2>Smoke tests</h2>\n<p class="note">No smoke test ran.</p>\n'
                "</section>")
    rows = [(escape(case.name),
             '<span class="pass">passed</span>' if case.passed
             else '<span class="fail">failed</span>',
             f"{case.latency_ms:.0f} ms", escape("; ".join(case.failures)))
            for case in cases]
    return ("<section>\n<h2>Smoke tests</h2>\n"
            + _table(("case", "outcome", "latency", "failures"), rows, numeric={2},
                     escaped=True) + "\n</section>")


def _migrations(migrations: Migrations) -> str:
    if not migrations.enabled:
        return ('<section>\n<h2>Migrations</h2>\n<p class="note">Migrations were not run '
                "by this release.</p>\n</section>")
    summary = (f"<p>Schema {escape(schema_text(migrations.before))} → "
               f"{escape(schema_text(migrations.after))}: "
               f"{count(len(migrations.applied), 'migration')} applied by this release.</p>")
    applied = _table(("version", "name"), [(str(m.version), m.name)
                                          for m in migrations.applied],
                     numeric={0}) if migrations.applied else ""
    return (f"<section>\n<h2>Migrations</h2>\n{summary}\n{applied}\n"
            f"{_rollback(migrations.rollback)}\n</section>")


def _rollback(hint: Mapping[str, Any] | None) -> str:
    if hint is None:
        return ""
    if not hint.get("needed"):
        return '<p class="note">Schema rollback: not needed (this release applied none).</p>'
    parts = [f"<p><strong>Schema rollback</strong>: migrations "
             f"{escape(', '.join(str(v) for v in hint.get('applied') or []))} were applied "
             f"by this release; target {escape(str(hint.get('target')))}.</p>"]
    if hint.get("command"):
        parts.append(f"<p><code>{escape(str(hint['command']))}</code></p>")
    if hint.get("note"):
        parts.append(f'<p class="note">{escape(str(hint["note"]))}</p>')
    return "\n".join(parts)


def _footer(report: Report) -> str:
    notes = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
    made = f"built {escape(utc(report.generated_at))} " if report.generated_at else ""
    return (f"<footer>\n<p>stackflow report {made}from the execution history of "
            f'<span class="mono">{escape(report.arn)}</span>.</p>\n'
            + (f"<ul>{notes}</ul>\n" if notes else "") + "</footer>")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *,
           numeric: Collection[int] = (), escaped: bool = False) -> str:
    """A table; cells are escaped unless ``escaped`` says they are HTML already."""
    def cell(tag: str, index: int, text: str) -> str:
        css = ' class="num"' if index in numeric else ""
        return f"<{tag}{css}>{text if escaped else escape(text)}</{tag}>"

    head = "".join(cell("th", i, escape(h) if escaped else h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
