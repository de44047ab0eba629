"""Every change local mode makes to moto's internals, in one place.

Each patch is a context manager applied for as long as local mode runs, and each was
written against one moto release line: :func:`check_moto_version` refuses another with
a clear message instead of letting a renamed internal fail somewhere deep in a release.

* :func:`lambda_invoke`: ``Invoke`` (from any client: the state machine, a deploy step,
  the AWS CLI in another shell) runs the version's code in a worker, not Docker;
* :func:`alias_revisions`: ``UpdateAlias`` honours ``RevisionId`` and issues a new one,
  as Lambda does, so the deploy steps' guards can fail locally;
* :func:`task_failure_cause`: ``SendTaskFailure`` keeps its ``cause``, and
  ``StopExecution`` its ``error`` and ``cause`` (DescribeExecution and the status event
  show them, as in AWS);
* :func:`scaled_waits`: ``Wait`` states and ``Retry`` intervals take ``time_scale`` of
  their time (the definition itself is unchanged);
* :func:`execution_status_events`: every execution status change (``RUNNING``,
  ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED``) goes through moto's EventBridge
  as AWS's "Step Functions Execution Status Change" event (moto sends none);
* :func:`rule_targets`: a rule delivers to Lambda (asynchronously, as EventBridge
  invokes it) and SNS targets, which moto's EventBridge cannot;
* :func:`cluster_snapshots`: ``CreateDBClusterSnapshot`` hands the new snapshot to a
  listener that stores its data (moto keeps only the description), and the snapshot
  reads ``creating`` until that is done, as RDS's does until its storage has it.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any, cast
from unittest import mock
from urllib.parse import unquote

from stackflow.errors import ConfigurationError

# The moto release line these patches were written and tested against.
MOTO_SERIES = "5.2."

InvokeAnswer = Callable[[Any, str, "str | None", Any, Any, dict[str, str]], "bytes | None"]
# (moto's Lambda backend, the target function ARN, the event): invoke it asynchronously.
EventInvoke = Callable[[Any, str, bytes], None]
# (function, alias, version, routing weights, new RevisionId) after every UpdateAlias.
AliasListener = Callable[[str, str, str, Mapping[str, float], str], None]
# (nominal seconds, real start, real end) of every Wait state.
WaitListener = Callable[[float, float, float], None]
STATUS_DETAIL_TYPE = "Step Functions Execution Status Change"
# (cluster identifier, snapshot identifier, tags) of every manual cluster snapshot.
SnapshotListener = Callable[[str, str, Mapping[str, str]], None]
# How long leaving local mode waits for a snapshot's data still being stored.
SNAPSHOT_JOIN_SECONDS = 30.0


def check_moto_version(version: str | None = None) -> None:
    """Refuse a moto these patches were not written for."""
    if version is None:
        import moto

        version = str(moto.__version__)
    if not version.startswith(MOTO_SERIES):
        raise ConfigurationError(
            f"local mode patches moto {MOTO_SERIES}x internals (Lambda invoke, alias "
            f"revisions, Step Functions waits and task failures, cluster snapshots) and "
            f"found moto {version}; "
            f"install moto {MOTO_SERIES}x (pyproject.toml pins it) or update "
            f"stackflow_tools/local/patches.py for this release", moto=version)


@contextmanager
def all_patches(answer: InvokeAnswer, *, time_scale: float,
                on_wait: Callable[[float], None], on_waited: WaitListener | None = None,
                on_alias: AliasListener | None = None,
                on_status_event: Callable[[dict[str, Any]], None] | None = None,
                invoke_event: EventInvoke | None = None,
                on_snapshot: SnapshotListener | None = None) -> Iterator[None]:
    """Every patch local mode needs, applied together."""
    check_moto_version()
    with ExitStack() as stack:
        if on_snapshot is not None:
            stack.enter_context(cluster_snapshots(on_snapshot))
        stack.enter_context(lambda_invoke(answer))
        stack.enter_context(alias_revisions(on_alias))
        stack.enter_context(task_failure_cause())
        stack.enter_context(scaled_waits(time_scale, on_wait, on_waited))
        stack.enter_context(execution_status_events(on_status_event))
        if invoke_event is not None:
            stack.enter_context(rule_targets(invoke_event))
        yield


@contextmanager
def lambda_invoke(answer: InvokeAnswer) -> Iterator[None]:
    """Answer moto's ``Invoke`` API with ``answer`` (moto would start Docker).

    The whole response is replaced: moto's own reads the qualifier under a name the
    server never receives (``qualifier`` instead of ``Qualifier``) and adds no
    ``X-Amz-Executed-Version``.
    """
    from moto.awslambda.responses import LambdaResponse

    def invoke(response: Any) -> tuple[int, dict[str, str], bytes]:
        function_name = unquote(response.path.rsplit("/", 2)[-2])
        qualifier = (response.querystring.get("Qualifier") or [None])[0]
        headers: dict[str, str] = {}
        payload = answer(response.backend, function_name, qualifier, response.body,
                         response.headers, headers) or b""
        kind = response.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        status = {"Event": 202, "DryRun": 204}.get(kind, 200)
        headers |= {"content-type": "application/json", "Content-Length": str(len(payload))}
        return status, headers, payload

    with mock.patch.object(LambdaResponse, "invoke", invoke):
        yield


@contextmanager
def alias_revisions(on_update: AliasListener | None = None) -> Iterator[None]:
    """``UpdateAlias`` checks ``RevisionId`` and every change issues a new one.

    ``on_update`` hears each change (a benchmark times when traffic went back).
    """
    from moto.awslambda.exceptions import PreconditionFailedException
    from moto.awslambda.models import LambdaAlias
    from moto.awslambda.responses import LambdaResponse

    original_update = LambdaAlias.update
    original_response = LambdaResponse.update_alias

    def update(alias: Any, *args: Any, **kwargs: Any) -> None:
        original_update(alias, *args, **kwargs)
        alias.revision_id = str(uuid.uuid4())
        if on_update is not None:
            _, _, function_name, alias_name = str(alias.arn).rsplit(":", 3)
            weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
            on_update(function_name, alias_name, str(alias.function_version),
                      {str(v): float(w) for v, w in weights.items()}, alias.revision_id)

    def update_alias(response: Any) -> Any:
        wanted = json.loads(response.body or "{}").get("RevisionId")
        if wanted:
            function_name = unquote(response.path.rsplit("/")[-3])
            alias_name = unquote(response.path.rsplit("/", 2)[-1])
            current = response.backend.get_alias(alias_name, function_name).revision_id
            if wanted != current:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id")
        return original_response(response)

    with mock.patch.object(LambdaAlias, "update", update), \
            mock.patch.object(LambdaResponse, "update_alias", update_alias):
        yield


@contextmanager
def task_failure_cause() -> Iterator[None]:
    """``SendTaskFailure`` passes ``cause`` on (moto drops it)."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(response: Any) -> Any:
        response.stepfunction_backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"),
            cause=response._get_param("cause"))
        return EmptyResult()

    def stop_execution(response: Any) -> Any:
        from moto.core.responses import ActionResult

        execution = response.stepfunction_backend.describe_execution(
            response._get_param("executionArn"))
        stopped_at = datetime.now(UTC)
        error, cause = response._get_param("error"), response._get_param("cause")
        execution.stop(stop_date=stopped_at, error=error, cause=cause)
        execution.error, execution.cause = error, cause
        return ActionResult({"stopDate": stopped_at})

    with mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure), \
            mock.patch.object(StepFunctionResponse, "stop_execution", stop_execution):
        yield


