"""Release executions as Step Functions shows them, for the report's tests.

:class:`ReleaseHistory` writes the history events a deployment execution produces
(every state's output is the whole document, as in the synthesized state machine); the
functions below build the four releases the tests look at: promoted, rolled back at its
canary, stopped by its smoke test, and still baking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stackflow.adapters.stepfunctions import Execution, HistoryEvent

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:stackflow-dev-deployment"
NAME = "StackFlowAPI-PROD-0123456789abcdef"
ARN = STATE_MACHINE.replace(":stateMachine:", ":execution:") + ":" + NAME
CANARY_MESSAGE = ("StackFlowAPI:PROD canary unhealthy: 3 errors from version 7 between "
                  "2025-03-01T12:00:00Z and 2025-03-01T12:06:00Z (threshold 0)")
SMOKE_MESSAGE = ("1 of 1 smoke cases failed against StackFlowAPI:7: health: status_code "
                 "500 != 200")
INPUT = {"function_name": "StackFlowAPI", "alias": "PROD",
         "strategy": {"preset": "Canary10Percent5Minutes"},
         "migrations": {"enabled": True, "target": None},
         "ci": {"commit": "abc1234", "run_url": "https://github.com/org/repo/actions/runs/1"}}


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def lambda_cause(error: str, message: str) -> str:
    """A Lambda failure's Cause, as Step Functions records it."""
    return json.dumps({"errorMessage": message, "errorType": error,
                       "stackTrace": ["  File \"handler.py\", line 1"]})


@dataclass
class ReleaseHistory:
    """Writes the events of one execution, second by second from ``T0``."""

    document: dict[str, Any] = field(default_factory=lambda: {
        "input": dict(INPUT), "execution_id": ARN})
    events: list[HistoryEvent] = field(default_factory=list)

    def event(self, kind: str, at: float, **details: Any) -> None:
        self.events.append(HistoryEvent(id=len(self.events) + 1, type=kind,
                                        timestamp=T0 + timedelta(seconds=at), **details))

    def enter(self, name: str, at: float, kind: str = "Task") -> None:
        self.event(f"{kind}StateEntered", at, state=name)

    def leave(self, name: str, at: float, kind: str = "Task") -> None:
        self.event(f"{kind}StateExited", at, state=name, output=json.dumps(self.document))

    def task(self, name: str, at: float, seconds: float, key: str | None = None,
             result: Any = None) -> ReleaseHistory:
        self.enter(name, at)
        self.event("LambdaFunctionScheduled", at)
        self.event("LambdaFunctionSucceeded", at + seconds)
        if key is not None:
            self.document[key] = result
        self.leave(name, at + seconds)
        return self

    def failed_task(self, name: str, at: float, seconds: float, error: str,
                    message: str) -> ReleaseHistory:
        self.enter(name, at)
        self.event("LambdaFunctionScheduled", at)
        cause = lambda_cause(error, message)
        self.event("LambdaFunctionFailed", at + seconds, error=error, cause=cause)
        self.document["error"] = {"Error": error, "Cause": cause}
        self.leave(name, at + seconds)
        return self

    def wait(self, name: str, at: float, seconds: float) -> ReleaseHistory:
        self.enter(name, at, "Wait")
        self.leave(name, at + seconds, "Wait")
        return self

    def choice(self, name: str, at: float) -> ReleaseHistory:
        self.enter(name, at, "Choice")
        self.leave(name, at, "Choice")
        return self

    def execution(self, status: str, at: float | None, *, error: str | None = None,
                  message: str | None = None) -> Execution:
        """Describe the execution; ``at`` None: still running."""
        return Execution(
            arn=ARN, name=NAME, status=status, started_at=T0,
            stopped_at=None if at is None else T0 + timedelta(seconds=at),
            error=error, cause=None if error is None else lambda_cause(error, message or ""),
            input=json.dumps(INPUT),
            output=json.dumps(self.document) if status == "SUCCEEDED" else None)


