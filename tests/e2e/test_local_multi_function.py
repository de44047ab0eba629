"""One release, many functions (issue 16), end to end through the synthesized definition.

One local environment and one test (so pytest-xdist keeps the scenarios on one worker,
in order; each starts from where the previous one left both aliases): StackFlowAPI and
the example's orders worker, released together by one execution with
``"functions": [...]``.

* both promoted together: both aliases on their new versions, one release record;
* the worker's canary fails: both aliases back on their previous versions;
* the API's smoke test fails: the worker is never shifted;
* an operator puts the worker's alias back by hand mid-bake: the API still rolls back,
  and the record names both outcomes.

The 20-target payload check is ``tests/e2e/test_local_release_scale.py`` (its own local
environment, with 18 more functions an operator creates).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from stackflow.adapters import default_client
from stackflow.adapters.dynamodb import DynamoDeployStore
from stackflow_tools.cli import main as cli_main
from stackflow_tools.local.runner import LocalMode

from tests.e2e.local_support import (
    applied_migrations,
    lock_held,
    module_session,
    states_entered,
)

TIMINGS: dict[str, float] = {}
# The first scenario's execution name (`release` names each execution after its release).
FIRST_RELEASE = "multi-1.1.0"


@pytest.fixture(scope="module")
def local(cdk_out: Path, pg_admin_uri: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMode]:
    started = time.monotonic()
    with module_session(cdk_out, pg_admin_uri, tmp_path_factory.mktemp("local")) as mode:
        TIMINGS["start"] = time.monotonic() - started
        yield mode
    print("\nmulti-function e2e timings (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def worker(local: LocalMode) -> str:
    assert local.worker_name is not None, "the template has no orders worker"
    return local.worker_name


def release(local: LocalMode, builds: dict[str, str], name: str,
            during_bake: Callable[[], object] | None = None) -> dict[str, Any]:
    """Run one two-function release; the execution's description plus its ARN."""
    started = time.monotonic()
    document = local.release_input(builds, name)
    hooks = local.local_aws.wait_hooks
    hook = _once_while_shifting(local, during_bake) if during_bake else None
    if hook is not None:
        hooks.append(hook)
    try:
        arn = local.start(document, f"multi-{name}")
        described = dict(local.wait(arn))
    finally:
        if hook is not None:
            hooks.remove(hook)
    TIMINGS[name] = time.monotonic() - started
    described["arn"] = arn
    return described


def _once_while_shifting(local: LocalMode,
                         action: Callable[[], object]) -> Callable[[float], None]:
    done: list[bool] = []

    def hook(nominal_seconds: float) -> None:
        if not done and local.alias_state()[1]:
            done.append(True)
            action()

    return hook


def store(local: LocalMode) -> DynamoDeployStore:
    return DynamoDeployStore(local.table_name(), local.local_aws.client("dynamodb"))


def record_of(local: LocalMode, function: str, execution_arn: str) -> dict[str, Any]:
    found = store(local).get_record(function, execution_arn)
    assert found is not None, f"no record of {function} for {execution_arn}"
    return found


def release_of(local: LocalMode, execution_arn: str) -> dict[str, Any]:
    found = store(local).get_release(execution_arn)
    assert found is not None, f"no release record for {execution_arn}"
    return found


def rollbacks(local: LocalMode, execution_arn: str) -> dict[str, str]:
    return {r["function"]: r["rollback"] for r in release_of(local, execution_arn)["functions"]}


def alias_writes(local: LocalMode, function: str, since: int) -> list[tuple[str, dict[str, float]]]:
    return [(c.version, dict(c.routing)) for c in local.local_aws.alias_changes[since:]
            if c.function_name == function]


def two_functions_are_promoted_together(local: LocalMode, worker: str) -> None:
    # GIVEN both functions on version 1
    mark = len(local.local_aws.alias_changes)
    # WHEN one release ships a good build of each
    run = release(local, {local.function_name: "good", worker: "good"}, "1.1.0")
    # THEN it succeeded and both aliases serve version 2 with no routing left
    assert run["status"] == "SUCCEEDED", run.get("cause")
    for function in (local.function_name, worker):
        assert local.alias_state(function) == ("2", {})
        # AND each alias got the same canary weight, then the promotion
        assert [w for w in alias_writes(local, function, mark)] == [("1", {"2": 0.1}),
                                                                     ("2", {})]
    # AND Migrate ran once for the release; the Maps ran per function
    states = states_entered(local, run["arn"])
    assert states.count("ReleaseMigrate") == 1
    assert states.count("TargetSmoke") == 2
    # AND the contract phase ran once, after every alias was promoted
    assert states.index("ReleasePromote") < states.index("ReleaseMigrateContract") \
        < states.index("ReleaseRecord")
    # AND one release record names both versions and each function's steps
    recorded = release_of(local, run["arn"])
    assert recorded["status"] == "SUCCEEDED"
    assert [(r["function"], r["previous_version"], r["new_version"], r["status"])
            for r in recorded["functions"]] == [(local.function_name, "1", "2", "SUCCEEDED"),
                                                (worker, "1", "2", "SUCCEEDED")]
    assert [s["name"] for s in recorded["functions"][1]["steps"]][:4] == [
        "lock", "upload", "publish", "smoke"]
    # AND each function's record points at it rather than copying it
    for function in (local.function_name, worker):
        assert record_of(local, function, run["arn"])["release"] == run["arn"]
    assert not lock_held(local)


