"""Traffic-shifting strategies as a pure plan of (weight, wait) steps.

A plan is the list of weights the new version receives, in order, each followed by a
bake of ``wait_seconds``. A bake is watched, not just waited out: it is ``checks``
waits of ``check_seconds``, each followed by a health check, so a bad version is
caught within one check interval instead of at the end of the bake. The last step is
always weight 1.0 with no wait: reaching it means "promote". Presets carry the names
AWS CodeDeploy uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_int, opt_number, opt_str, reject_unknown

STRATEGY_TYPES = ("all_at_once", "canary", "linear")
# CodeDeploy allows intervals up to 2880 minutes; the same bound catches unit mistakes.
MAX_INTERVAL_SECONDS = 2880 * 60
# Weights are rounded so a plan's JSON is stable and Lambda accepts every value.
WEIGHT_DIGITS = 4
# Each step is a Shift, a Bake and a HealthCheck in the execution history, which holds
# at most 25,000 events: a hundred steps stay far below it.
MAX_PLAN_STEPS = 100
# Health is checked this often during a bake unless the input says otherwise.
DEFAULT_CHECK_INTERVAL_SECONDS = 30
MAX_CHECK_INTERVAL_SECONDS = 3600
# Each check is a Wait, a HealthCheck and a Choice (about ten history events); a plan's
# checks stay far below the 25,000 events an execution history holds, so a very long
# plan checks less often than asked rather than failing half way.
MAX_HEALTH_CHECKS = 1000


@dataclass(frozen=True)
class StrategySpec:
    """A resolved strategy: what the user asked for, before it becomes steps."""

    type: str
    percent: float | None = None
    interval_seconds: int = 0
    steps: int | None = None


@dataclass(frozen=True)
class PlanStep:
    """One weight and its bake: ``checks`` health checks, ``check_seconds`` apart."""

    weight: float
    wait_seconds: int
    checks: int = 0
    check_seconds: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "wait_seconds": self.wait_seconds,
                "checks": self.checks, "check_seconds": self.check_seconds}


PRESETS: Mapping[str, StrategySpec] = {
    "AllAtOnce": StrategySpec("all_at_once"),
    "Canary10Percent5Minutes": StrategySpec("canary", 10, 300),
    "Canary10Percent10Minutes": StrategySpec("canary", 10, 600),
    "Canary10Percent15Minutes": StrategySpec("canary", 10, 900),
    "Canary10Percent30Minutes": StrategySpec("canary", 10, 1800),
    "Linear10PercentEvery1Minute": StrategySpec("linear", 10, 60),
    "Linear10PercentEvery2Minutes": StrategySpec("linear", 10, 120),
    "Linear10PercentEvery3Minutes": StrategySpec("linear", 10, 180),
    "Linear10PercentEvery10Minutes": StrategySpec("linear", 10, 600),
}


def plan(spec: StrategySpec,
         check_interval: int = DEFAULT_CHECK_INTERVAL_SECONDS) -> tuple[PlanStep, ...]:
    """The weights, bakes and health checks of ``spec``; ends with ``PlanStep(1.0, 0)``."""
    if spec.type == "canary":
        assert spec.percent is not None
        steps: tuple[PlanStep, ...] = (PlanStep(_weight(spec.percent), spec.interval_seconds),
                                       PlanStep(1.0, 0))
    elif spec.type == "linear":
        steps = _linear(spec)
    else:
        steps = (PlanStep(1.0, 0),)
    return with_checks(steps, check_interval)


def with_checks(steps: tuple[PlanStep, ...], check_interval: int) -> tuple[PlanStep, ...]:
    """Each bake split into health checks at most ``check_interval`` seconds apart.

    A bake of W seconds gets ``n = ceil(W / interval)`` checks, each after
    ``ceil(W / n)`` seconds, so it lasts at least W and never much more. A bake of 0
    seconds still gets its one check. The interval grows for a plan so long that it
    would need more than :data:`MAX_HEALTH_CHECKS` checks.
    """
    total = sum(step.wait_seconds for step in steps)
    # Rounding up can add one check per step: keep room for it under the bound.
    budget = MAX_HEALTH_CHECKS - len(steps)
    interval = max(check_interval, 1, math.ceil(total / budget))
    return tuple(step if step.weight >= 1.0 else _checked(step, interval) for step in steps)


def _checked(step: PlanStep, interval: int) -> PlanStep:
    checks = max(1, math.ceil(step.wait_seconds / interval))
    return replace(step, checks=checks, check_seconds=math.ceil(step.wait_seconds / checks))


def _linear(spec: StrategySpec) -> tuple[PlanStep, ...]:
    if spec.steps is not None:
        partial = [_weight(100 * i / spec.steps) for i in range(1, spec.steps)]
    else:
        assert spec.percent is not None
        # Step i receives i * percent until that reaches 100; float error must not
        # add a step, hence the comparison on rounded weights.
        partial = []
        i = 1
        while _weight(i * spec.percent) < 1.0:
            partial.append(_weight(i * spec.percent))
            i += 1
    return (*(PlanStep(w, spec.interval_seconds) for w in partial), PlanStep(1.0, 0))


def _weight(percent: float) -> float:
    return round(percent / 100, WEIGHT_DIGITS)


def total_wait_seconds(steps: tuple[PlanStep, ...]) -> int:
    """The plan's bakes end to end (rounding each check up can add a few seconds)."""
    return sum(max(step.wait_seconds, step.checks * step.check_seconds) for step in steps)


