"""Strategy math: presets and custom strategies become a plan of weights and bakes."""

from __future__ import annotations

from typing import Any

import pytest
from stackflow.deploy.strategy import (
    MAX_HEALTH_CHECKS,
    MAX_INTERVAL_SECONDS,
    PRESETS,
    PlanStep,
    StrategySpec,
    parse_strategy,
    plan,
    spec_to_dict,
    total_wait_seconds,
)
from stackflow.errors import InvalidRequest


def weights(spec: StrategySpec) -> list[float]:
    return [step.weight for step in plan(spec)]


def test_all_at_once_is_one_step_to_full_traffic_without_a_bake() -> None:
    # GIVEN the AllAtOnce preset / WHEN planned
    steps = plan(PRESETS["AllAtOnce"])
    # THEN it is a single jump to 100 % with nothing to wait for
    assert steps == (PlanStep(1.0, 0),)


@pytest.mark.parametrize(("preset", "bake"), [
    ("Canary10Percent5Minutes", 300), ("Canary10Percent10Minutes", 600),
    ("Canary10Percent15Minutes", 900), ("Canary10Percent30Minutes", 1800)])
def test_canary_presets_send_ten_percent_then_bake_then_everything(preset: str,
                                                                   bake: int) -> None:
    # GIVEN a CodeDeploy canary preset / WHEN planned
    steps = plan(PRESETS[preset])
    # THEN 10 % bakes for the named minutes, checked every 30 s, then 100 %
    assert steps == (PlanStep(0.1, bake, checks=bake // 30, check_seconds=30),
                     PlanStep(1.0, 0))


@pytest.mark.parametrize(("preset", "interval"), [
    ("Linear10PercentEvery1Minute", 60), ("Linear10PercentEvery2Minutes", 120),
    ("Linear10PercentEvery3Minutes", 180), ("Linear10PercentEvery10Minutes", 600)])
def test_linear_presets_add_ten_percent_per_interval(preset: str, interval: int) -> None:
    # GIVEN a CodeDeploy linear preset / WHEN planned
    steps = plan(PRESETS[preset])
    # THEN 10 %, 20 % ... 90 % each bake one interval, then 100 % (ten increments)
    assert [s.weight for s in steps] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert [s.wait_seconds for s in steps] == [interval] * 9 + [0]
    assert total_wait_seconds(steps) == 9 * interval


def test_linear_in_four_steps_and_linear_by_25_percent_are_the_same_plan() -> None:
    # GIVEN linear by step count and by percentage / WHEN planned
    by_steps = plan(StrategySpec("linear", None, 60, steps=4))
    by_percent = plan(StrategySpec("linear", 25, 60))
    # THEN both are 25/50/75 % with a bake between, then 100 %
    assert by_steps == by_percent == (PlanStep(0.25, 60, 2, 30), PlanStep(0.5, 60, 2, 30),
                                      PlanStep(0.75, 60, 2, 30), PlanStep(1.0, 0))


def test_linear_percentage_that_does_not_divide_100_ends_with_the_remainder() -> None:
    # GIVEN 30 % steps / WHEN planned / THEN 30, 60, 90 %, then the last 10 % to 100 %
    assert weights(StrategySpec("linear", 30, 10)) == [0.3, 0.6, 0.9, 1.0]


def test_linear_thirds_round_weights_to_values_lambda_accepts() -> None:
    # GIVEN three equal steps / WHEN planned / THEN weights are rounded, not 0.333333...
    assert weights(StrategySpec("linear", None, 10, steps=3)) == [0.3333, 0.6667, 1.0]


def test_float_error_never_adds_an_extra_step() -> None:
    # GIVEN a percentage whose multiples are inexact in binary (10 * 0.1 != 1.0 exactly)
    # WHEN planned / THEN there are exactly ten steps
    assert len(plan(StrategySpec("linear", 10, 1))) == 10


@pytest.mark.parametrize(("raw", "expected"), [
    (None, ("AllAtOnce", PRESETS["AllAtOnce"])),
    ({"preset": "Canary10Percent5Minutes"}, ("Canary10Percent5Minutes",
                                             StrategySpec("canary", 10, 300))),
    ({"type": "all_at_once"}, (None, StrategySpec("all_at_once"))),
    ({"type": "canary", "percent": 5, "interval_seconds": 120},
     (None, StrategySpec("canary", 5.0, 120))),
    ({"type": "linear", "percent": 25, "interval_seconds": 60},
     (None, StrategySpec("linear", 25.0, 60))),
    ({"type": "linear", "steps": 4, "interval_seconds": 60},
     (None, StrategySpec("linear", None, 60, 4))),
])
def test_parse_strategy_accepts_presets_and_custom_strategies(
        raw: Any, expected: tuple[str | None, StrategySpec]) -> None:
    # GIVEN a strategy as the execution input writes it / WHEN parsed / THEN resolved
    assert parse_strategy(raw) == expected


@pytest.mark.parametrize(("raw", "field"), [
    ({"preset": "Canary99Percent"}, "strategy.preset"),
    ({"type": "blue_green"}, "strategy.type"),
    ({"type": "canary", "interval_seconds": 60}, "strategy.percent"),
    ({"type": "canary", "percent": 100, "interval_seconds": 60}, "strategy.percent"),
    ({"type": "canary", "percent": 0, "interval_seconds": 60}, "strategy.percent"),
    ({"type": "canary", "percent": 10}, "strategy.interval_seconds"),
    ({"type": "canary", "percent": 10, "interval_seconds": -1}, "strategy.interval_seconds"),
    ({"type": "linear", "percent": 10, "interval_seconds": 10**7}, "strategy.interval_seconds"),
    ({"type": "linear", "percent": 10, "steps": 4, "interval_seconds": 60}, "strategy.steps"),
    ({"type": "linear", "steps": 0, "interval_seconds": 60}, "strategy.steps"),
    ({"type": "linear", "interval_seconds": 60}, "strategy.percent"),
    ({"type": "all_at_once", "percent": 10}, "strategy.percent"),
    ({"preset": "AllAtOnce", "percent": 10}, "strategy.percent"),
    ("Canary10Percent5Minutes", "strategy"),
])
def test_bad_strategies_name_the_field(raw: Any, field: str) -> None:
    # GIVEN a malformed strategy / WHEN parsed / THEN InvalidRequest names the field
    with pytest.raises(InvalidRequest) as info:
        parse_strategy(raw)
    assert info.value.field == field


@pytest.mark.parametrize("raw", [
    {"preset": "Linear10PercentEvery3Minutes"},
    {"type": "canary", "percent": 12.5, "interval_seconds": 90},
    {"type": "linear", "steps": 4, "interval_seconds": 60},
    {"type": "all_at_once"},
])
def test_normalized_strategy_parses_back_to_the_same_plan(raw: dict[str, Any]) -> None:
    # GIVEN a strategy normalized once (plan included)
    preset, spec = parse_strategy(raw)
    normalized = spec_to_dict(preset, spec)
    # WHEN normalized again / THEN nothing changes, and the plan is what plan() says
    assert spec_to_dict(*parse_strategy(normalized)) == normalized
    assert normalized["plan"]["steps"] == [s.to_dict() for s in plan(spec)]
    assert normalized["plan"]["type"] == spec.type


STRATEGIES = [*PRESETS.values(),
              StrategySpec("canary", 0.01, 60), StrategySpec("canary", 99.99, 60),
              StrategySpec("linear", 1, 60), StrategySpec("linear", 33, 60),
              StrategySpec("linear", 30, 60), StrategySpec("linear", 12.5, 60),
              StrategySpec("linear", 33.33, 60), StrategySpec("linear", 99, 60),
              *(StrategySpec("linear", None, 60, steps=n) for n in (2, 3, 6, 7, 9, 100))]


@pytest.mark.parametrize("spec", STRATEGIES, ids=repr)
def test_every_plan_rises_strictly_inside_0_1_and_ends_at_exactly_1(spec: StrategySpec) -> None:
    # GIVEN any preset or custom strategy / WHEN planned
    steps = plan(spec)
    partial = [s.weight for s in steps[:-1]]
    # THEN every weight sent to Lambda is above 0 and below 1, rising, with at most 4
    # decimals (no float drift such as 0.30000000000000004), and the plan ends at
    # exactly 1.0 with no bake (Promote's step), within the step limit
    assert steps[-1] == PlanStep(1.0, 0)
    assert all(0.0 < w < 1.0 for w in partial)
    assert partial == sorted(set(partial))
    assert all(w == round(w, 4) and len(repr(w)) <= 6 for w in partial)
    assert len(steps) <= 100


@pytest.mark.parametrize("percent", [0.5, 0.99])
def test_linear_steps_below_one_percent_are_refused_naming_the_field(percent: float) -> None:
    # GIVEN a linear strategy that would need more than 100 steps
    raw = {"type": "linear", "percent": percent, "interval_seconds": 60}
    # WHEN parsed / THEN InvalidRequest names strategy.percent
    with pytest.raises(InvalidRequest) as info:
        parse_strategy(raw)
    assert info.value.field == "strategy.percent"


def test_linear_one_percent_is_the_longest_plan_accepted() -> None:
    # GIVEN 1 % steps / WHEN parsed and planned / THEN 99 weighted steps and Promote's
    _, spec = parse_strategy({"type": "linear", "percent": 1, "interval_seconds": 0})
    assert len(plan(spec)) == 100


@pytest.mark.parametrize(("wait", "interval", "checks", "every"), [
    (300, 30, 10, 30), (600, 30, 20, 30), (45, 30, 2, 23), (20, 30, 1, 20), (0, 30, 1, 0),
    (300, 300, 1, 300), (300, 7, 43, 7)])
def test_a_bake_is_split_into_checks_at_most_one_interval_apart(
        wait: int, interval: int, checks: int, every: int) -> None:
    # GIVEN a canary bake of `wait` seconds and a check interval
    (step, _) = plan(StrategySpec("canary", 10, wait), interval)
    # THEN it is `checks` waits of `every` seconds, each followed by a health check:
    # never further apart than the interval, and together at least the whole bake
    assert (step.checks, step.check_seconds) == (checks, every)
    assert every <= interval
    assert checks * every >= wait


def test_a_very_long_plan_checks_less_often_rather_than_overflowing_the_history() -> None:
    # GIVEN a hundred linear steps of two days each, checked every 30 s
    steps = plan(StrategySpec("linear", 1, MAX_INTERVAL_SECONDS), 30)
    # THEN all its checks together stay within the bound, and still span every bake
    assert sum(step.checks for step in steps) <= MAX_HEALTH_CHECKS
    assert all(s.checks * s.check_seconds >= s.wait_seconds for s in steps)
    assert total_wait_seconds(steps) >= 99 * MAX_INTERVAL_SECONDS


def test_the_promote_step_has_no_bake_and_no_check() -> None:
    # GIVEN any plan / THEN its last step (100 %) waits for nothing and checks nothing
    for preset in PRESETS.values():
        assert plan(preset)[-1] == PlanStep(1.0, 0, 0, 0)
