"""Malformed documents, step by step: every field a step reads, missing or mistyped.

Each row takes the step's sample event (``events/deploy-step-<step>.json``), removes or
retypes one field, and runs the step's handler with dependencies whose AWS clients
fail on any call: the step must raise ``InvalidRequest`` naming exactly that field,
before it touches AWS, and never a ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.deploy.deps import DeploySettings, Deps
from stackflow.errors import InvalidRequest

from tests.support.deploy_fakes import (
    DeploySteps,
    FakeClock,
    FakeContext,
    InMemoryStore,
    ScriptedInvoker,
)
from tests.support.events import load_event

MISSING = object()
EVENTS = {"record": "record-failure", "approval_request": "approval-request"}
LOCKED_STEPS = ("lock", "upload", "publish", "smoke", "shift", "health", "promote",
                "rollback", "record", "unlock")


class _NoClient:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"AWS call {name} made before the input was checked")


@pytest.fixture
def offline() -> DeploySteps:
    clock = FakeClock()
    return DeploySteps(Deps(
        settings=DeploySettings(table="unused"),
        functions=LambdaFunctions(_NoClient()),  # type: ignore[arg-type]
        invoker=ScriptedInvoker(), store=InMemoryStore(),
        alarms=CloudWatchAlarms(_NoClient()),  # type: ignore[arg-type]
        read_object=lambda b, k, v: b"", now=clock.now, sleep=clock.sleep))


def broken(step: str, path: str, value: Any) -> dict[str, Any]:
    """The step's sample event with ``path`` (dotted) removed or set to ``value``."""
    name = EVENTS.get(step, step)
    if step == "shift" and path.startswith("shift."):
        name = "health"  # a later Shift: the document holds the previous one's result
    event: dict[str, Any] = copy.deepcopy(load_event(f"deploy-step-{name}"))
    *parents, last = path.split(".")
    target = event
    for part in parents:
        target = target[part]
    if value is MISSING:
        del target[last]
    else:
        target[last] = value
    return event


