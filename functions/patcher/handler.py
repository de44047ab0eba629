"""StackFlowPatcher: ``handler(event, context)`` applies, rolls back or reports migrations.

Event: ``{"action": "migrate"|"rollback"|"status", "dry_run": false, "target": N,
"steps": N, "applied_by": "...", "allow_out_of_order": false}`` (docs/patcher.md).
Failures raise a ``stackflow.errors`` class; its name is the Lambda ``errorType``.

Importing this module is the function's cold start, so it loads only what every call
uses (the core, psycopg, Logger, Metrics); boto3 is loaded by a call that reads S3 or
Secrets Manager. The X-Ray SDK behind Powertools' Tracer costs about as much as boto3
and psycopg together, so the Tracer exists only where Powertools would trace at all:
inside Lambda with ``POWERTOOLS_TRACE_DISABLED`` unset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import stackflow.adapters.postgres  # noqa: F401  (every call connects: load it during init)
from stackflow.errors import StackFlowError
from stackflow.lambda_context import LambdaContextLike
from stackflow.migrations.compose import build_deps
from stackflow.migrations.request import parse_request
from stackflow.migrations.service import run
from stackflow.migrations.settings import PatcherSettings
from stackflow.observability import get_logger, get_metrics, traced

SERVICE = "patcher"
logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)

Handler = Callable[[Any, LambdaContextLike], dict[str, Any]]


@metrics.log_metrics
@logger.inject_lambda_context
@traced(SERVICE)
def handler(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Parse -> build dependencies -> one core call -> JSON result."""
    started = time.monotonic()
    try:
        request = parse_request(event)
        deps = build_deps(PatcherSettings.from_env(), applied_by=context.aws_request_id,
                          remaining_ms=context.get_remaining_time_in_millis)
        result = run(request, deps)
    except StackFlowError as e:
        metrics.add_metric(name="PatcherFailures", unit="Count", value=1)
        logger.error("patcher failed", extra={"error": e.to_dict()})
        raise
    _record(result, time.monotonic() - started)
    return result


def _record(result: dict[str, Any], seconds: float) -> None:
    if result["action"] != "status" and not result["dry_run"]:
        name = "MigrationsApplied" if result["action"] == "migrate" else "MigrationsRolledBack"
        metrics.add_metric(name=name, unit="Count", value=len(result["applied"]))
    metrics.add_metric(name="PatcherDuration", unit="Milliseconds", value=seconds * 1000)
    logger.info("patcher done", extra={
        "action": result["action"], "dry_run": result["dry_run"],
        "current_version": result["current_version"], "complete": result["complete"],
        "applied": [a["version"] for a in result["applied"]],
        "pending": [p["version"] for p in result["pending"]]})
