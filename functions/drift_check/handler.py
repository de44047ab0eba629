"""StackFlowDriftCheck: ``handler(event, context)`` builds one drift report.

Invoked by an EventBridge schedule (``events/drift-scheduled.json``) or by hand. Returns
the report (``events/drift-report.json``), emits one metric per kind of drift and
notifies the SNS topic only when the drift set changed. ``handler`` is the shared
wrapper of ``stackflow.handlers`` around ``_call`` and ``_report``.

Importing this module is the cold start: it loads the pure drift core and Powertools;
boto3 and psycopg load when a configured part first needs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stackflow.drift.compose import build_config, build_deps
from stackflow.drift.model import DriftReport
from stackflow.drift.request import parse_event
from stackflow.drift.service import run_drift_check
from stackflow.drift.settings import DriftSettings
from stackflow.handlers import Failure, Handler, lambda_handler
from stackflow.lambda_context import LambdaContextLike
from stackflow.migrations.settings import PatcherSettings
from stackflow.observability import get_logger, get_metrics

SERVICE = "drift"
# Kept back from the Lambda timeout for classification, SNS and the state write.
RESERVE_SECONDS = 20.0
METRICS = {"stack": "StackDrift", "alias": "AliasDrift", "schema": "SchemaDrift",
           "unmanaged_alias": "UnmanagedAliases", "carried_over": "CarriedOverStacks",
           "errors": "DriftCheckErrors"}

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


def _call(event: Any, context: LambdaContextLike) -> DriftReport:
    """Parse -> build dependencies -> one core call."""
    request = parse_event(event)
    settings = DriftSettings.from_env(stacks=request.stacks)
    deps = build_deps(settings, PatcherSettings.from_env())
    return run_drift_check(
        build_config(settings, read_only=request.read_only), deps,
        now=lambda: datetime.now(UTC),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)


def _report(report: DriftReport, seconds: float) -> dict[str, Any]:
    for kind, count in report.counts().items():
        metrics.add_metric(name=METRICS[kind], unit="Count", value=count)
    metrics.add_metric(name="DriftNotifications", unit="Count", value=int(report.notified))
    logger.info("drift report", extra={"report": report.to_dict()})
    return report.to_dict()


# A failed run is logged but not counted (docs/drift.md lists no failure metric).
handler: Handler = lambda_handler(SERVICE, _call, _report,
                                  failure=Failure("drift check failed"))
