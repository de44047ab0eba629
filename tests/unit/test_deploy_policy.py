"""The stage's safety policy: read from the environment, enforced in Validate and Smoke."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stackflow.deploy.model import parse_input
from stackflow.deploy.policy import SafetyPolicy, check_case_count, check_input, load_policy
from stackflow.deploy.steps import run
from stackflow.errors import ConfigurationError, InvalidRequest

from tests.support.deploy_fakes import offline_deps
from tests.support.events import load_event

PROD = SafetyPolicy(allow_no_alarms=False, allow_no_smoke=False, allow_all_at_once=False,
                    stage="prod")


def execution(**fields: Any) -> dict[str, Any]:
    return {**copy.deepcopy(load_event("deploy-execution")), **fields}


@pytest.mark.parametrize(("fields", "field", "switch"), [
    ({"alarms": []}, "input.alarms", "allow_no_alarms"),
    ({"smoke": {"cases": []}}, "input.smoke", "allow_no_smoke"),
    ({"strategy": {"preset": "AllAtOnce"}}, "input.strategy", "allow_all_at_once"),
    ({"strategy": {"type": "all_at_once"}}, "input.strategy", "allow_all_at_once"),
])
def test_prod_refuses_each_safety_switch_in_validate_naming_field_and_policy(
        fields: dict[str, Any], field: str, switch: str) -> None:
    # GIVEN prod's policy and an input that turns one safety off
    document = {"input": execution(**fields), "execution_id": "arn:x"}
    # WHEN Validate runs / THEN it refuses, naming the field, the stage and the switch
    with pytest.raises(InvalidRequest) as info:
        run("validate", document, offline_deps(PROD))
    assert info.value.field == field
    assert "stage prod" in info.value.message
    assert switch in info.value.message


def test_dev_allows_every_switch_and_prod_the_sample_input() -> None:
    # GIVEN an input with all three switches off / THEN dev's policy lets it through
    risky = execution(alarms=[], smoke={"cases": []}, strategy={"preset": "AllAtOnce"})
    check_input(parse_input(risky), SafetyPolicy(stage="dev"))
    # AND prod accepts the documented execution input (alarms, a smoke case, a canary)
    check_input(parse_input(execution()), PROD)


def test_cases_from_s3_or_a_folder_are_counted_by_smoke() -> None:
    # GIVEN smoke cases Validate cannot count (an S3 object): accepted there
    check_input(parse_input(execution(smoke={"s3": {"bucket": "b", "key": "k"}})), PROD)
    # THEN Smoke refuses the object if it holds none, and accepts one that has some
    with pytest.raises(InvalidRequest, match="allow_no_smoke"):
        check_case_count(0, PROD)
    check_case_count(1, PROD)


def test_the_policy_is_read_from_the_environment_the_stack_sets() -> None:
    # GIVEN the variables the CDK sets per stage
    environ = {"DEPLOY_ALLOW_NO_ALARMS": "false", "DEPLOY_ALLOW_NO_SMOKE": "false",
               "DEPLOY_ALLOW_ALL_AT_ONCE": "true", "STAGE": "staging"}
    # THEN they read as the policy; unset variables allow (as before the policy existed)
    assert load_policy(environ) == SafetyPolicy(False, False, True, "staging")
    assert load_policy({}) == SafetyPolicy()
    # AND a value that is no boolean fails fast naming the variable
    with pytest.raises(ConfigurationError, match="DEPLOY_ALLOW_NO_SMOKE"):
        load_policy({"DEPLOY_ALLOW_NO_SMOKE": "maybe"})
