"""StackFlow deploy steps: one handler per state of the deployment state machine.

``validate, lock, upload, snapshot, publish, smoke, shift, health, approval_request,
promote, rollback, record, unlock`` each take the whole deployment document and return the
result the state stores under its own key (``docs/deploy-steps.md``; ``snapshot`` exists
where the stage snapshots the cluster before destructive migrations); ``reconcile`` takes the
EventBridge event of an execution that ended ``ABORTED``, ``TIMED_OUT`` or ``FAILED``.
Failures raise a ``stackflow.errors`` class whose name is the ``errorType`` Step
Functions catches.
Each is ``step_handler(name)``: the shared wrapper of ``stackflow.handlers`` around
``stackflow.deploy.steps.run`` with dependencies from ``stackflow.deploy.compose``.

Importing this module is the function's cold start: it loads the pure core and the
Powertools Logger and Metrics, never boto3 (the adapters build their clients on the
first call that needs one). The Tracer, and the X-Ray SDK behind it, exists only where
Powertools would trace at all: inside Lambda with ``POWERTOOLS_TRACE_DISABLED`` unset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stackflow.deploy.compose import build_deps
from stackflow.deploy.deps import Deps, load_settings
from stackflow.deploy.steps import run
from stackflow.handlers import Failure, Handler, lambda_handler
from stackflow.lambda_context import LambdaContextLike
from stackflow.observability import get_logger, get_metrics

SERVICE = "deploy-steps"
logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


def _from_environment() -> Deps:
    """The production wiring, built per call (settings and adapters cost microseconds)."""
    return build_deps(load_settings())


def step_handler(step: str, compose: Callable[[], Deps] = _from_environment) -> Handler:
    """The handler of state ``step``; ``compose`` builds its dependencies on every call."""
    def call(event: Any, context: LambdaContextLike) -> dict[str, Any]:
        logger.append_keys(step=step)
        metrics.add_dimension(name="Step", value=step)
        return run(step, event, replace(compose(), time_left=_time_left(context)))

    return lambda_handler(SERVICE, call, _report,
                          failure=Failure("step failed", metric="StepFailed"))


def _time_left(context: LambdaContextLike) -> Callable[[], float]:
    """The seconds before Lambda stops this invocation: every wait ends before it."""
    return lambda: context.get_remaining_time_in_millis() / 1000


def _report(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    metrics.add_metric(name="StepSucceeded", unit="Count", value=1)
    logger.info("step done", extra={"result": result})
    return result


validate = step_handler("validate")
lock = step_handler("lock")
upload = step_handler("upload")
snapshot = step_handler("snapshot")
publish = step_handler("publish")
smoke = step_handler("smoke")
shift = step_handler("shift")
health = step_handler("health")
approval_request = step_handler("approval_request")
promote = step_handler("promote")
rollback = step_handler("rollback")
record = step_handler("record")
unlock = step_handler("unlock")
reconcile = step_handler("reconcile")