def the_second_functions_canary_fails_and_both_go_back(local: LocalMode,
                                                             worker: str) -> None:
    # WHEN the worker's new build fails every summary under its canary
    run = release(local, {local.function_name: "good", worker: "worker-regression"}, "1.2.0")
    # THEN the release failed on the worker's health and both aliases are back on 2
    assert run["status"] == "FAILED"
    assert run["error"] == "CanaryUnhealthy"
    cause = json.loads(run["cause"])["errorMessage"]
    assert f"{local.function_name}:PROD rolled_back" in cause
    assert f"{worker}:PROD rolled_back" in cause
    for function in (local.function_name, worker):
        assert local.alias_state(function) == ("2", {})
        assert record_of(local, function, run["arn"])["status"] == "ROLLED_BACK"
    # AND the release record holds the error once and both outcomes
    recorded = release_of(local, run["arn"])
    assert (recorded["status"], recorded["error"]["type"]) == ("ROLLED_BACK",
                                                               "CanaryUnhealthy")
    assert set(rollbacks(local, run["arn"]).values()) == {"rolled_back"}


def the_first_smoke_fails_and_the_second_is_never_shifted(local: LocalMode,
                                                               worker: str) -> None:
    mark = len(local.local_aws.alias_changes)
    # WHEN the API's build fails its smoke test
    run = release(local, {local.function_name: "health-regression", worker: "good"},
                  "1.3.0")
    # THEN no alias was written at all, and both stay on version 2
    assert run["error"] == "SmokeTestFailed"
    assert alias_writes(local, worker, mark) == []
    assert alias_writes(local, local.function_name, mark) == []
    assert "ReleaseShift" not in states_entered(local, run["arn"])
    assert local.alias_state(worker) == ("2", {})
    assert rollbacks(local, run["arn"]) == {local.function_name: "untouched",
                                            worker: "untouched"}
    # AND the API's row in the release record shows its failed smoke step and why
    api_steps = release_of(local, run["arn"])["functions"][0]["steps"]
    assert [(s["name"], s["error"]["type"]) for s in api_steps
            if s["outcome"] == "failed"] == [("smoke", "SmokeTestFailed")]


def an_operator_changed_one_alias_and_the_other_rolls_back(local: LocalMode,
                                                                worker: str) -> None:
    lambda_ = local.local_aws.client("lambda")

    def operator_puts_the_worker_back() -> None:
        lambda_.update_alias(FunctionName=worker, Name=local.alias, FunctionVersion="2",
                             RoutingConfig={"AdditionalVersionWeights": {}})

    # WHEN an operator puts the worker's alias back on 2 by hand during the canary
    run = release(local, {local.function_name: "good", worker: "good"}, "1.4.0",
                  during_bake=operator_puts_the_worker_back)
    # THEN the release stopped (the worker's alias changed under it) ...
    assert run["status"] == "FAILED"
    assert run["error"] == "AliasChangedExternally"
    # ... the API went back by its own guarded rollback, the worker stays as set
    assert local.alias_state(local.function_name) == ("2", {})
    assert local.alias_state(worker) == ("2", {})
    assert rollbacks(local, run["arn"]) == {local.function_name: "rolled_back",
                                            worker: "already_previous"}
    cause = json.loads(run["cause"])["errorMessage"]
    assert f"{worker}:PROD already_previous" in cause
    assert not lock_held(local)


def test_two_functions_released_as_one_through_every_outcome(local: LocalMode,
                                                            worker: str) -> None:
    # Each scenario starts where the previous one left both aliases.
    two_functions_are_promoted_together(local, worker)
    the_second_functions_canary_fails_and_both_go_back(local, worker)
    the_first_smoke_fails_and_the_second_is_never_shifted(local, worker)
    an_operator_changed_one_alias_and_the_other_rolls_back(local, worker)
    an_operator_rolls_the_first_release_back_and_sees_the_schema_impact(local, worker)


def an_operator_rolls_the_first_release_back_and_sees_the_schema_impact(
        local: LocalMode, worker: str) -> None:
    # GIVEN the first release (1 -> 2 for both functions, migrations 1-4 applied)
    first = next(r for r in store(local).releases_named(FIRST_RELEASE))
    assert local.alias_state(local.function_name)[0] == "2"
    # WHEN an operator runs `stackflow rollback-alias --release` by its execution name
    default_client.cache_clear()  # the CLI's clients must reach this local AWS
    assert local.stack is not None
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main.main([
            "rollback-alias", "--release", FIRST_RELEASE, "--table", local.table_name(),
            "--by", "oncall-bob",
            "--patcher-function", local.stack.function_by_handler("patcher.handler.handler")])
    # THEN both aliases are back on version 1, and the release record says who did it
    assert code == 0, out.getvalue()
    assert local.alias_state(local.function_name) == ("1", {})
    assert local.alias_state(worker) == ("1", {})
    (note,) = release_of(local, first["execution_id"])["interventions"]
    assert (note["action"], note["by"]) == ("rollback-alias --release", "oncall-bob")
    # AND it says what reverting the release's migrations would destroy (the schema
    # itself stays: alias first, then assess)
    assert "schema (not rolled back): " in out.getvalue()
    assert applied_migrations(local.database_url) == [1, 2, 3, 4]
