"""StackFlowPatcher: ``handler(event, context)`` applies, rolls back or reports migrations,
or adopts another tool's history.

Event: ``{"action": "migrate"|"rollback"|"status"|"adopt", "dry_run": false, "target": N,
"steps": N, "applied_by": "...", "allow_out_of_order": false, "from": "golang-migrate",
"phase": "expand"|"contract"|"all", "baseline": true | {...}}`` (docs/patcher.md).
Failures raise a ``stackflow.errors`` class; its name is the Lambda ``errorType``.
``handler`` is the shared wrapper of ``stackflow.handlers`` around ``_call`` and
``_report``.

Importing this module is the function's cold start, so it loads only what every call
uses (the core, psycopg, Logger, Metrics); boto3 is loaded by a call that reads S3 or
Secrets Manager. The X-Ray SDK behind Powertools' Tracer costs about as much as boto3
and psycopg together, so the Tracer exists only where Powertools would trace at all:
inside Lambda with ``POWERTOOLS_TRACE_DISABLED`` unset.
"""

from __future__ import annotations

from typing import Any

import stackflow.adapters.postgres  # noqa: F401  (every call connects: load it during init)
from stackflow.handlers import Failure, Handler, lambda_handler
from stackflow.lambda_context import LambdaContextLike
from stackflow.migrations.compose import build_deps
from stackflow.migrations.request import parse_request
from stackflow.migrations.service import run
from stackflow.migrations.settings import PatcherSettings
from stackflow.observability import get_logger, get_metrics

SERVICE = "patcher"
logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


def _call(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Parse -> build dependencies -> one core call."""
    request = parse_request(event)
    deps = build_deps(PatcherSettings.from_env(), applied_by=context.aws_request_id,
                      remaining_ms=context.get_remaining_time_in_millis)
    return run(request, deps)


# The count metric of each action that changes the database, and what it counts.
COUNTED = {"migrate": ("MigrationsApplied", "applied"),
           "rollback": ("MigrationsRolledBack", "applied"),
           "adopt": ("MigrationsAdopted", "adopted")}


def _report(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    counted = COUNTED.get(result["action"])
    if counted is not None and not result["dry_run"]:
        name, key = counted
        metrics.add_metric(name=name, unit="Count", value=len(result[key]))
    metrics.add_metric(name="PatcherDuration", unit="Milliseconds", value=seconds * 1000)
    logger.info("patcher done", extra={
        "action": result["action"], "dry_run": result["dry_run"],
        "current_version": result["current_version"], "complete": result["complete"],
        "applied": [a["version"] for a in result["applied"]],
        "pending": [p["version"] for p in result["pending"]]})
    return result


handler: Handler = lambda_handler(SERVICE, _call, _report,
                                  failure=Failure("patcher failed", metric="PatcherFailures"))
