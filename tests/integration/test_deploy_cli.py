"""``stackflow history`` and ``stackflow rollback-alias`` against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto import mock_aws
from stackflow.deploy.steps import run
from stackflow_tools.cli.main import main

from tests.support.deploy_fakes import (
    ALIAS,
    EXECUTION,
    FUNCTION,
    TABLE,
    FakeContext,
    MotoWorld,
    execution_input,
    run_state_machine,
    zip_bytes,
)


@pytest.fixture
def world(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoWorld]:
    monkeypatch.setenv("DEPLOY_TABLE", TABLE)
    with mock_aws():
        created = MotoWorld.create()
        yield created


def test_history_lists_deployments_newest_first_with_status_and_versions(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a successful deployment (1 -> 2), then one rolled back by an alarm (2 -> 3)
    run_state_machine(execution_input(world.put_artifact("v2")), world)
    world.clock.advance(60)
    second = EXECUTION.replace("release-1", "release-2")
    run_state_machine(execution_input(world.put_artifact("v3")), world,
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
    # AND the text form is a table: a header, one row per deployment (the rolled-back
    # one followed by its error), columns aligned under the header
    assert main(["history", FUNCTION]) == 0
    now, header, newest, error, older = capsys.readouterr().out.splitlines()
    # (first, where the alias routes traffic now, read from the alias itself)
    assert now == "now  StackFlowAPI:PROD serves version 2 (100%)"
    assert header.split() == ["STARTED", "STATUS", "VERSION", "COMMIT", "DURATION",
                              "EXECUTION"]
    # (the alarm fired at the first check of the bake: rolled back 30 s after the shift)
    assert newest.split() == [deployments[0]["started_at"], "ROLLED_BACK", "2", "->", "3",
                              "abc123", "30s", "release-2"]
    assert error.startswith("  CanaryUnhealthy: StackFlowAPI:PROD canary unhealthy")
    assert older.split() == [deployments[1]["started_at"], "SUCCEEDED", "1", "->", "2",
                             "abc123", "5m", "00s", "release-1"]
    for column in ("STATUS", "VERSION", "COMMIT", "DURATION", "EXECUTION"):
        at = header.index(column)
        for row in (newest, older):
            assert row[at - 2:at] == "  "
            assert row[at] != " "


def test_history_says_running_for_a_deployment_in_progress_and_shows_aliases(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a deployment that has taken its lock and is still going
    artifact = world.put_artifact("v2")
    doc = {"input": world.steps.validate({"input": execution_input(artifact)}, FakeContext()),
           "execution_id": EXECUTION}
    world.steps.lock(doc, FakeContext())
    capsys.readouterr()
    # WHEN the history of every alias is listed
    assert main(["history", FUNCTION, "--all-aliases"]) == 0
    now, header, row = capsys.readouterr().out.splitlines()
    # THEN the alias's routing comes first, then the row names the alias, has no new
    # version yet, and is "running"
    assert now == "now  StackFlowAPI:PROD serves version 1 (100%)"
    assert header.split()[:2] == ["ALIAS", "STARTED"]
    assert row.split()[0] == ALIAS
    assert row.split()[2:7] == ["IN_PROGRESS", "1", "->", "-", "abc123"]
    assert row.split()[7] == "running"


def test_rollback_alias_returns_to_the_version_the_last_deployment_replaced(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN version 2 promoted by a deployment from version 1
    run_state_machine(execution_input(world.put_artifact("v2")), world)
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
    # THEN no weight is left, and the output says what it did and what it undid
    assert world.alias() == ("1", {})
    assert capsys.readouterr().out.strip() == (
        "rolled back StackFlowAPI:PROD to version 1 with 100% of the traffic "
        "(was version 1, routing 2: 30%); one UpdateAlias, routing config cleared")


def test_rollback_alias_skips_a_deployment_that_already_rolled_back(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 1 -> 2 promoted, then 2 -> 3 rolled back by its canary (PROD is on 2)
    run_state_machine(execution_input(world.put_artifact("v2")), world)
    world.clock.advance(60)
    run_state_machine(execution_input(world.put_artifact("v3")), world,
                      execution_id=EXECUTION.replace("release-1", "release-2"),
                      on_bake=lambda doc: world.set_alarm("ALARM"))
    assert world.alias() == ("2", {})
    capsys.readouterr()
    # WHEN the operator rolls back without naming a version
    assert main(["rollback-alias", FUNCTION]) == 0
    # THEN PROD goes back to 1, the version the last deployment that moved it replaced
    # (the rolled-back one's "previous" is where PROD already is)
    assert world.alias() == ("1", {})
    assert capsys.readouterr().out.startswith(
        "rolled back StackFlowAPI:PROD to version 1 with 100% of the traffic (was version 2)")


def test_rollback_alias_without_any_record_asks_for_a_version(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN no deployment recorded / WHEN rolled back without --to
    # THEN it fails with ResourceNotFound and changes nothing
    assert main(["rollback-alias", FUNCTION]) == 1
    assert "ResourceNotFound" in capsys.readouterr().err
    assert world.alias() == ("1", {})


def test_unlock_force_frees_a_dead_executions_lock_and_history_shows_who(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a deployment that took its lock, then died (its execution is gone)
    artifact = world.put_artifact("v2")
    doc = {"input": world.steps.validate({"input": execution_input(artifact)}, FakeContext()),
           "execution_id": EXECUTION}
    world.steps.lock(doc, FakeContext())
    assert world.lock_item() is not None
    capsys.readouterr()
    # WHEN an operator forces the lock without a reason / THEN argparse refuses
    with pytest.raises(SystemExit):
        main(["unlock", FUNCTION, "--force"])
    capsys.readouterr()
    # WHEN with one
    assert main(["unlock", FUNCTION, "--force", "--reason", "CI job cancelled",
                 "--by", "carol"]) == 0
    # THEN the lock is gone, and the deployment's history line says who and why
    assert world.lock_item() is None
    assert "lock of" in capsys.readouterr().out
    assert main(["history", FUNCTION]) == 0
    history = capsys.readouterr().out
    assert "unlock by carol at" in history
    assert "CI job cancelled" in history


WORKER = "StackFlowOrdersWorker"


def running_release(world: MotoWorld) -> None:
    """The API and a worker, both locked by one release and moved to version 2."""
    role = world.lam.get_function(FunctionName=FUNCTION)["Configuration"]["Role"]
    world.lam.create_function(FunctionName=WORKER, Runtime="python3.11", Role=role,
                              Handler="app.handler", Code={"ZipFile": zip_bytes("w1")})
    world.lam.publish_version(FunctionName=WORKER)
    world.lam.create_alias(FunctionName=WORKER, Name=ALIAS, FunctionVersion="1")
    artifact = world.put_artifact("v2")
    release = {"functions": [{"function_name": name, "alias": ALIAS, "artifact": artifact}
                             for name in (FUNCTION, WORKER)],
               "migrations": {"enabled": False}, "strategy": {"preset": "AllAtOnce"}}
    deps = world.deps()
    run("lock", {"input": run("validate", {"input": release}, deps),
                 "execution_id": EXECUTION}, deps)
    for name, source in ((FUNCTION, "v2"), (WORKER, "w2")):
        world.lam.update_function_code(FunctionName=name, ZipFile=zip_bytes(source))
        world.lam.publish_version(FunctionName=name)
        world.lam.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion="2")


def test_rollback_alias_release_needs_no_function_and_history_shows_the_release(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a running two-function release that moved both aliases to version 2
    running_release(world)
    capsys.readouterr()
    # WHEN the operator rolls the release back by its execution name alone
    assert main(["rollback-alias", "--release", "release-1", "--by", "alice"]) == 0
    out = capsys.readouterr().out.splitlines()
    # THEN both aliases are back on version 1, and it says where it is recorded
    for name in (FUNCTION, WORKER):
        assert world.lam.get_alias(FunctionName=name, Name=ALIAS)["FunctionVersion"] == "1"
    assert out[-1] == "recorded on release release-1"
    # AND the API's history shows the release below its row, read from the release
    # record, with the operator's rollback
    assert main(["history", FUNCTION]) == 0
    history = capsys.readouterr().out.splitlines()
    assert "  release of 2 functions (IN_PROGRESS):" in history
    assert f"    {WORKER}:{ALIAS}  1 -> -  IN_PROGRESS" in history
    assert any(line.startswith("  rollback-alias --release by alice at ")
               for line in history)


def test_rollback_alias_release_refuses_a_function_outside_the_release(
        world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a running release / WHEN the operator names another function with it
    running_release(world)
    capsys.readouterr()
    # THEN nothing moves and the error names the function argument
    assert main(["rollback-alias", "Billing", "--release", EXECUTION]) == 1
    assert "Billing is not a function of release" in capsys.readouterr().err
    assert world.lam.get_alias(FunctionName=WORKER, Name=ALIAS)["FunctionVersion"] == "2"
    # AND without --release a function is still required
    assert main(["rollback-alias"]) == 1
    assert "InvalidRequest" in capsys.readouterr().err
