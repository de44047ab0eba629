"""The one shape of every StackFlow Lambda handler.

A handler module writes two functions: its call (parse the event, build the
dependencies in the feature's ``compose`` module, make one call into the core) and its
report (the metrics and log line of a result, which it returns as JSON).
``lambda_handler`` wraps them in what every function shares: Powertools' Logger and
Metrics, the Tracer where tracing is active, and for a ``stackflow.errors`` failure one
error log line, the failure metric (when the handler names one) and the re-raise whose
class name Lambda reports as the ``errorType``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from stackflow.errors import StackFlowError
from stackflow.lambda_context import LambdaContextLike
from stackflow.observability import get_logger, get_metrics, traced

R = TypeVar("R")
Handler = Callable[[Any, LambdaContextLike], dict[str, Any]]


@dataclass(frozen=True)
class Failure:
    """How a handler reports a ``StackFlowError``: the log message and the metric, if any."""

    message: str
    metric: str | None = None


def lambda_handler(service: str, call: Callable[[Any, LambdaContextLike], R],
                   report: Callable[[R, float], dict[str, Any]], *,
                   failure: Failure) -> Handler:
    """``call``, then ``report`` with its result and the seconds it took, under Powertools."""
    logger, metrics = get_logger(service), get_metrics(service)

    def handle(event: Any, context: LambdaContextLike) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result = call(event, context)
        except StackFlowError as e:
            if failure.metric:
                metrics.add_metric(name=failure.metric, unit="Count", value=1)
            logger.error(failure.message, extra={"error": e.to_dict()})
            raise
        return report(result, time.monotonic() - started)

    # clear_state: keys a call appends (a deploy step's name) never outlive it.
    return metrics.log_metrics(logger.inject_lambda_context(traced(service)(handle),
                                                            clear_state=True))