def _lock() -> dict[str, Any]:
    return {"holder": ARN, "expires_at": iso(3600), "previous_version": "6",
            "started_at": iso(1)}


def _shift(index: int, weight: float, done: bool, at: float) -> dict[str, Any]:
    return {"index": index, "weight": weight, "wait_seconds": 0 if done else 300,
            "done": done, "started_at": iso(10), "shifted_at": iso(at),
            "preexisting_alarms": [], "steps_total": 2, "version": "7"}


def _smoke(passed: bool) -> dict[str, Any]:
    case = {"name": "health", "passed": passed, "latency_ms": 120.0 if passed else 340.0,
            "failures": [] if passed else ["status_code 500 != 200"],
            "function_error": None}
    return {"passed": passed, "version": "7", "cases": [case]}


def _until_smoke(history: ReleaseHistory) -> ReleaseHistory:
    """Start → Validate → Lock → Upload → SchemaBefore → Migrate → Publish."""
    history.enter("Start", 0, "Pass")
    history.leave("Start", 0, "Pass")
    history.task("Validate", 0, 1, "input", dict(INPUT))
    history.task("Lock", 1, 1, "lock", _lock())
    history.task("Upload", 2, 2, "upload", {"code_sha256": "abc=", "revision_id": "r1",
                                            "last_modified": iso(3)})
    history.choice("MigrationsEnabled", 4)
    history.task("SchemaBefore", 4, 1, "schema_before", {"current_version": 3,
                                                         "pending": [{"version": 4}]})
    history.task("Migrate", 5, 2, "migrate", {
        "applied": [{"version": 4, "name": "add_orders_status"}], "current_version": 4,
        "complete": True})
    history.choice("MigrationsComplete", 7)
    return history.task("Publish", 7, 1, "publish", {"version": "7", "code_sha256": "abc="})


def _canary(history: ReleaseHistory) -> ReleaseHistory:
    """Smoke passes, the alias sends 10% to version 7, the bake begins."""
    history.task("Smoke", 8, 2, "smoke", _smoke(True))
    history.task("Shift", 10, 1, "shift", _shift(0, 0.1, False, 11))
    history.choice("ShiftDone", 11)
    return history.wait("Bake", 11, 300)


def promoted() -> tuple[Execution, list[HistoryEvent]]:
    """A canary release of version 7 that was promoted after a healthy bake."""
    history = _canary(_until_smoke(ReleaseHistory()))
    history.task("HealthCheck", 311, 1, "health", {"healthy": True})
    history.task("Shift", 312, 1, "shift", _shift(1, 1.0, True, 313))
    history.task("Promote", 313, 1, "promote", {
        "version": "7", "alias": "PROD", "previous": {"version": "6", "routing": {"7": 0.1}}})
    history.task("Record", 314, 1, "record", {"status": "SUCCEEDED", "new_version": "7"})
    history.task("Unlock", 315, 1, "unlock", {"released": True})
    history.enter("Deployed", 316, "Succeed")
    history.event("ExecutionSucceeded", 316)
    return history.execution("SUCCEEDED", 316), history.events


def rolled_back() -> tuple[Execution, list[HistoryEvent]]:
    """A canary release of version 7 whose bake saw errors: the alias went back to 6."""
    history = _canary(_until_smoke(ReleaseHistory()))
    history.failed_task("HealthCheck", 311, 1, "CanaryUnhealthy", CANARY_MESSAGE)
    _failure_path(history, 312, rolled_back=True)
    return (history.execution("FAILED", 317, error="CanaryUnhealthy", message=CANARY_MESSAGE),
            history.events)


