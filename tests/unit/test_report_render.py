"""The release report as HTML, Markdown and a job summary, from fixed executions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from stackflow.adapters.stepfunctions import Execution, HistoryEvent
from stackflow.errors import ResourceNotFound
from stackflow_tools.report.html import render_html
from stackflow_tools.report.markdown import render_markdown
from stackflow_tools.report.model import ErrorSample, Report, ReportInputs, build_report
from stackflow_tools.report.summary import append_job_summary

from tests.support.report_samples import (
    ARN,
    CANARY_MESSAGE,
    NOW_WHILE_BAKING,
    T0,
    baking,
    promoted,
    rolled_back,
    smoke_failed,
)


def _report(sample: tuple[Execution, list[HistoryEvent]], *,
            metrics: Mapping[str, list[ErrorSample]] | None = None) -> Report:
    execution, events = sample
    return build_report(ReportInputs(execution, events, metrics=metrics, period_seconds=60,
                                     metrics_note=None if metrics else "error rates not read",
                                     now=NOW_WHILE_BAKING))


def _canary_metrics() -> dict[str, list[ErrorSample]]:
    minute = timedelta(minutes=1)
    return {"6": [ErrorSample(T0 + i * minute, 90.0, 0.0) for i in range(6)],
            "7": [ErrorSample(T0 + i * minute, 10.0, 3.0 if i >= 3 else 0.0)
                  for i in range(6)]}


# --- HTML --------------------------------------------------------------------------
def test_html_shows_the_verdict_and_one_traffic_line_per_version() -> None:
    # GIVEN a canary that rolled back, with error samples for both versions
    page = render_html(_report(rolled_back(), metrics=_canary_metrics()))
    # THEN the verdict and the error a person sees first are at the top
    assert "Rolled back" in page
    assert "StackFlowAPI:PROD rolled back to version 6" in page
    assert "CanaryUnhealthy" in page
    assert "canary unhealthy: 3 errors from version 7" in page
    # AND the traffic chart has exactly one share line per version, and an error-rate
    # series per version on the same time axis
    chart = _svg(page, "traffic")
    assert re.findall(r'<polyline class="series s\d weight" data-version="(\d+)"',
                      chart) == ["6", "7"]
    assert re.findall(r'<path class="series s\d rate" data-version="(\d+)"',
                      chart) == ["6", "7"]
    assert "rollback: 0% new" in chart
    # AND the timeline has a bar per state run, the failed check marked
    timeline = _svg(page, "timeline")
    assert timeline.count('<rect class="bar') == len(_report(rolled_back()).states)
    assert '<rect class="bar failed"' in timeline
    # AND the smoke case and the migration this release applied are listed
    assert "health" in page
    assert "add_orders_status" in page


def _svg(page: str, name: str) -> str:
    match = re.search(rf'<svg class="chart {name}".*?</svg>', page, re.DOTALL)
    assert match, f"no {name} chart"
    return match.group(0)


def test_html_is_self_contained_readable_printed_and_in_dark_mode() -> None:
    page = render_html(_report(promoted(), metrics=_canary_metrics()))
    # No script and nothing loaded from anywhere: links are the only URLs
    assert "<script" not in page.lower()
    assert not re.search(r"\ssrc\s*=", page, re.IGNORECASE)
    for loader in ("url(", "@import", "<link", "<img", "<iframe", "<object"):
        assert loader not in page
    assert re.findall(r"https?://[^\s\"'<)]+", page) == [
        "https://github.com/org/repo/actions/runs/1"] * 2  # href and its text
    # Dark mode follows the system; print turns it black on white and keeps colours
    assert "@media (prefers-color-scheme: dark)" in page
    assert "@media print" in page
    assert "print-color-adjust: exact" in page
    assert '<meta name="color-scheme" content="light dark">' in page


def test_html_escapes_what_the_release_wrote() -> None:
    # GIVEN an error message holding markup
    execution, events = rolled_back()
    hostile = Execution(**{**execution.__dict__, "cause": '{"errorMessage": "<b>x</b>"}'})
    # WHEN it is rendered
    page = render_html(build_report(ReportInputs(hostile, events)))
    # THEN it shows as text
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_html_without_metrics_says_why_there_are_no_error_rates() -> None:
    page = render_html(_report(promoted()))
    assert "error rates not read" in _svg(page, "traffic")
    assert 'class="series s0 rate"' not in page


def test_html_of_a_running_release_says_so() -> None:
    page = render_html(_report(baking()))
    assert "Running" in page
    assert "so far" in page


# --- Markdown ------------------------------------------------------------------------
def test_markdown_of_a_success_has_verdict_versions_timeline_and_traffic_steps() -> None:
    text = render_markdown(_report(promoted()))
    lines = text.splitlines()
    assert lines[0] == "### ✅ StackFlowAPI:PROD promoted to version 7 (was 6)"
    assert "| versions | 6 → 7 |" in lines
    # One row per state, however often it ran (the bake's check counts once)
    assert "| Bake | 1 | +0:11 | 5 min 00 s | ok |" in lines
    assert "| Shift | 2 | +0:10 | 2.0 s | ok |" in lines
    assert "| +0:11 | shift 1 of 2 | 90% | 10% |" in lines
    assert "| +5:14 | promote | 0% | 100% |" in lines
    assert "**Smoke**: 1 of 1 passed: health passed (120 ms)" in lines


def test_markdown_of_a_failure_leads_with_the_error_and_marks_the_failed_state() -> None:
    text = render_markdown(_report(rolled_back(), metrics=_canary_metrics()))
    lines = text.splitlines()
    assert lines[0].startswith("### ↩️ StackFlowAPI:PROD rolled back to version 6")
    assert lines[2] == f"**CanaryUnhealthy**: {CANARY_MESSAGE}"
    assert "| HealthCheck | 1 | +5:11 | 1.0 s | **failed**: CanaryUnhealthy |" in lines
    assert "| +5:13 | rollback | 100% | 0% |" in lines
    # With metrics, the requests and errors of each version
    assert "| 7 | new | 60 | 9 (15%) |" in lines
    assert "to revert: `aws lambda invoke --function-name StackFlowPatcher" in text


def test_markdown_keeps_table_cells_on_one_line() -> None:
    execution, events = smoke_failed()
    odd = Execution(**{**execution.__dict__, "error": "A|B"})
    text = render_markdown(build_report(ReportInputs(odd, events)))
    assert "A\\|B" in text


# --- the job summary -----------------------------------------------------------------
class FakeSfn:
    """The two Step Functions reads the summary makes (``collect.ExecutionReader``)."""

    def __init__(self, sample: tuple[Execution, list[HistoryEvent]]) -> None:
        self.execution, self.events = sample

    def describe_execution(self, arn: str) -> Execution:
        if arn != ARN:
            raise ResourceNotFound(f"DescribeExecution {arn}: ExecutionDoesNotExist")
        return self.execution

    def history(self, arn: str, after_id: int = 0) -> list[HistoryEvent]:
        return [e for e in self.events if e.id > after_id]


def test_the_job_summary_is_appended_for_a_success_and_a_failure(tmp_path: Path) -> None:
    # GIVEN GitHub's job summary file, already holding an earlier step's text
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    warnings: list[str] = []
    # WHEN a promoted and a rolled-back release are summarized
    for sample in (promoted(), rolled_back()):
        written = append_job_summary(FakeSfn(sample), ARN,
                                     warn=warnings.append, environ=environ)
        assert written == summary
    # THEN both summaries follow the earlier text, each with its verdict
    text = summary.read_text()
    assert text.startswith("earlier step\n### ✅ StackFlowAPI:PROD promoted to version 7")
    assert "### ↩️ StackFlowAPI:PROD rolled back to version 6" in text
    assert "**CanaryUnhealthy**" in text
    assert warnings == []


def test_no_job_summary_outside_github_actions_and_a_failed_read_only_warns(
        tmp_path: Path) -> None:
    sfn = FakeSfn(promoted())
    assert append_job_summary(sfn, ARN, warn=print, environ={}) is None
    warnings: list[str] = []
    environ = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    assert append_job_summary(sfn, ARN + "-other", warn=warnings.append,
                              environ=environ) is None
    assert len(warnings) == 1
    assert "GITHUB_STEP_SUMMARY" in warnings[0]
    assert not (tmp_path / "summary.md").exists()
