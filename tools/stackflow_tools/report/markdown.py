"""The report as GitHub-flavoured Markdown: what a GitHub Actions job summary shows.

Verdict first, then the versions, a compact timeline (one row per state, however often
it ran) and the traffic steps; error counts per version when the metrics were read. A
multi-function release has a table of its functions (versions, status, rollback, steps)
instead of the one alias's versions and traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stackflow_tools.report.model import FunctionOutcome, Report, VersionLine
from stackflow_tools.report.text import (
    OUTCOME_MARKS,
    duration,
    elapsed,
    function_versions,
    percent,
    schema_text,
    since_start,
    state_groups,
    step_runs,
    utc,
    versions_text,
)


def render_markdown(report: Report) -> str:
    """The whole summary, ending with a newline."""
    if report.functions:
        parts = [_verdict(report), _facts(report), _functions(report), _timeline(report)]
    else:
        parts = [_verdict(report), _facts(report), _versions(report), _timeline(report),
                 _traffic(report), _smoke(report)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _verdict(report: Report) -> str:
    verdict = report.verdict
    mark = OUTCOME_MARKS.get(verdict.outcome, "")
    lines = [f"### {mark} {cell(verdict.headline)}".replace("###  ", "### ")]
    if verdict.error:
        lines.append(f"**{cell(verdict.error)}**: {cell(verdict.cause or '')}".rstrip(": "))
    return "\n\n".join(lines)


def _facts(report: Report) -> str:
    versions = "per function, below" if report.functions else versions_text(report)
    rows = [("execution", f"`{report.name}`"),
            ("status", f"{report.status}, {duration(report.seconds)} from "
                       f"{utc(report.started_at)}"),
            ("versions", versions),
            ("strategy", report.strategy or "-")]
    if report.commit:
        rows.append(("commit", f"`{cell(report.commit)}`"))
    rows.append(("migrations", _migrations_text(report)))
    return table(("", ""), rows, align="--")


def _migrations_text(report: Report) -> str:
    migrations = report.migrations
    if not migrations.enabled:
        return "not run"
    applied = ", ".join(str(m.version) for m in migrations.applied) or "none"
    text = (f"applied {applied}; schema {schema_text(migrations.before)} → "
            f"{schema_text(migrations.after)}")
    hint = migrations.rollback or {}
    if hint.get("needed") and hint.get("command"):
        text += f"; to revert: `{cell(str(hint['command']))}`"
    return text


def _versions(report: Report) -> str:
    if not report.versions:
        return ""
    read = report.metrics_note is None
    header = ("version", "role", "requests", "errors") if read else ("version", "role")
    rows = [_version_row(line, read) for line in report.versions]
    # Without metrics (the job summary reads none) the columns are left out, unexplained.
    return "**Versions**\n\n" + table(header, rows, align="--rr"[:len(header)])


def _version_row(line: VersionLine, read: bool) -> tuple[str, ...]:
    if not read:
        return (line.version, line.role)
    rate = line.errors / line.invocations if line.invocations else None
    return (line.version, line.role, f"{line.invocations:g}",
            f"{line.errors:g} ({percent(rate)})")


def _functions(report: Report) -> str:
    rows = [_function_row(outcome) for outcome in report.functions]
    return "**Functions**\n\n" + table(
        ("function", "versions", "status", "rollback", "steps"), rows, align="-----")


def _function_row(outcome: FunctionOutcome) -> tuple[str, ...]:
    # The error type only, as in the timeline: the function's record has the message.
    steps = ", ".join(run.label if run.outcome != "failed" else
                      f"**{run.label} failed**" + (f" ({cell(run.error.split(':', 1)[0])})"
                                                   if run.error else "")
                      for run in step_runs(outcome.steps))
    return (f"`{cell(outcome.function)}:{cell(outcome.alias)}`", function_versions(outcome),
            outcome.status or "-", outcome.rollback or "-", steps or "-")


def _timeline(report: Report) -> str:
    rows = []
    for group in state_groups(report.states):
        # The error type only: the verdict above has the whole message.
        result = "ok" if group.error is None else \
            f"**failed**: {cell(group.error.split(':', 1)[0])}"
        if group.error is None and group.seconds is None:
            result = "running"
        runs = str(group.runs) + (f" ({group.attempts} attempts)"
                                  if group.attempts > group.runs else "")
        rows.append((group.name, runs, elapsed(since_start(report, group.first_start)),
                     duration(group.seconds), result))
    return "**Timeline**\n\n" + table(("state", "runs", "start", "time", "result"), rows,
                                      align="-rrr-")


def _traffic(report: Report) -> str:
    if not report.traffic:
        return "**Traffic**: the alias never moved."
    previous, new = report.previous_version or "?", report.new_version or "?"
    rows = [("+0:00", "start", "100%", "0%")]
    rows += [(elapsed(since_start(report, step.at)), step.label, percent(1 - step.weight),
              percent(step.weight)) for step in report.traffic]
    return "**Traffic**\n\n" + table(("at", "step", f"v{previous} (previous)",
                                      f"v{new} (new)"), rows, align="--rr")


def _smoke(report: Report) -> str:
    if not report.smoke:
        return ""
    passed = sum(1 for case in report.smoke if case.passed)
    cases = ", ".join(f"{cell(case.name)} {'passed' if case.passed else '**failed**'} "
                      f"({case.latency_ms:.0f} ms)" for case in report.smoke)
    return f"**Smoke**: {passed} of {len(report.smoke)} passed: {cases}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, align: str) -> str:
    """A Markdown table; ``align`` has one ``-`` (left) or ``r`` (right) per column."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [_row(header), _row(rule)] + [_row(r) for r in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def cell(text: str) -> str:
    """``text`` safe inside a table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")
