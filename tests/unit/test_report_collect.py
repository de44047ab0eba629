"""What ``stackflow report`` reads: the exact CloudWatch call (Stubber), and the parts
it does without when they cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow_tools.cli import main as cli_main
from stackflow_tools.report.collect import Sources, aligned, collect
from stackflow_tools.report.model import MetricQuery

from tests.support.report_samples import ARN, T0, Recorded, rolled_back

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient


@pytest.fixture
def cloudwatch(aws_env: None) -> Iterator[tuple[CloudWatchClient, Stubber]]:
    client: CloudWatchClient = boto3.client("cloudwatch", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _metric(name: str, version: str) -> dict[str, Any]:
    return {"Namespace": "AWS/Lambda", "MetricName": name, "Dimensions": [
        {"Name": "FunctionName", "Value": "StackFlowAPI"},
        {"Name": "Resource", "Value": "StackFlowAPI:PROD"},
        {"Name": "ExecutedVersion", "Value": version}]}


def test_one_get_metric_data_reads_both_metrics_of_both_versions_per_period(
        cloudwatch: tuple[CloudWatchClient, Stubber]) -> None:
    # GIVEN a rolled-back release of version 7 (previous 6), 317 s long
    client, stubber = cloudwatch
    minute = T0 + timedelta(minutes=1)
    queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
        "Metric": _metric(name, version), "Period": 60, "Stat": "Sum"}}
        for i, (version, name) in enumerate([("6", "Invocations"), ("6", "Errors"),
                                             ("7", "Invocations"), ("7", "Errors")])]
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "m0", "Timestamps": [minute], "Values": [90.0]},
        {"Id": "m1", "Timestamps": [], "Values": []},
        {"Id": "m2", "Timestamps": [minute], "Values": [10.0]},
        {"Id": "m3", "Timestamps": [minute], "Values": [3.0]}]},
        {"MetricDataQueries": queries, "StartTime": T0,
         "EndTime": T0 + timedelta(minutes=6), "ScanBy": "TimestampAscending"})
    # WHEN its report is collected
    report = collect(ARN, Sources(sfn=Recorded(rolled_back()),
                                  cloudwatch=CloudWatchAlarms(client),
                                  clock=lambda: T0 + timedelta(hours=1)))
    # THEN each version has its requests and errors per minute, in whole minutes
    previous, new = report.versions
    assert [(s.at, s.invocations, s.errors) for s in previous.samples] == [(minute, 90, 0)]
    assert [(s.at, s.invocations, s.errors, s.rate) for s in new.samples] == [
        (minute, 10, 3, 0.3)]
    assert (report.metrics_note, report.period_seconds) == (None, 60)


def test_metrics_that_cannot_be_read_leave_a_note_not_a_failure(
        cloudwatch: tuple[CloudWatchClient, Stubber]) -> None:
    # GIVEN a role without cloudwatch:GetMetricData
    client, stubber = cloudwatch
    stubber.add_client_error("get_metric_data", "AccessDenied", "not authorized",
                             http_status_code=403)
    # WHEN the report is collected
    report = collect(ARN, Sources(sfn=Recorded(rolled_back()),
                                  cloudwatch=CloudWatchAlarms(client)))
    # THEN it is there, with the timeline and the verdict, and says what is missing
    assert report.verdict.error == "CanaryUnhealthy"
    assert report.metrics_note is not None
    assert report.metrics_note.startswith("error rates not read (")
    assert "AccessDenied" in report.metrics_note
    assert all(not line.samples for line in report.versions)


def test_the_query_window_covers_whole_periods() -> None:
    query = MetricQuery("f", "PROD", ("1",), datetime(2025, 3, 1, 12, 0, 42, tzinfo=UTC),
                        datetime(2025, 3, 1, 12, 5, 10, 500000, tzinfo=UTC))
    assert aligned(query, 60) == (datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
                                  datetime(2025, 3, 1, 12, 6, tzinfo=UTC))
    assert aligned(query, 1) == (datetime(2025, 3, 1, 12, 0, 42, tzinfo=UTC),
                                 datetime(2025, 3, 1, 12, 5, 11, tzinfo=UTC))


def test_the_report_command_line_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("report",))
    args = cli_main.build_parser().parse_args(
        ["report", "StackFlowAPI-PROD-0123", "--html", "out/r.html", "--json",
         "--period", "1", "--state-machine-arn", "arn:aws:states:x:1:stateMachine:m"])
    assert (args.execution, str(args.html), args.json, args.period) == (
        "StackFlowAPI-PROD-0123", "out/r.html", True, 1)
    with pytest.raises(SystemExit):
        cli_main.build_parser().parse_args(["report", "x", "--markdown", "--json"])
