"""``stackflow history`` and ``stackflow rollback-alias`` against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from deploy_steps import handler
from moto import mock_aws
from stackflow.cli.main import main

from tests.support.deploy_fakes import (
    ALIAS,
    EXECUTION,
    FUNCTION,
    TABLE,
    MotoWorld,
    execution_input,
    run_state_machine,
)


@pytest.fixture
def world(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoWorld]:
    monkeypatch.setenv("DEPLOY_TABLE", TABLE)
    with mock_aws():
        created = MotoWorld.create()
        handler.use_dependencies(created.deps())
        yield created
        handler.use_dependencies(None)


def test_history_lists_deployments_newest_first_with_status_and_versions(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a successful deployment (1 -> 2), then one rolled back by an alarm (2 -> 3)
    run_state_machine(execution_input(world.put_artifact("v2")), world.clock)
    world.clock.advance(60)
    second = EXECUTION.replace("release-1", "release-2")
    run_state_machine(execution_input(world.put_artifact("v3")), world.clock,
                      execution_id=second, on_bake=lambda doc: world.set_alarm("ALARM"))
    capsys.readouterr()
    # WHEN an operator asks for the history as JSON
    assert main(["history", FUNCTION, "--json"]) == 0
    deployments = json.loads(capsys.readouterr().out)["deployments"]
    # THEN the newest comes first, with its status, versions and error
    assert [(d["execution_id"], d["status"], d["previous_version"], d["new_version"])
            for d in deployments] == [(second, "ROLLED_BACK", "2", "3"),
                                      (EXECUTION, "SUCCEEDED", "1", "2")]
    assert deployments[0]["error"]["type"] == "CanaryUnhealthy"
    # AND the text form shows one line per deployment
    assert main(["history", FUNCTION]) == 0
    lines = capsys.readouterr().out.splitlines()
    newest, older = lines
    assert "ROLLED_BACK" in newest
    assert "2 -> 3" in newest
    assert "release-2" in newest
    assert "SUCCEEDED" in older
    assert "1 -> 2" in older


def test_rollback_alias_returns_to_the_version_the_last_deployment_replaced(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN version 2 promoted by a deployment from version 1
    run_state_machine(execution_input(world.put_artifact("v2")), world.clock)
    assert world.alias() == ("2", {})
    capsys.readouterr()  # the handlers' logs
    # WHEN the operator rolls the alias back without naming a version
    assert main(["rollback-alias", FUNCTION, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # THEN PROD points at 1 again with no routing config
    assert world.alias() == ("1", {})
    assert result["version"] == "1"
    assert result["before"] == {"version": "2", "routing": {}}


def test_rollback_alias_to_an_explicit_version_clears_a_stuck_canary(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an alias left weighted (a dead execution's canary)
    world.lam.publish_version(FunctionName=FUNCTION)
    world.lam.update_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="1",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    # WHEN rolled back to 1 explicitly
    assert main(["rollback-alias", FUNCTION, "--alias", ALIAS, "--to", "1"]) == 0
    # THEN no weight is left, and the output says what it was
    assert world.alias() == ("1", {})
    assert "was 1, routing 2: 30%" in capsys.readouterr().out


def test_rollback_alias_without_any_record_asks_for_a_version(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no deployment recorded / WHEN rolled back without --to
    # THEN it fails with ResourceNotFound and changes nothing
    assert main(["rollback-alias", FUNCTION]) == 1
    assert "ResourceNotFound" in capsys.readouterr().err
    assert world.alias() == ("1", {})
