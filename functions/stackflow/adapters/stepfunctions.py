"""Step Functions: start and follow deployment executions, answer the approval gate.

Only the calls StackFlow uses, with the client injected (``client=None`` builds one on
first use). Every ``ClientError`` leaves as a ``stackflow.errors`` class.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client, error_code
from stackflow.errors import ReleaseAlreadyStarted, ResourceNotFound, StackFlowError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_NOT_FOUND = frozenset({"ExecutionDoesNotExist", "StateMachineDoesNotExist",
                        "TaskDoesNotExist"})
# The task behind a token is gone: answered already, timed out, or the execution ended.
_TOKEN_GONE = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
HISTORY_PAGE = 200


@dataclass(frozen=True)
class Execution:
    """What DescribeExecution says about one execution."""

    arn: str
    name: str
    status: str
    started_at: datetime
    stopped_at: datetime | None = None
    error: str | None = None
    cause: str | None = None
    input: str | None = None
    output: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class HistoryEvent:
    """One execution history event, flattened to the fields StackFlow shows."""

    id: int
    type: str
    timestamp: datetime
    state: str | None = None  # for StateEntered / StateExited
    output: str | None = None  # a state's output JSON (StateExited)
    error: str | None = None
    cause: str | None = None
    # The event this one follows (``previousEventId``): which Map iteration's state a
    # Lambda event belongs to when iterations run side by side.
    previous_id: int | None = None


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution named ``name`` of a standard state machine has."""
    head, sep, machine = state_machine_arn.rpartition(":stateMachine:")
    if not sep:
        raise ResourceNotFound(f"not a state machine ARN: {state_machine_arn}",
                               arn=state_machine_arn)
    return f"{head}:execution:{machine}:{name}"


class StepFunctions:
    """The Step Functions calls of the release path and the approval commands."""

    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = default_client("stepfunctions")
        return self._client

    def start_execution(self, state_machine_arn: str, name: str,
                        document: Mapping[str, Any]) -> str:
        """Start ``name``; raises ReleaseAlreadyStarted when that name exists."""
        try:
            response = self.client.start_execution(
                stateMachineArn=state_machine_arn, name=name,
                input=json.dumps(document, sort_keys=True))
        except _aws_errors() as e:
            if error_code(e) == "ExecutionAlreadyExists":
                raise ReleaseAlreadyStarted(f"execution {name} exists already",
                                            name=name) from e
            raise _translate(e, f"StartExecution {name}") from e
        return response["executionArn"]

    def describe_execution(self, arn: str) -> Execution:
        try:
            r = self.client.describe_execution(executionArn=arn)
        except _aws_errors() as e:
            raise _translate(e, f"DescribeExecution {arn}") from e
        return Execution(
            arn=r["executionArn"], name=r["name"], status=r["status"],
            started_at=r["startDate"], stopped_at=r.get("stopDate"),
            error=r.get("error"), cause=r.get("cause"),
            input=r.get("input"), output=r.get("output"))

    def find_execution(self, arn: str) -> Execution | None:
        """DescribeExecution, or None when no execution has that ARN."""
        try:
            return self.describe_execution(arn)
        except ResourceNotFound:
            return None

    def history(self, arn: str, after_id: int = 0) -> list[HistoryEvent]:
        """The events with an id above ``after_id``, oldest first.

        Pages are read newest first and paging stops at the first page that reaches an
        event already seen, so following a long execution costs one page per poll. The
        ids, not the page order, decide what is new and the order returned.
        """
        fresh: list[HistoryEvent] = []
        for page in self._history_pages_newest_first(arn):
            fresh.extend(event for event in page if event.id > after_id)
            if any(event.id <= after_id for event in page):
                break
        return sorted(fresh, key=lambda event: event.id)

    def _history_pages_newest_first(self, arn: str) -> Iterator[list[HistoryEvent]]:
        kwargs: dict[str, Any] = {"executionArn": arn, "reverseOrder": True,
                                  "maxResults": HISTORY_PAGE}
        while True:
            try:
                page = self.client.get_execution_history(**kwargs)
            except _aws_errors() as e:
                raise _translate(e, f"GetExecutionHistory {arn}") from e
            yield [history_event(raw) for raw in page["events"]]
            if not page.get("nextToken"):
                return
            kwargs["nextToken"] = page["nextToken"]

    def list_executions(self, state_machine_arn: str,
                        status: str | None = None) -> list[Execution]:
        """Every execution of a state machine (optionally of one status), newest first."""
        kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        found: list[Execution] = []
        try:
            for page in self.client.get_paginator("list_executions").paginate(**kwargs):
                found.extend(Execution(arn=item["executionArn"], name=item["name"],
                                       status=item["status"], started_at=item["startDate"],
                                       stopped_at=item.get("stopDate"))
                             for item in page["executions"])
        except _aws_errors() as e:
            raise _translate(e, f"ListExecutions {state_machine_arn}") from e
        return found

    def send_task_success(self, token: str, output: Mapping[str, Any]) -> None:
        try:
            self.client.send_task_success(taskToken=token,
                                          output=json.dumps(output, sort_keys=True))
        except _aws_errors() as e:
            raise _translate_token(e, "SendTaskSuccess") from e

    def send_task_failure(self, token: str, error: str, cause: str) -> None:
        try:
            self.client.send_task_failure(taskToken=token, error=error, cause=cause)
        except _aws_errors() as e:
            raise _translate_token(e, "SendTaskFailure") from e


class ExecutionStatuses:
    """``stackflow.deploy.ports.ExecutionsPort`` over DescribeExecution."""

    def __init__(self, client: SFNClient | None = None) -> None:
        self._sfn = StepFunctions(client)

    def status(self, execution_arn: str) -> str | None:
        found = self._sfn.find_execution(execution_arn)
        return None if found is None else found.status


def history_event(raw: Mapping[str, Any]) -> HistoryEvent:
    """Flatten one raw GetExecutionHistory event; details sit under ``<type>EventDetails``."""
    details = next((value for key, value in raw.items()
                    if key.endswith("EventDetails") and isinstance(value, Mapping)), {})
    return HistoryEvent(
        id=int(raw["id"]), type=str(raw["type"]), timestamp=raw["timestamp"],
        state=details.get("name"), output=details.get("output"),
        error=details.get("error"), cause=details.get("cause"),
        previous_id=int(raw["previousEventId"]) if raw.get("previousEventId") else None)


def _translate(e: Exception, what: str) -> StackFlowError:
    if error_code(e) in _NOT_FOUND:
        return ResourceNotFound(f"{what}: {error_code(e)}", code=error_code(e))
    return aws_error(e, what)


def _translate_token(e: Exception, what: str) -> StackFlowError:
    if error_code(e) in _TOKEN_GONE:
        return ResourceNotFound(
            f"{what}: the approval is no longer waiting ({error_code(e)}): it was answered "
            "already, timed out, or the execution ended", code=error_code(e))
    return aws_error(e, what)
