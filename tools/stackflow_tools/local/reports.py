"""``stackflow report`` for releases run in local mode (``make demo`` writes two).

The same collection as against AWS, through local mode's clients. Only the metric
period differs: local waits are scaled down, so a bake lasts seconds and CloudWatch's
minute would hold the whole release; the traffic generator stamps its datapoints at
whole seconds, and a one-second period shows each burst.
"""

from __future__ import annotations

from pathlib import Path

from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.dynamodb import DynamoDeployStore
from stackflow.adapters.stepfunctions import StepFunctions

from stackflow_tools.local.runner import LocalMode
from stackflow_tools.report.collect import Sources, collect
from stackflow_tools.report.html import render_html
from stackflow_tools.report.model import Report

LOCAL_PERIOD_SECONDS = 1
REPORTS_DIR = "reports"


def report_sources(mode: LocalMode) -> Sources:
    """Where a local release's report reads from: local mode's own AWS."""
    clients = mode.clients
    return Sources(sfn=StepFunctions(clients.client("stepfunctions")),
                   cloudwatch=CloudWatchAlarms(clients.client("cloudwatch")),
                   store=DynamoDeployStore(mode.table_name(), clients.client("dynamodb")),
                   period_seconds=LOCAL_PERIOD_SECONDS)


def local_report(mode: LocalMode, execution_arn: str) -> Report:
    return collect(execution_arn, report_sources(mode))


def write_report(mode: LocalMode, execution_arn: str, path: Path) -> Path:
    """Write the HTML report of one local release to ``path``; return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(local_report(mode, execution_arn)), encoding="utf-8")
    return path