@contextmanager
def scaled_waits(time_scale: float, on_wait: Callable[[float], None],
                 on_waited: WaitListener | None = None) -> Iterator[None]:
    """Scale ``Wait`` states and ``Retry`` intervals of moto's interpreter.

    ``on_wait`` runs as each Wait starts; ``on_waited`` hears its nominal length and
    the real time it started and ended (how nominal time is told from real time).
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        wait_function,
    )

    def wait_interval(_self: Any, env: Any, wait_seconds: int) -> None:
        started = time.time()
        deadline = time.monotonic() + wait_seconds * time_scale
        on_wait(float(wait_seconds))
        remaining = deadline - time.monotonic()
        if remaining > 0:
            env.program_state_event.wait(remaining)  # set when the execution is stopped
        if on_waited is not None:
            on_waited(float(wait_seconds), started, time.time())

    class ScaledTime:
        @staticmethod
        def sleep(seconds: float) -> None:
            time.sleep(seconds * time_scale)

    with mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait_interval), \
            mock.patch.object(retrier_decl, "time", ScaledTime):
        yield


@contextmanager
def execution_status_events(
        on_event: Callable[[dict[str, Any]], None] | None = None) -> Iterator[None]:
    """Send every execution status change through moto's EventBridge, as AWS does.

    AWS emits "Step Functions Execution Status Change" to the default event bus when
    an execution starts and when it ends; moto emits nothing, so a rule on
    ``ABORTED`` / ``TIMED_OUT`` / ``FAILED`` would never fire locally. The event is
    AWS's shape (:func:`status_change_event`); ``on_event`` hears it first, then every
    enabled rule of the default bus matches it with moto's own pattern matcher.
    """
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    original_terminated = BaseExecutionWorkerCommunication.terminated
    original_start = Execution.start

    def emit(execution: Any) -> None:
        event = status_change_event(execution)
        if on_event is not None:
            on_event(event)
        route_event(event)

    def terminated(comm: Any) -> None:
        original_terminated(comm)
        emit(comm.execution)

    def start(execution: Any) -> None:
        original_start(execution)
        emit(execution)

    with mock.patch.object(BaseExecutionWorkerCommunication, "terminated", terminated), \
            mock.patch.object(Execution, "start", start):
        yield


def status_change_event(execution: Any) -> dict[str, Any]:
    """AWS's status-change event for one of moto's executions (times in epoch ms)."""
    status = str(execution.exec_status.value if hasattr(execution.exec_status, "value")
                 else execution.exec_status)
    ended = status not in ("RUNNING", "SUCCEEDED")
    detail = {
        "executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine_arn,
        "name": execution.name, "status": status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": _epoch_ms(execution.stop_date) if execution.stop_date else None,
        "input": json.dumps(execution.input_data, separators=(",", ":")),
        "output": json.dumps(execution.output, separators=(",", ":"))
        if status == "SUCCEEDED" else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
        "error": execution.error, "cause": execution.cause,
        "redriveCount": 0, "redriveDate": None,
        "redriveStatus": "REDRIVABLE" if ended else "NOT_REDRIVABLE",
        "redriveStatusReason": None if ended else
        f"Execution is {status} and cannot be redriven",
    }
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": STATUS_DETAIL_TYPE,
            "source": "aws.states", "account": execution.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": execution.region_name, "resources": [execution.exec_arn],
            "detail": detail}


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def route_event(event: Mapping[str, Any]) -> None:
    """Put an AWS service event on the default bus of moto's EventBridge."""
    from moto.events.models import events_backends

    backend = events_backends[str(event["account"])][str(event["region"])]
    bus = backend.event_buses.get("default")
    for rule in list(bus.rules.values()) if bus is not None else []:
        if rule.state == "ENABLED":
            rule.send_to_targets(cast(Any, dict(event)))


