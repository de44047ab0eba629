"""The release report's model, built from fixed executions: no AWS, no clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from stackflow.adapters.stepfunctions import history_event
from stackflow_tools.report.model import (
    FAILED,
    NEW,
    PREVIOUS,
    PROMOTED,
    ROLLED_BACK,
    RUNNING,
    ErrorSample,
    ReportInputs,
    build_report,
    metric_query,
    samples_from_series,
    state_runs,
)

from tests.support.report_samples import (
    CANARY_MESSAGE,
    NOW_WHILE_BAKING,
    SMOKE_MESSAGE,
    T0,
    ReleaseHistory,
    baking,
    promoted,
    rolled_back,
    smoke_failed,
)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _raw(id_: int, previous: int, kind: str, at: float, **details: str) -> dict[str, object]:
    """One GetExecutionHistory event as Step Functions returns it."""
    key = kind[0].lower() + kind[1:] + "EventDetails"
    return {"id": id_, "previousEventId": previous, "type": kind, "timestamp": _at(at),
            key: details}


def test_a_promoted_canary_shows_its_verdict_traffic_steps_and_migrations() -> None:
    # GIVEN the history of a canary release of version 7 that was promoted
    execution, events = promoted()
    # WHEN the report is built
    report = build_report(ReportInputs(execution, events))
    # THEN the verdict says promoted, from 6 to 7
    assert report.verdict.outcome == PROMOTED
    assert report.verdict.ok
    assert report.verdict.headline == "StackFlowAPI:PROD promoted to version 7 (was 6)"
    assert (report.previous_version, report.new_version) == ("6", "7")
    # AND traffic moved twice: 10% at the shift, everything at the promotion
    assert [(s.label, s.weight, s.at) for s in report.traffic] == [
        ("shift 1 of 2", 0.1, _at(11)), ("promote", 1.0, _at(314))]
    # AND each version has its share as a step line on the release's time axis
    previous, new = report.versions
    assert (previous.version, previous.role, new.version, new.role) == ("6", PREVIOUS,
                                                                         "7", NEW)
    assert list(previous.weights) == [(T0, 1.0), (_at(11), 0.9), (_at(314), 0.0)]
    assert list(new.weights) == [(_at(8), 0.0), (_at(11), 0.1), (_at(314), 1.0)]
    # AND the migration this release applied, and the smoke case with its latency
    assert [m.version for m in report.migrations.applied] == [4]
    assert (report.migrations.before, report.migrations.after) == (3, 4)
    assert [(c.name, c.passed, c.latency_ms) for c in report.smoke] == [("health", True,
                                                                         120.0)]
    assert (report.strategy, report.commit) == ("Canary10Percent5Minutes", "abc1234")


def test_the_timeline_has_every_state_that_takes_time_with_its_duration() -> None:
    execution, events = promoted()
    report = build_report(ReportInputs(execution, events))
    names = [run.name for run in report.states]
    # Choice and Pass states decide nothing a reader needs; the Succeed state ends it
    assert names == ["Validate", "Lock", "Upload", "SchemaBefore", "Migrate", "Publish",
                     "Smoke", "Shift", "Bake", "HealthCheck", "Shift", "Promote", "Record",
                     "Unlock", "Deployed"]
    bake = report.states[names.index("Bake")]
    assert (bake.kind, bake.seconds, bake.attempts) == ("Wait", 300.0, 0)
    assert not any(run.failed for run in report.states)
    assert report.seconds == 316.0


def test_a_rolled_back_canary_names_the_error_the_failed_check_and_the_rollback() -> None:
    # GIVEN a canary whose health check failed, after which the alias went back to 6
    execution, events = rolled_back()
    # WHEN the report is built (the record is the one the execution carries)
    report = build_report(ReportInputs(execution, events))
    # THEN the verdict is a rollback with the error type and Lambda's message
    assert report.verdict.outcome == ROLLED_BACK
    assert not report.verdict.ok
    assert report.verdict.error == "CanaryUnhealthy"
    assert report.verdict.cause == CANARY_MESSAGE
    assert "rolled back to version 6" in report.verdict.headline
    # AND the health check's run is the failed one, with the same error
    [failed_check] = [r for r in report.states if r.name == "HealthCheck"]
    assert failed_check.failed
    assert failed_check.error == f"CanaryUnhealthy: {CANARY_MESSAGE}"
    assert report.states[-1].name == "DeploymentFailed"
    # AND traffic went to 10% and back to 0% for version 7
    assert [(s.label, s.weight) for s in report.traffic] == [("shift 1 of 2", 0.1),
                                                            ("rollback", 0.0)]
    assert report.versions[0].weights[-1] == (_at(313), 1.0)
    # AND the schema hint of the record is kept as recorded
    assert report.migrations.rollback is not None
    assert report.migrations.rollback["target"] == 3


def test_a_smoke_failure_never_moved_the_alias_and_shows_the_failed_case() -> None:
    # GIVEN a release whose smoke test failed (the alias was never touched)
    execution, events = smoke_failed()
    # WHEN the report is built
    report = build_report(ReportInputs(execution, events))
    # THEN it failed without a rollback, the alias staying on version 6
    assert report.verdict.outcome == FAILED
    assert report.verdict.headline == ("StackFlowAPI:PROD stays on version 6: the release "
                                       "failed with SmokeTestFailed")
    assert report.verdict.cause == SMOKE_MESSAGE
    assert report.traffic == ()
    # AND the failed case comes from the record (the document has no $.smoke)
    [case] = report.smoke
    assert (case.name, case.passed, case.failures) == ("health", False,
                                                       ("status_code 500 != 200",))


def test_a_running_release_ends_its_axis_now_with_the_bake_still_open() -> None:
    execution, events = baking()
    report = build_report(ReportInputs(execution, events, now=NOW_WHILE_BAKING))
    assert report.verdict.outcome == RUNNING
    assert report.ended_at is None
    assert report.until == NOW_WHILE_BAKING
    bake = report.states[-1]
    assert (bake.name, bake.ended_at, bake.seconds) == ("Bake", None, None)


def test_a_retried_task_that_succeeded_is_not_a_failure_and_counts_its_attempts() -> None:
    # GIVEN an Upload whose first invocation failed and was retried
    history = ReleaseHistory()
    history.enter("Upload", 0)
    history.event("LambdaFunctionScheduled", 0)
    history.event("LambdaFunctionFailed", 1, error="AwsThrottled", cause="slow down")
    history.event("LambdaFunctionScheduled", 3)
    history.event("LambdaFunctionSucceeded", 4)
    history.leave("Upload", 4)
    # WHEN the report is built
    report = build_report(ReportInputs(history.execution("RUNNING", None), history.events,
                                       now=_at(5)))
    # THEN the run succeeded after two attempts
    [upload] = report.states
    assert (upload.failed, upload.error, upload.attempts) == (False, None, 2)


def test_a_document_key_that_does_not_read_is_left_out_never_guessed() -> None:
    # GIVEN a release whose Publish wrote a malformed version
    history = ReleaseHistory()
    history.task("Lock", 0, 1, "lock", {"holder": "x", "expires_at": "x",
                                        "previous_version": "6", "started_at": "x"})
    history.task("Publish", 1, 1, "publish", {"version": "latest"})
    # WHEN the report is built
    report = build_report(ReportInputs(history.execution("RUNNING", None), history.events,
                                       now=_at(3)))
    # THEN the new version is unknown and the previous one is kept
    assert (report.previous_version, report.new_version) == ("6", None)
    assert [line.version for line in report.versions] == ["6"]


def test_error_samples_join_both_metrics_by_period() -> None:
    invocations = [(_at(0), 18.0), (_at(60), 20.0)]
    errors = [(_at(60), 5.0), (_at(120), 1.0)]
    samples = samples_from_series(invocations, errors)
    assert samples == (ErrorSample(_at(0), 18.0, 0.0), ErrorSample(_at(60), 20.0, 5.0),
                       ErrorSample(_at(120), 0.0, 1.0))
    assert [s.rate for s in samples] == [0.0, 0.25, None]


def test_the_metrics_asked_for_are_both_versions_over_the_release() -> None:
    execution, events = rolled_back()
    query = metric_query(execution, events, now=_at(999))
    assert query is not None
    assert (query.function, query.alias, query.versions) == ("StackFlowAPI", "PROD",
                                                             ("6", "7"))
    assert (query.start, query.end) == (T0, _at(317))


def test_the_report_as_json_carries_the_verdict_rates_and_iso_times() -> None:
    # GIVEN a rolled-back release with per-version samples
    execution, events = rolled_back()
    metrics = {"6": [ErrorSample(_at(60), 90.0, 0.0)], "7": [ErrorSample(_at(60), 10.0,
                                                                         3.0)]}
    report = build_report(ReportInputs(execution, events, metrics=metrics,
                                       period_seconds=60))
    # WHEN it is turned into JSON and read back
    data = json.loads(json.dumps(report.to_dict()))
    # THEN what a machine needs is there, in plain JSON values
    assert data["verdict"]["outcome"] == ROLLED_BACK
    assert data["verdict"]["ok"] is False
    assert data["started_at"] == T0.isoformat()
    assert [(v["version"], v["errors"], v["invocations"]) for v in data["versions"]] == [
        ("6", 0.0, 90.0), ("7", 3.0, 10.0)]
    assert data["versions"][1]["samples"][0]["rate"] == 0.3
    assert data["period_seconds"] == 60
    assert data["metrics_note"] is None


def test_side_by_side_map_iterations_each_keep_their_own_outcome() -> None:
    # GIVEN a release's health Map as Step Functions records it: two iterations at once,
    # the API's check succeeds, the worker's fails (its Lambda events follow its own
    # TaskStateEntered by previousEventId; no TaskStateExited ends the failed one)
    failure = json.dumps({"errorMessage": "worker canary unhealthy"})
    events = [history_event(e) for e in (
        _raw(96, 95, "MapStateEntered", 0, name="ReleaseHealthCheck"),
        _raw(97, 96, "MapStateStarted", 0),
        _raw(98, 97, "MapIterationStarted", 0, name="ReleaseHealthCheck"),
        _raw(99, 98, "TaskStateEntered", 0, name="TargetHealth"),
        _raw(100, 97, "MapIterationStarted", 0, name="ReleaseHealthCheck"),
        _raw(101, 100, "TaskStateEntered", 0, name="TargetHealth"),
        _raw(102, 99, "LambdaFunctionScheduled", 0),
        _raw(104, 101, "LambdaFunctionScheduled", 0),
        _raw(106, 102, "LambdaFunctionSucceeded", 1),
        _raw(107, 106, "TaskStateExited", 1, name="TargetHealth"),
        _raw(108, 107, "MapIterationSucceeded", 1, name="ReleaseHealthCheck"),
        _raw(109, 104, "LambdaFunctionFailed", 2, error="CanaryUnhealthy", cause=failure),
        _raw(110, 109, "MapIterationFailed", 2, name="ReleaseHealthCheck"),
        _raw(111, 109, "MapStateFailed", 2),
        _raw(112, 111, "MapStateExited", 2, name="ReleaseHealthCheck"))]
    # WHEN the timeline is read
    runs = state_runs(events, until=_at(60))
    # THEN each iteration's run ends when it did, the failed one with its own error
    by_start = [(r.name, r.seconds, r.failed, r.error) for r in runs]
    assert by_start == [
        ("ReleaseHealthCheck", 2.0, True, "CanaryUnhealthy: worker canary unhealthy"),
        ("TargetHealth", 1.0, False, None),
        ("TargetHealth", 2.0, True, "CanaryUnhealthy: worker canary unhealthy")]


def test_an_iteration_stopped_with_its_map_ends_there() -> None:
    # GIVEN the API's health iteration fails first, and the worker's, still running, is
    # stopped with the Map: no event of it follows
    events = [history_event(e) for e in (
        _raw(96, 95, "MapStateEntered", 0, name="ReleaseHealthCheck"),
        _raw(98, 96, "MapIterationStarted", 0, name="ReleaseHealthCheck"),
        _raw(99, 98, "TaskStateEntered", 0, name="TargetHealth"),
        _raw(100, 99, "LambdaFunctionScheduled", 0),
        _raw(102, 96, "MapIterationStarted", 0, name="ReleaseHealthCheck"),
        _raw(103, 102, "TaskStateEntered", 0, name="TargetHealth"),
        _raw(104, 103, "LambdaFunctionScheduled", 0),
        _raw(106, 100, "LambdaFunctionFailed", 1, error="CanaryUnhealthy", cause="{}"),
        _raw(107, 106, "MapIterationFailed", 1, name="ReleaseHealthCheck"),
        _raw(108, 106, "MapStateFailed", 1),
        _raw(109, 108, "MapStateExited", 1.5, name="ReleaseHealthCheck"),
        _raw(110, 109, "TaskStateEntered", 2, name="ReleaseRollback"))]
    # WHEN the timeline is read while Rollback runs
    runs = state_runs(events, until=_at(60))
    # THEN the stopped iteration ends with its Map, not "running" to the end
    assert [(r.name, r.seconds, r.failed) for r in runs] == [
        ("ReleaseHealthCheck", 1.5, True), ("TargetHealth", 1.0, True),
        ("TargetHealth", 1.5, False), ("ReleaseRollback", None, False)]
