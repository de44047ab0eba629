"""``stackflow report`` of a multi-function release: its release record, per function.

The release record (the deploy table's item) gives each function's versions, status,
rollback outcome and steps; without the table, Record's summary in ``$.record`` gives
them without steps, and while the release runs, Lock's target documents.
"""

from __future__ import annotations

import json

from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow_tools.report.collect import Sources, collect
from stackflow_tools.report.html import render_html
from stackflow_tools.report.markdown import render_markdown
from stackflow_tools.report.model import ROLLED_BACK, RUNNING, ReportInputs, build_report

from tests.support.deploy_fakes import InMemoryStore
from tests.support.report_samples import (
    NOW_WHILE_BAKING,
    RELEASE_ARN,
    WORKER,
    Recorded,
    release_baking,
    release_record,
    release_rolled_back,
)

API_ROW = "| `StackFlowAPI:PROD` | 6 → 7 | ROLLED_BACK | rolled_back |"
WORKER_ROW = f"| `{WORKER}:PROD` | 6 → 7 | ROLLED_BACK | rolled_back |"


def test_a_rolled_back_release_reports_each_function_from_its_release_record() -> None:
    # GIVEN two functions released together; the worker's canary failed, both went back
    execution, events = release_rolled_back()
    # WHEN the report is built with the release record the table holds
    report = build_report(ReportInputs(execution, events, record=release_record()))
    # THEN the verdict is the release's
    assert report.verdict.outcome == ROLLED_BACK
    assert report.verdict.headline.startswith("release of 2 functions rolled back")
    assert report.target == "release of 2 functions"
    # AND one entry per function: versions, status, rollback outcome and every step
    api, worker = report.functions
    assert (worker.function, worker.previous_version, worker.new_version, worker.status,
            worker.rollback) == (WORKER, "6", "7", "ROLLED_BACK", "rolled_back")
    assert [(s.name, s.outcome) for s in worker.steps][-3:] == [
        ("health", "failed"), ("rollback", "succeeded"), ("record", "succeeded")]
    assert worker.steps[-3].error is not None
    assert worker.steps[-3].error.startswith("CanaryUnhealthy: StackFlowOrdersWorker:PROD")
    assert {s.outcome for s in api.steps} == {"succeeded"}


def test_markdown_and_html_show_a_section_per_function_with_its_steps() -> None:
    execution, events = release_rolled_back()
    report = build_report(ReportInputs(execution, events, record=release_record()))
    # WHEN rendered as Markdown THEN a table has one row per function, its steps in
    # order with repeats merged and the failed one marked with its error type
    markdown = render_markdown(report)
    assert "**Functions**" in markdown
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines()
            if line.startswith("| `")}
    assert rows[API_ROW.split(" | ")[0]].startswith(API_ROW)
    assert "health (2 runs), rollback, record |" in rows[API_ROW.split(" | ")[0]]
    assert rows[WORKER_ROW.split(" | ")[0]].endswith(
        "shift, health, **health failed** (CanaryUnhealthy), rollback, record |")
    # AND the one alias's traffic section is not there (each function has its own)
    assert "**Traffic**" not in markdown
    # WHEN rendered as HTML THEN the Functions section names both, the failure marked
    page = render_html(report)
    assert "<h2>Functions</h2>" in page
    assert f'<span class="mono">{WORKER}:PROD</span>' in page
    assert '<span class="fail">health failed</span> CanaryUnhealthy: ' in page
    assert "<title>Rolled back: release of 2 functions (" in page
    # AND the JSON holds every step of every function
    data = json.loads(json.dumps(report.to_dict()))
    assert [f["function"] for f in data["functions"]] == ["StackFlowAPI", WORKER]
    assert len(data["functions"][1]["steps"]) == 9


def test_without_the_table_the_release_summary_in_the_state_names_each_function() -> None:
    # GIVEN only the execution history (the CI role reads no table)
    execution, events = release_rolled_back()
    report = build_report(ReportInputs(execution, events))
    # THEN the functions come from Record's summary: versions and outcomes, no steps
    assert [(f.function, f.status, f.rollback, f.steps) for f in report.functions] == [
        ("StackFlowAPI", "ROLLED_BACK", "rolled_back", ()),
        (WORKER, "ROLLED_BACK", "rolled_back", ())]
    assert "| rolled_back | - |" in render_markdown(report)
    assert "not recorded" in render_html(report)


def test_a_running_release_names_its_functions_and_their_previous_versions() -> None:
    # GIVEN two functions in their first bake, nothing recorded as final yet
    execution, events = release_baking()
    report = build_report(ReportInputs(execution, events, now=NOW_WHILE_BAKING))
    # THEN it is running, each function from its target document
    assert report.verdict.outcome == RUNNING
    assert [(f.function, f.previous_version, f.new_version, f.status)
            for f in report.functions] == [("StackFlowAPI", "6", "7", None),
                                           (WORKER, "6", "7", None)]


def test_collect_reads_the_release_record_of_a_release() -> None:
    # GIVEN the table holds the release's record
    store = InMemoryStore()
    store.update_release(RELEASE_ARN, release_record())
    # WHEN the report is collected with the table
    report = collect(RELEASE_ARN, Sources(sfn=Recorded(release_rolled_back()), store=store,
                                          cloudwatch=CloudWatchAlarms()))
    # THEN it read the release record (by the execution ARN), not a function's record
    assert "get_release" in store.calls
    assert "get_record" not in store.calls
    assert len(report.functions[1].steps) == 9
    # AND no metric was asked for: error rates are charted per function (one alias)
    assert report.metrics_note == ("error rates not read: they are charted for one "
                                   "function at a time")