def smoke_failed() -> tuple[Execution, list[HistoryEvent]]:
    """Version 7 failed its smoke test: no request through the alias ever reached it."""
    history = _until_smoke(ReleaseHistory())
    history.failed_task("Smoke", 8, 2, "SmokeTestFailed", SMOKE_MESSAGE)
    _failure_path(history, 10, rolled_back=False)
    return (history.execution("FAILED", 15, error="SmokeTestFailed", message=SMOKE_MESSAGE),
            history.events)


def _failure_path(history: ReleaseHistory, at: float, *, rolled_back: bool) -> None:
    history.task("Rollback", at, 1, "rollback", {
        "version": "6", "rolled_back": rolled_back, "moved": rolled_back,
        "outcome": "rolled_back" if rolled_back else "untouched"})
    history.task("SchemaAfter", at + 1, 1, "schema_after", {"current_version": 4})
    history.task("RecordFailure", at + 2, 1, "record", {
        "status": "ROLLED_BACK" if rolled_back else "FAILED",
        "migration_rollback": {"needed": True, "applied": [4], "target": 3,
                               "command": "aws lambda invoke --function-name "
                                          "StackFlowPatcher ... out.json"},
        "steps": [{"name": "smoke", "outcome": "succeeded" if rolled_back else "failed",
                   "detail": _smoke(rolled_back)}]})
    history.task("UnlockAfterFailure", at + 3, 1, "unlock", {"released": True})
    history.enter("DeploymentFailed", at + 4, "Fail")
    history.event("ExecutionFailed", at + 5, error=history.document["error"]["Error"],
                  cause=history.document["error"]["Cause"])


def baking() -> tuple[Execution, list[HistoryEvent]]:
    """Version 7 at 10%, two minutes into its bake."""
    history = _canary(_until_smoke(ReleaseHistory()))
    history.events.pop()  # the Bake is entered, not yet left
    return history.execution("RUNNING", None), history.events


NOW_WHILE_BAKING = T0 + timedelta(seconds=131)


# --- a multi-function release -----------------------------------------------------------
RELEASE_NAME = "StackFlowAPI-PROD-and-1-0123456789abcdef"
RELEASE_ARN = ARN.replace(NAME, RELEASE_NAME)
WORKER = "StackFlowOrdersWorker"
RELEASE_INPUT = {"functions": [{"function_name": name, "alias": "PROD"}
                               for name in ("StackFlowAPI", WORKER)],
                 "strategy": {"preset": "Canary10Percent5Minutes"},
                 "migrations": {"enabled": False, "target": None},
                 "ci": {"commit": "abc1234"}}
WORKER_CANARY = CANARY_MESSAGE.replace("StackFlowAPI", WORKER)


def _targets(*keys: str) -> list[dict[str, Any]]:
    """Each function's target document, with Lock's result and the named ones."""
    results = {"lock": _lock(), "publish": {"version": "7", "code_sha256": "abc="}}
    return [{"input": {"function_name": name, "alias": "PROD"}, "execution_id": RELEASE_ARN,
             **{key: results[key] for key in ("lock", *keys)}}
            for name in ("StackFlowAPI", WORKER)]


def _map(history: ReleaseHistory, name: str, at: float, seconds: float) -> None:
    history.enter(name, at, "Map")
    history.document["targets"] = _targets("publish")
    history.leave(name, at + seconds, "Map")


def _release_until_bake() -> ReleaseHistory:
    history = ReleaseHistory(document={"input": dict(RELEASE_INPUT),
                                       "execution_id": RELEASE_ARN})
    history.task("Validate", 0, 1, "input", dict(RELEASE_INPUT))
    history.task("ReleaseLock", 1, 1, "lock", {"targets": _targets(), "order": [
        "StackFlowAPI:PROD", f"{WORKER}:PROD"]})
    _map(history, "ReleaseDeliver", 2, 6)
    _map(history, "ReleaseShift", 8, 2)
    return history.wait("ReleaseBake", 10, 300)


