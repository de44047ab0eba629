"""A bake is checked while it runs: HealthCheck counts its checks and watches the alias."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.deploy.ports import AlarmState
from stackflow.deploy.steps import run
from stackflow.errors import AliasChangedExternally, CanaryUnhealthy

from tests.support.deploy_fakes import FakeAlarms, FakeFunctions, InMemoryStore, fake_deps
from tests.support.events import load_event


def document() -> dict[str, Any]:
    """The sample HealthCheck input: a 10 % canary of 7 over 6, ten checks, none yet."""
    doc: dict[str, Any] = copy.deepcopy(load_event("deploy-step-health"))
    doc.pop("health", None)
    return doc


def quiet(errors: float = 0) -> FakeAlarms:
    """The sample's alarm, in OK; ``errors`` of the new version in the window."""
    return FakeAlarms({"StackFlowAPI-dev-errors": AlarmState("OK")}, errors=errors)


def canary(doc: dict[str, Any]) -> FakeFunctions:
    """The alias exactly as the document's Shift left it."""
    functions = FakeFunctions()
    functions.set("6", {"7": 0.1})
    doc["shift"]["revision_id"] = functions.alias.revision_id
    return functions


def test_checks_count_up_to_the_plans_number_then_the_bake_is_done() -> None:
    # GIVEN a healthy canary and a Shift that planned ten checks
    doc, store = document(), InMemoryStore()
    deps = fake_deps(functions=canary(doc), store=store, alarms=quiet())
    # WHEN HealthCheck runs as the state machine's loop runs it
    seen = []
    while True:
        doc["health"] = run("health", doc, deps)
        seen.append((doc["health"]["check"], doc["health"]["bake_done"]))
        if doc["health"]["bake_done"]:
            break
    # THEN it ran ten times, the last one ending the bake
    assert seen == [(i, i == 9) for i in range(10)]
    # AND the record holds one health outcome for the bake, not one per check
    steps = store.records[("StackFlowAPI", doc["execution_id"])]["steps"]
    assert [(s["name"], s["detail"]["check"]) for s in steps] == [("health", 9)]


def test_the_next_plan_steps_checks_start_from_zero() -> None:
    doc = document()
    deps = fake_deps(functions=canary(doc), alarms=quiet())
    doc["health"] = {**run("health", doc, deps), "check": 9}
    doc["shift"]["index"] = 1  # the next Shift
    assert run("health", doc, deps)["check"] == 0


def test_the_first_check_with_errors_fails_the_canary_at_once() -> None:
    # GIVEN errors of the new version 30 s into a 5-minute bake
    doc = document()
    deps = fake_deps(functions=canary(doc), alarms=quiet(errors=3))
    # WHEN the first check runs / THEN it fails there: no waiting out the bake
    with pytest.raises(CanaryUnhealthy) as info:
        run("health", doc, deps)
    assert (info.value.details["check"], info.value.details["bake_done"]) == (0, False)


def test_a_check_after_someone_else_moved_the_alias_stops_the_deployment() -> None:
    # GIVEN an operator rolled the alias back during the bake
    doc = document()
    functions = canary(doc)
    functions.set("6", {})
    # WHEN the next check runs / THEN the deployment stops before it would move anything
    with pytest.raises(AliasChangedExternally, match="version 6 \\(100%\\)"):
        run("health", doc, fake_deps(functions=functions))