def parse_strategy(value: Any, field: str = "strategy") -> tuple[str | None, StrategySpec]:
    """Read ``{"preset": NAME}`` or a custom ``{"type": ...}``; return (preset, spec)."""
    obj = as_object(value, field) if value is not None else {"preset": "AllAtOnce"}
    prefix = f"{field}."
    preset = opt_str(obj, "preset", prefix=prefix)
    if preset is not None:
        reject_unknown(obj, {"preset", "plan"}, prefix)
        if preset not in PRESETS:
            raise InvalidRequest(prefix + "preset",
                                 f"unknown preset {preset!r} (known: {sorted(PRESETS)})")
        return preset, PRESETS[preset]
    return None, _custom(obj, prefix)


def _custom(obj: Mapping[str, Any], prefix: str) -> StrategySpec:
    reject_unknown(obj, {"type", "percent", "interval_seconds", "steps", "plan"}, prefix)
    kind = opt_str(obj, "type", prefix=prefix)
    if kind not in STRATEGY_TYPES:
        raise InvalidRequest(prefix + "type", f"must be one of {list(STRATEGY_TYPES)} "
                                              f"(or give a preset), got {kind!r}")
    if kind == "all_at_once":
        reject_unknown(obj, {"type", "plan"}, prefix)
        return StrategySpec("all_at_once")
    interval = _interval(obj, prefix)
    if kind == "canary":
        reject_unknown(obj, {"type", "percent", "interval_seconds", "plan"}, prefix)
        return StrategySpec("canary", _percent(obj, prefix, required=True), interval)
    return _custom_linear(obj, prefix, interval)


def _custom_linear(obj: Mapping[str, Any], prefix: str, interval: int) -> StrategySpec:
    steps = opt_int(obj, "steps", minimum=1, prefix=prefix)
    percent = _percent(obj, prefix, required=steps is None)
    if steps is not None and percent is not None:
        raise InvalidRequest(prefix + "steps", "give either percent or steps, not both")
    if steps is not None and steps > MAX_PLAN_STEPS:
        raise InvalidRequest(prefix + "steps", f"must be <= {MAX_PLAN_STEPS}, got {steps}")
    spec = StrategySpec("linear", percent, interval, steps)
    if percent is not None and len(plan(spec)) > MAX_PLAN_STEPS:
        raise InvalidRequest(prefix + "percent", f"must be at least 1 for a linear strategy "
                                                 f"(at most {MAX_PLAN_STEPS} steps), "
                                                 f"got {percent:g}")
    return spec


def _percent(obj: Mapping[str, Any], prefix: str, *, required: bool) -> float | None:
    percent = opt_number(obj, "percent", prefix=prefix)
    if percent is None:
        if required:
            raise InvalidRequest(prefix + "percent", "is required")
        return None
    # Below 0.01% the rounded weight is 0: a step that shifts nothing.
    if not 0.01 <= percent < 100:
        raise InvalidRequest(prefix + "percent",
                             f"must be at least 0.01 and below 100, got {percent:g}")
    return percent


def _interval(obj: Mapping[str, Any], prefix: str) -> int:
    seconds = opt_int(obj, "interval_seconds", minimum=0, prefix=prefix)
    if seconds is None:
        raise InvalidRequest(prefix + "interval_seconds", "is required")
    if seconds > MAX_INTERVAL_SECONDS:
        raise InvalidRequest(prefix + "interval_seconds",
                             f"must be <= {MAX_INTERVAL_SECONDS}, got {seconds}")
    return seconds


def spec_to_dict(preset: str | None, spec: StrategySpec,
                 check_interval: int = DEFAULT_CHECK_INTERVAL_SECONDS) -> dict[str, Any]:
    """The normalized ``strategy`` of the document, with its plan under ``plan``.

    A preset stays ``{"preset", "plan"}`` and a custom strategy keeps its fields, so
    normalizing a normalized document changes nothing.
    """
    out: dict[str, Any] = {"preset": preset} if preset else _custom_fields(spec)
    out["plan"] = {"type": spec.type,
                   "steps": [s.to_dict() for s in plan(spec, check_interval)]}
    return out


def _custom_fields(spec: StrategySpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.type}
    if spec.type != "all_at_once":
        out["interval_seconds"] = spec.interval_seconds
        if spec.percent is None:
            out["steps"] = spec.steps
        else:
            # 10 stays 10 in the document, 12.5 stays 12.5.
            out["percent"] = int(spec.percent) if spec.percent.is_integer() else spec.percent
    return out
