"""Validate: the execution input becomes the normalized document every step reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.deploy.model import parse_input
from stackflow.deploy.steps import run
from stackflow.errors import InvalidRequest

from tests.support.deploy_fakes import offline_deps, sha256_b64
from tests.support.events import load_event

SHA = sha256_b64(b"build")


def minimal() -> dict[str, Any]:
    return {"function_name": "StackFlowAPI",
            "artifact": {"bucket": "artifacts", "key": "api.zip", "sha256": SHA}}


def test_sample_execution_input_normalizes_with_its_canary_plan() -> None:
    # GIVEN the documented execution input (events/deploy-execution.json)
    execution = load_event("deploy-execution")
    # WHEN normalized
    normalized = parse_input(execution).to_dict()
    # THEN everything given is kept and the preset is resolved to its plan
    assert normalized["artifact"] == execution["artifact"]
    assert normalized["smoke"] == {"cases": [{**case, "timeout_seconds": 30}
                                             for case in execution["smoke"]["cases"]]}
    assert normalized["alarms"] == ["StackFlowAPI-dev-errors"]
    assert normalized["strategy"] == {
        "preset": "Canary10Percent5Minutes",
        "plan": {"type": "canary", "steps": [
            {"weight": 0.1, "wait_seconds": 300, "checks": 10, "check_seconds": 30},
            {"weight": 1.0, "wait_seconds": 0, "checks": 0, "check_seconds": 0}]}}


def test_every_optional_field_is_present_after_validate() -> None:
    # GIVEN only the required fields
    # WHEN the Validate step runs
    normalized = run("validate", {"input": minimal(), "execution_id": "arn:x"}, deps=offline_deps())
    # THEN later states can read every field without a default of their own
    assert normalized == {
        "function_name": "StackFlowAPI", "alias": "PROD",
        "artifact": {"bucket": "artifacts", "key": "api.zip", "version_id": None, "sha256": SHA},
        "migrations": {"enabled": True, "target": None},
        "smoke": {"cases": []},
        "strategy": {"preset": "AllAtOnce",
                     "plan": {"type": "all_at_once",
                              "steps": [{"weight": 1.0, "wait_seconds": 0, "checks": 0,
                                         "check_seconds": 0}]}},
        "alarms": [], "health": {"error_threshold": 0, "block_on_preexisting_alarm": False,
                                 "check_interval_seconds": 30},
        "approval": {"required": False}, "ci": {},
    }


@pytest.mark.parametrize("name", ["deploy-execution", "deploy-step-validate"])
def test_normalizing_twice_changes_nothing(name: str) -> None:
    # GIVEN a normalized input (a retried Validate sees its own output's shape)
    event = load_event(name)
    once = parse_input(event.get("input", event)).to_dict()
    # WHEN normalized again / THEN it is identical
    assert parse_input(once).to_dict() == once


def test_smoke_sources_from_s3_and_a_directory_are_kept() -> None:
    # GIVEN smoke cases that live in an S3 object, or in a folder
    s3_input = {**minimal(), "smoke": {"s3": {"bucket": "b", "key": "smoke.json"}}}
    dir_input = {**minimal(), "smoke": {"dir": "events/smoke"}}
    # WHEN normalized / THEN the source stays a source (read when Smoke runs)
    assert parse_input(s3_input).to_dict()["smoke"] == {
        "s3": {"bucket": "b", "key": "smoke.json", "version_id": None}}
    assert parse_input(dir_input).to_dict()["smoke"] == {"dir": "events/smoke"}


def mutate(path: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(load_event("deploy-execution"))
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(("path", "value", "field"), [
    ("function_name", KeyError, "input.function_name"),
    ("function_name", 7, "input.function_name"),
    ("alias", "$LATEST", "input.alias"),
    ("alias", "12", "input.alias"),
    ("artifact", KeyError, "input.artifact"),
    ("artifact.bucket", KeyError, "input.artifact.bucket"),
    ("artifact.sha256", "not base64!", "input.artifact.sha256"),
    ("artifact.sha256", "YWJj", "input.artifact.sha256"),
    ("artifact.md5", "x", "input.artifact.md5"),
    ("migrations.enabled", "yes", "input.migrations.enabled"),
    ("migrations.target", -1, "input.migrations.target"),
    ("smoke", {"cases": [], "dir": "x"}, "input.smoke"),
    ("smoke", {"cases": [{"payload": {}}]}, "input.smoke.cases[0].name"),
    ("smoke", {"cases": [{"name": "a", "expect": {"status_code": 42}}]},
     "input.smoke.cases[0].expect.status_code"),
    ("smoke", {"cases": [{"name": "a"}, {"name": "a"}]}, "input.smoke.cases[1].name"),
    ("smoke", {"s3": {"bucket": "b"}}, "input.smoke.s3.key"),
    ("strategy", {"preset": "Canary50Percent"}, "input.strategy.preset"),
    ("alarms", "StackFlowAPI-errors", "input.alarms"),
    ("alarms", ["a", ""], "input.alarms[1]"),
    ("alarms", ["a", "a"], "input.alarms"),
    ("health.error_threshold", -1, "input.health.error_threshold"),
    ("health.block_on_preexisting_alarm", 1, "input.health.block_on_preexisting_alarm"),
    ("approval.required", "no", "input.approval.required"),
    ("ci", "abc123", "input.ci"),
    ("colour", "blue", "input.colour"),
])
def test_malformed_input_is_invalid_request_naming_the_field(path: str, value: Any,
                                                             field: str) -> None:
    # GIVEN the sample input with one field broken
    broken = mutate(path, value)
    # WHEN validated / THEN InvalidRequest names exactly that field
    with pytest.raises(InvalidRequest) as info:
        parse_input(broken)
    assert info.value.field == field


def test_validate_without_an_input_names_it() -> None:
    # GIVEN a Validate payload without the wrapped execution input
    # WHEN run / THEN the missing field is "input"
    with pytest.raises(InvalidRequest) as info:
        run("validate", {"execution_id": "arn:x"}, deps=offline_deps())
    assert info.value.field == "input"