def rows() -> list[tuple[str, str, Any, str]]:
    """(step, path, value, the field InvalidRequest must name)."""
    table: list[tuple[str, str, Any, str]] = []
    for step in LOCKED_STEPS:
        table += [
            (step, "input", MISSING, "input"), (step, "input", "StackFlowAPI", "input"),
            (step, "execution_id", MISSING, "execution_id"),
            (step, "execution_id", 42, "execution_id"),
            (step, "input.function_name", MISSING, "input.function_name"),
            (step, "input.function_name", ["StackFlowAPI"], "input.function_name"),
            (step, "input.artifact", "s3://bucket/key", "input.artifact"),
            (step, "input.artifact.sha256", 7, "input.artifact.sha256"),
            (step, "input.strategy", 10, "input.strategy"),
            (step, "input.alarms", {"name": "x"}, "input.alarms"),
            (step, "input.health.error_threshold", "zero", "input.health.error_threshold"),
        ]
    for step in ("smoke", "shift", "health", "promote"):
        table += [
            (step, "publish", MISSING, "publish"), (step, "publish", [], "publish"),
            (step, "publish.version", MISSING, "publish.version"),
            (step, "publish.version", "$LATEST", "publish.version"),
            (step, "publish.version", True, "publish.version"),
            (step, "publish.version", 7.5, "publish.version"),
        ]
    for step in ("shift", "rollback"):
        table += [
            (step, "lock", "held", "lock"),
            (step, "lock.holder", MISSING, "lock.holder"),
            (step, "lock.expires_at", 3600, "lock.expires_at"),
            (step, "lock.previous_version", MISSING, "lock.previous_version"),
            (step, "lock.previous_version", "$LATEST", "lock.previous_version"),
            (step, "lock.started_at", None, "lock.started_at"),
        ]
    for step in ("shift", "health"):
        table += [
            (step, "shift", "first", "shift"),
            (step, "shift.index", MISSING, "shift.index"),
            (step, "shift.index", "zero", "shift.index"),
            (step, "shift.index", -1, "shift.index"),
            (step, "shift.weight", "heavy", "shift.weight"),
            (step, "shift.weight", 1.5, "shift.weight"),
            (step, "shift.wait_seconds", -5, "shift.wait_seconds"),
            (step, "shift.done", "no", "shift.done"),
            (step, "shift.started_at", MISSING, "shift.started_at"),
            (step, "shift.started_at", "yesterday", "shift.started_at"),
            (step, "shift.shifted_at", 1717243230, "shift.shifted_at"),
            (step, "shift.shifted_at", "2025-06-01 12:00", "shift.shifted_at"),
            (step, "shift.preexisting_alarms", "StackFlowAPI-dev-errors",
             "shift.preexisting_alarms"),
            (step, "shift.preexisting_alarms", [1], "shift.preexisting_alarms"),
            (step, "shift.preexisting_since", ["x"], "shift.preexisting_since"),
            (step, "shift.preexisting_since", {"StackFlowAPI-dev-errors": 1},
             "shift.preexisting_since.StackFlowAPI-dev-errors"),
        ]
    table += [
        ("shift", "lock", MISSING, "lock"),
        ("health", "shift", MISSING, "shift"),
        ("publish", "upload", MISSING, "upload"),
        ("publish", "upload", "done", "upload"),
        ("publish", "upload.code_sha256", MISSING, "upload.code_sha256"),
        ("publish", "upload.code_sha256", 7, "upload.code_sha256"),
        ("publish", "upload.revision_id", 7, "upload.revision_id"),
        ("rollback", "lock", MISSING, "lock"),  # the sample shifted: the lock is needed
        ("record", "error", "boom", "error"),
        ("record", "publish.version", "latest", "publish.version"),
        # RecordFailure reads what this execution applied from $.schema_after
        ("record", "schema_after", "status", "schema_after"),
        ("record", "schema_after.applied", "4", "schema_after.applied"),
        ("record", "schema_after.applied", [7], "schema_after.applied[0]"),
        ("record", "schema_after.applied",
         [{"version": "four", "applied_by": "release-abc123"}], "schema_after.applied[0]"),
        ("record", "schema_before.current_version", "three",
         "schema_before.current_version"),
        ("approval_request", "task_token", MISSING, "task_token"),
        ("approval_request", "task_token", 7, "task_token"),
        ("approval_request", "document", "doc", "document"),
        ("approval_request", "document.execution_id", MISSING, "execution_id"),
        ("approval_request", "document.input", MISSING, "input"),
        ("approval_request", "document.publish.version", "$LATEST", "publish.version"),
        ("validate", "input", MISSING, "input"),
        ("validate", "input", [], "input"),
        ("validate", "input.artifact", MISSING, "input.artifact"),
        ("validate", "input.artifact.bucket", 7, "input.artifact.bucket"),
    ]
    return table


@pytest.mark.parametrize(("step", "path", "value", "field"), rows(),
                         ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_malformed_document_names_the_field_before_any_aws_call(
        offline: DeploySteps, step: str, path: str, value: Any, field: str) -> None:
    # GIVEN the step's sample document with one field missing or of the wrong type
    event = broken(step, path, value)
    # WHEN its handler runs
    with pytest.raises(InvalidRequest) as info:
        getattr(offline, step)(event, FakeContext())
    # THEN InvalidRequest names exactly that field (the offline clients prove no AWS
    # call came first)
    assert info.value.field == field
    assert info.value.error_type == "InvalidRequest"


def test_every_step_of_the_contract_has_rows() -> None:
    # GIVEN the table / THEN no handler of the contract is left out of it
    assert {row[0] for row in rows()} == {"validate", "approval_request", *LOCKED_STEPS}


@pytest.mark.parametrize("step", ["validate", "approval_request", *LOCKED_STEPS])
def test_a_payload_that_is_not_an_object_is_invalid_request(offline: DeploySteps,
                                                            step: str) -> None:
    # GIVEN a payload that is a JSON array / WHEN any handler runs / THEN it names it
    with pytest.raises(InvalidRequest) as info:
        getattr(offline, step)(["not", "a", "document"], FakeContext())
    assert info.value.field == "event"