def release_record_steps(failed: str | None) -> list[dict[str, Any]]:
    """One function's steps as its release record row keeps them."""
    names = ["lock", "upload", "publish", "smoke", "shift", "health", "health"]
    steps: list[dict[str, Any]] = [{"name": n, "outcome": "succeeded", "started_at": iso(i),
                                    "finished_at": iso(i + 1)} for i, n in enumerate(names)]
    if failed is not None:
        steps[-1] = {**steps[-1], "outcome": "failed",
                     "error": {"type": "CanaryUnhealthy", "message": failed}}
    return [*steps, {"name": "rollback", "outcome": "succeeded"},
            {"name": "record", "outcome": "succeeded"}]


def release_record() -> dict[str, Any]:
    """The release record of :func:`release_rolled_back`, as the deploy table holds it."""
    return {"execution_id": RELEASE_ARN, "status": "ROLLED_BACK",
            "error": {"type": "CanaryUnhealthy", "message": WORKER_CANARY},
            "functions": [{"function": name, "alias": "PROD", "previous_version": "6",
                           "new_version": "7", "status": "ROLLED_BACK",
                           "rollback": "rolled_back", "steps": release_record_steps(failed)}
                          for name, failed in (("StackFlowAPI", None),
                                               (WORKER, WORKER_CANARY))]}


def release_rolled_back() -> tuple[Execution, list[HistoryEvent]]:
    """Two functions at 10%; the worker's canary errors and both aliases go back to 6."""
    history = _release_until_bake()
    history.enter("ReleaseHealthCheck", 310, "Map")
    history.event("MapStateFailed", 311, error="CanaryUnhealthy",
                  cause=lambda_cause("CanaryUnhealthy", WORKER_CANARY))
    history.document["error"] = {"Error": "CanaryUnhealthy",
                                 "Cause": lambda_cause("CanaryUnhealthy", WORKER_CANARY)}
    history.leave("ReleaseHealthCheck", 311, "Map")
    history.task("ReleaseRollback", 311, 1, "rollback", {"functions": [
        {"function": name, "alias": "PROD", "outcome": "rolled_back"}
        for name in ("StackFlowAPI", WORKER)], "rolled_back": True, "complete": True})
    summary = [{k: v for k, v in row.items() if k != "steps"}
               for row in release_record()["functions"]]
    history.task("ReleaseRecordFailure", 312, 1, "record", {"status": "ROLLED_BACK",
                                                            "functions": summary})
    history.task("ReleaseUnlockAfterFailure", 313, 1, "unlock", {"released": True})
    history.enter("ReleaseRolledBackFailed", 314, "Fail")
    history.event("ExecutionFailed", 314, error="CanaryUnhealthy",
                  cause=lambda_cause("CanaryUnhealthy", WORKER_CANARY))
    return _release_execution(history, "FAILED", 314), history.events


def release_baking() -> tuple[Execution, list[HistoryEvent]]:
    """Two functions at 10%, still in their first bake."""
    history = _release_until_bake()
    history.events.pop()  # the Bake is entered, not yet left
    return _release_execution(history, "RUNNING", None), history.events


def _release_execution(history: ReleaseHistory, status: str, at: float | None) -> Execution:
    error = "CanaryUnhealthy" if status == "FAILED" else None
    return Execution(arn=RELEASE_ARN, name=RELEASE_NAME, status=status, started_at=T0,
                     stopped_at=None if at is None else T0 + timedelta(seconds=at),
                     error=error, cause=lambda_cause(error, WORKER_CANARY) if error else None,
                     input=json.dumps(RELEASE_INPUT), output=None)


class Recorded:
    """``collect.ExecutionReader`` over one fixed execution."""

    def __init__(self, sample: tuple[Execution, list[HistoryEvent]]) -> None:
        self.execution, self.events = sample

    def describe_execution(self, arn: str) -> Execution:
        return self.execution

    def history(self, arn: str, after_id: int = 0) -> list[HistoryEvent]:
        return [e for e in self.events if e.id > after_id]
