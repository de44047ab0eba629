"""StackFlow deploy steps: one handler per state of the deployment state machine.

``validate, lock, upload, publish, smoke, shift, health, approval_request, promote,
rollback, record, unlock`` each take the whole deployment document and return the result
the state stores under its own key (``docs/deploy-steps.md``). Failures raise a
``stackflow.errors`` class whose name is the ``errorType`` Step Functions catches.

Importing this module is the function's cold start: it loads the pure core and the
Powertools Logger and Metrics, never boto3 (the adapters build their clients on the
first call that needs one). The Tracer, and the X-Ray SDK behind it, exists only where
Powertools would trace at all: inside Lambda with ``POWERTOOLS_TRACE_DISABLED`` unset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stackflow.deploy.deps import Deps, load_settings
from stackflow.deploy.steps import STEP_NAMES, run
from stackflow.errors import StackFlowError
from stackflow.lambda_context import LambdaContextLike
from stackflow.observability import get_logger, get_metrics, traced

SERVICE = "deploy-steps"
logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)

Handler = Callable[[Any, LambdaContextLike], dict[str, Any]]
_deps: Deps | None = None


def validate(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Validate: the normalized execution input (ResultPath ``$.input``)."""
    return _HANDLERS["validate"](event, context)


def lock(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Lock: one deployment per function and alias (``$.lock``)."""
    return _HANDLERS["lock"](event, context)


def upload(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Upload: UpdateFunctionCode from the artifact, hash checked (``$.upload``)."""
    return _HANDLERS["upload"](event, context)


def publish(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Publish: a guarded PublishVersion, Active (``$.publish``)."""
    return _HANDLERS["publish"](event, context)


def smoke(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Smoke: invoke the new version with every case (``$.smoke``)."""
    return _HANDLERS["smoke"](event, context)


def shift(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Shift: the next weight of the plan on the alias (``$.shift``)."""
    return _HANDLERS["shift"](event, context)


def health(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """HealthCheck: alarms and the new version's Errors over the bake (``$.health``)."""
    return _HANDLERS["health"](event, context)


def approval_request(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Approval (``.waitForTaskToken``): store the task token for the approver."""
    return _HANDLERS["approval_request"](event, context)


def promote(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Promote: all traffic to the new version, no routing left (``$.promote``)."""
    return _HANDLERS["promote"](event, context)


def rollback(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Rollback: all traffic back to the previous version, one write (``$.rollback``)."""
    return _HANDLERS["rollback"](event, context)


def record(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Record / RecordFailure: the final deployment record (``$.record``)."""
    return _HANDLERS["record"](event, context)


def unlock(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Unlock: release this execution's lock, never another's (``$.unlock``)."""
    return _HANDLERS["unlock"](event, context)


def use_dependencies(deps: Deps | None) -> None:
    """Run every step with ``deps`` (tests, local mode); None: from the environment."""
    global _deps
    _deps = deps


def build_dependencies(environ: Mapping[str, str] | None = None) -> Deps:
    """The production wiring: settings from the environment, lazily built AWS clients."""
    from stackflow.adapters.cloudwatch import CloudWatchAlarms
    from stackflow.adapters.dynamodb import DynamoDeployStore
    from stackflow.adapters.lambda_ import LambdaFunctions, LambdaInvoker
    from stackflow.adapters.s3 import get_object_bytes

    settings = load_settings(environ)
    return Deps(settings=settings, functions=LambdaFunctions(), invoker=LambdaInvoker(),
                store=DynamoDeployStore(settings.table), alarms=CloudWatchAlarms(),
                read_object=lambda bucket, key, version: get_object_bytes(bucket, key, version))


def _dependencies() -> Deps:
    # Built per invocation (settings and adapter objects cost microseconds); the AWS
    # clients behind them are the process-wide ones of stackflow.adapters, except the
    # smoke invoker's, which is built for its run.
    return _deps if _deps is not None else build_dependencies()


def _step_handler(step: str) -> Handler:
    def handle(event: Any, context: LambdaContextLike) -> dict[str, Any]:
        logger.append_keys(step=step)
        metrics.add_dimension(name="Step", value=step)
        try:
            result = run(step, event, _dependencies())
        except StackFlowError as e:
            metrics.add_metric(name="StepFailed", unit="Count", value=1)
            logger.error("step failed", extra={"error": e.to_dict()})
            raise
        metrics.add_metric(name="StepSucceeded", unit="Count", value=1)
        logger.info("step done", extra={"result": result})
        return result

    return metrics.log_metrics(logger.inject_lambda_context(traced(SERVICE)(handle),
                                                            clear_state=True))


_HANDLERS: dict[str, Handler] = {name: _step_handler(name) for name in STEP_NAMES}
