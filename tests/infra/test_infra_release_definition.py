"""The multi-function release path of the definition (issue 16), from plain ARNs."""

from __future__ import annotations

from typing import Any

from tests.infra.test_infra_definition import definition, successors


def states_of(defn: dict[str, Any]) -> dict[str, Any]:
    return dict(defn["States"])


def release_path(states: dict[str, Any]) -> list[str]:
    """The states a two-step release visits when nothing fails (migrations on)."""
    path, name, shifts = [], "ReleaseLock", 0
    while states[name]["Type"] not in ("Succeed", "Fail"):
        path.append(name)
        state = states[name]
        if name == "ReleaseShiftDone":
            shifts += 1
            name = state["Choices"][0]["Next"] if shifts == 2 else state["Default"]
        elif name == "ReleaseApprovalRequired":
            name = state["Default"]
        elif state["Type"] == "Choice":
            name = state["Choices"][0]["Next"]
        else:
            name = state["Next"]
    return [*path, name]


def test_a_functions_list_takes_the_release_path_after_validate() -> None:
    kind = states_of(definition())["ReleaseKind"]
    assert kind["Choices"] == [{"Variable": "$.input.functions", "IsPresent": True,
                                "Next": "ReleaseLock"}]
    assert kind["Default"] == "Lock"


def test_the_release_runs_migrate_once_then_maps_per_function() -> None:
    assert release_path(states_of(definition())) == [
        "ReleaseLock", "ReleaseMigrationsEnabled", "ReleaseSchemaBefore", "ReleaseMigrate",
        "ReleaseMigrationsComplete", "ReleaseDeliver", "ReleaseShift", "ReleaseShifted",
        "ReleaseShiftDone", "ReleaseBake", "ReleaseHealthCheck", "ReleaseChecked",
        "ReleaseBakeDone", "ReleaseShift", "ReleaseShifted", "ReleaseShiftDone",
        "ReleaseApprovalRequired", "ReleasePromote", "ReleaseContractEnabled",
        "ReleaseMigrateContract", "ReleaseContractComplete", "ReleaseRecord",
        "ReleaseUnlock", "ReleaseDeployed"]


def test_the_release_migrates_expand_first_and_contract_after_every_promote() -> None:
    # GIVEN the release path's patcher calls
    states = states_of(definition())
    # THEN Migrate (before any function publishes) applies the expand phase only, on a
    # baseline SchemaBefore took; the contract phase runs after the promote Map, and its
    # failure is caught into Record (the release stays promoted)
    assert states["ReleaseSchemaBefore"]["Parameters"] == {"action": "status",
                                                           "baseline": True}
    assert states["ReleaseMigrate"]["Parameters"]["phase"] == "expand"
    contract = states["ReleaseMigrateContract"]
    assert contract["Parameters"]["phase"] == "contract"
    assert contract["Catch"] == [{"ErrorEquals": ["States.ALL"],
                                  "ResultPath": "$.migrate_contract_error",
                                  "Next": "ReleaseRecord"}]
    assert states["ReleasePromote"]["Next"] == "ReleaseContractEnabled"


def test_a_failed_release_reports_the_rollback_impact_before_its_record() -> None:
    # GIVEN the release's failure path after the schema was read again
    states = states_of(definition())
    # THEN a baseline leads to the patcher's rollback dry run, whose result (or error)
    # the failure record reads; without one, straight to the record
    assert states["ReleaseSchemaAfter"]["Next"] == "ReleaseBaselineTaken"
    assert states["ReleaseBaselineTaken"]["Choices"][0]["Next"] == "ReleaseRollbackImpact"
    assert states["ReleaseBaselineTaken"]["Default"] == "ReleaseRecordFailure"
    impact = states["ReleaseRollbackImpact"]
    assert impact["Parameters"] == {"action": "rollback", "dry_run": True,
                                    "target.$": "$.schema_before.baseline.version",
                                    "baseline.$": "$.schema_before.baseline"}
    assert impact["ResultPath"] == "$.rollback_impact"
    assert impact["Next"] == "ReleaseRecordFailure"
    assert impact["Catch"][0]["Next"] == "ReleaseRecordFailure"


def test_each_map_is_bounded_and_any_failure_rolls_every_alias_back() -> None:
    states = states_of(definition())
    maps = {name: s for name, s in states.items() if s["Type"] == "Map"}
    assert set(maps) == {"ReleaseDeliver", "ReleaseShift", "ReleaseHealthCheck",
                         "ReleasePromote"}
    for state in maps.values():
        assert state["MaxConcurrency"] == 5
        assert state["ResultPath"] == "$.targets"
        assert state["Catch"][0]["Next"] == "ReleaseRollback"
    assert maps["ReleaseDeliver"]["ItemsPath"] == "$.lock.targets"
    inner = maps["ReleaseDeliver"]["ItemProcessor"]["States"]
    assert list(inner) == ["TargetUpload", "TargetPublish", "TargetSmoke", "TargetDelivered"]
    # The smoke cases' detail stays in the record; the state keeps what later states read.
    assert set(inner["TargetDelivered"]["Parameters"]) == {
        "input.$", "execution_id.$", "lock.$", "publish.$"}


def test_every_transition_of_the_release_path_exists() -> None:
    states = states_of(definition(approval_always=True))
    for name, state in states.items():
        assert successors(state) <= set(states), name
        for inner_name, inner in state.get("ItemProcessor", {}).get("States", {}).items():
            assert successors(inner) <= set(state["ItemProcessor"]["States"]), inner_name
    assert states["ReleaseShiftDone"]["Choices"][0]["Next"] == "ReleaseApproval"
    assert states["ReleaseApproval"]["Parameters"]["Payload"]["document.$"] == \
        "$.first.target"


def test_the_failure_path_fails_with_the_verdict_naming_every_function() -> None:
    states = states_of(definition())
    assert states["ReleaseUnlockAfterFailure"]["Next"] == "ReleaseVerdict"
    assert states["ReleaseRolledBackFailed"]["CausePath"] == "$.rollback.verdict.Cause"
    assert states["ReleaseFailed"]["CausePath"] == "$.error.Cause"
    assert states["ReleaseLock"]["Catch"][0]["Next"] == "ReleaseLockFailed"