@contextmanager
def rule_targets(invoke: EventInvoke) -> Iterator[None]:
    """Rules deliver to Lambda (``invoke``, asynchronous) and SNS targets too.

    moto's EventBridge delivers to logs, SQS and other buses only (anything else raises
    ``NotImplementedError``). A Lambda target is invoked asynchronously with the event
    (or the target's constant ``Input``), as EventBridge does; an SNS target publishes
    it as the message. Other targets keep moto's own delivery.
    """
    from moto.awslambda.utils import get_backend
    from moto.events.models import Rule
    from moto.sns.models import sns_backends

    original = Rule.send_to_targets

    def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
        if not rule.event_pattern.matches_event(event):
            return
        others = []
        for target in rule.targets:
            arn = str(target["Arn"])
            _, _, service, region, account = arn.split(":")[:5]
            body = target.get("Input") or json.dumps(event)
            if service == "lambda":
                invoke(get_backend(account, region), arn, body.encode())
            elif service == "sns":
                sns_backends[account][region].publish(message=body, arn=arn)
            else:
                others.append(target)
        if others:
            rest = copy.copy(rule)
            rest.targets = others
            original(rest, event, transform_input)

    with mock.patch.object(Rule, "send_to_targets", send_to_targets):
        yield


@contextmanager
def cluster_snapshots(on_snapshot: SnapshotListener) -> Iterator[None]:
    """A manual cluster snapshot is ``creating`` while ``on_snapshot`` stores its data
    (on a thread of its own, as RDS takes it in the background), then ``available``, or
    ``failed`` when the listener raised. Leaving waits for the ones still running."""
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_cluster_snapshot
    running: list[threading.Thread] = []

    def take(snapshot: Any) -> None:
        tags = {str(t["Key"]): str(t["Value"]) for t in snapshot.tags or []}
        try:
            on_snapshot(str(snapshot.db_cluster_identifier),
                        str(snapshot.db_cluster_snapshot_identifier), tags)
        except Exception:  # any failure of the stand-in is the snapshot's failure
            logging.getLogger(__name__).exception("local cluster snapshot failed")
            snapshot.status = "failed"
            return
        snapshot.status = "available"

    def create(backend: Any, *args: Any, **kwargs: Any) -> Any:
        snapshot = original(backend, *args, **kwargs)
        if snapshot.snapshot_type == "manual":
            snapshot.status = "creating"
            thread = threading.Thread(target=take, args=(snapshot,), daemon=True,
                                      name=f"snapshot-{snapshot.db_cluster_snapshot_identifier}")
            running.append(thread)
            thread.start()
        return snapshot

    with mock.patch.object(RDSBackend, "create_db_cluster_snapshot", create):
        try:
            yield
        finally:
            for thread in running:
                thread.join(SNAPSHOT_JOIN_SECONDS)
