"""The handler module: the contract's function names, typed errors, a cheap import."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
from deploy_steps import handler
from stackflow import env
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.deploy.deps import DeploySettings, Deps, load_settings
from stackflow.errors import ConfigurationError, InvalidRequest

from tests.support.deploy_fakes import (
    DeploySteps,
    FakeClock,
    FakeContext,
    InMemoryStore,
    ScriptedInvoker,
)
from tests.support.events import load_event

CONTRACT = ("validate", "lock", "upload", "snapshot", "publish", "smoke", "shift",
            "health", "approval_request", "promote", "rollback", "record", "unlock")


@pytest.fixture
def offline() -> DeploySteps:
    """The step handlers over dependencies whose AWS side fails any call: bad input must
    fail before AWS."""
    clock = FakeClock()
    return DeploySteps(Deps(
        settings=DeploySettings(table="unused"), functions=LambdaFunctions(_NoClient()),  # type: ignore[arg-type]
        invoker=ScriptedInvoker(), store=InMemoryStore(), alarms=CloudWatchAlarms(_NoClient()),  # type: ignore[arg-type]
        read_object=lambda b, k, v: b"", now=clock.now, sleep=clock.sleep))


class _NoClient:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected AWS call {name}")


def test_every_state_of_the_contract_has_its_handler_function() -> None:
    # GIVEN the handler names docs/architecture.md wires into the state machine
    # THEN each is a function of the module
    for name in CONTRACT:
        assert callable(getattr(handler, name)), name


def test_each_handler_of_the_module_runs_its_own_step_wired_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the variable the template sets on every step function
    monkeypatch.setenv(env.DEPLOY_TABLE, "deployments")
    for name in CONTRACT:
        # WHEN the module's handler gets an empty document (it fails before any AWS call)
        with pytest.raises(InvalidRequest):
            getattr(handler, name)({}, FakeContext())
        # THEN it ran its own step: the step's name is on its log lines
        assert handler.logger.get_current_keys()["step"] == name


def test_a_handler_without_its_table_setting_raises_configuration_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no DEPLOY_TABLE / WHEN a step runs
    monkeypatch.delenv(env.DEPLOY_TABLE, raising=False)
    # THEN the errorType Lambda reports is ConfigurationError, naming the variable
    with pytest.raises(ConfigurationError, match="DEPLOY_TABLE"):
        handler.lock(doc("lock"), FakeContext())


def doc(name: str, *drop: str, **replace: Any) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_event(f"deploy-step-{name}"))
    for key in drop:
        event.pop(key)
    event.update(replace)
    return event


@pytest.mark.parametrize(("step", "event", "field"), [
    ("validate", ["not", "an", "object"], "event"),
    ("lock", doc("lock", "execution_id"), "execution_id"),
    ("lock", doc("lock", "input"), "input"),
    ("upload", doc("upload", input={"function_name": "f"}), "input.artifact"),
    ("publish", doc("publish", "upload"), "upload"),
    ("smoke", doc("smoke", publish={"version": "$LATEST"}), "publish.version"),
    ("shift", doc("shift", "lock"), "lock"),
    ("shift", doc("health", shift={"index": 1, "started_at": "2025-06-01T12:00:30Z"}),
     "shift.index"),
    ("health", doc("shift"), "shift"),
    ("health", doc("health", shift={"index": "zero"}), "shift.index"),
    ("approval_request", {"document": doc("promote")}, "task_token"),
    ("promote", doc("promote", "publish"), "publish"),
    ("rollback", doc("rollback", lock={"holder": "x"}), "lock.expires_at"),
    ("record", doc("record-failure", error="boom"), "error"),
    ("unlock", doc("unlock", "execution_id"), "execution_id"),
])
def test_malformed_input_raises_invalid_request_naming_the_field(
        offline: DeploySteps, step: str, event: Any, field: str) -> None:
    # GIVEN a state's payload with one part missing or wrong
    # WHEN its handler runs / THEN InvalidRequest names the field, before any AWS call
    with pytest.raises(InvalidRequest) as info:
        getattr(offline, step)(event, FakeContext())
    assert info.value.field == field


def test_missing_table_setting_names_the_variable() -> None:
    # GIVEN no DEPLOY_TABLE in the environment / WHEN settings load
    # THEN ConfigurationError names it (not a KeyError at import or first use)
    with pytest.raises(ConfigurationError, match="DEPLOY_TABLE"):
        load_settings({})
    assert load_settings({"DEPLOY_TABLE": "t", "DEPLOY_LOCK_TTL_SECONDS": "60"}) == \
        DeploySettings(table="t", lock_ttl_seconds=60)


def test_importing_the_handler_module_loads_no_boto3() -> None:
    # GIVEN a fresh interpreter (a cold start)
    code = "import sys, deploy_steps.handler; print('boto3' in sys.modules)"
    # WHEN the handler module is imported
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    # THEN no boto3 (nor a client) was loaded: that waits for the first AWS call
    assert out.strip() == "False"
