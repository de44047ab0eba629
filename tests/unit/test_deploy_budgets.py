"""Every wait of a step ends before its Lambda's timeout, and each smoke case has its own.

Time is fake: the Lambda context's remaining time counts down with the fake clock, so a
step that would wait too long is seen giving up, with its typed retryable error, while
``DEADLINE_MARGIN_SECONDS`` are still left.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from stackflow.deploy.deps import DEADLINE_MARGIN_SECONDS
from stackflow.deploy.model import parse_input
from stackflow.deploy.polling import poll_times
from stackflow.deploy.ports import FunctionConfig
from stackflow.deploy.publish import wait_active
from stackflow.deploy.smoke import smoke
from stackflow.deploy.upload import wait_for_update
from stackflow.errors import AwsThrottled, SmokeTestFailed

from tests.support.deploy_fakes import FakeClock, FakeFunctions, ScriptedInvoker, fake_deps
from tests.support.events import load_event

LAMBDA_TIMEOUT = 300.0


class NeverSettles(FakeFunctions):
    """A function whose update (or new version) stays in progress for ever."""

    def get_configuration(self, function_name: str,
                          qualifier: str | None = None) -> FunctionConfig:
        return FunctionConfig(function_name, qualifier or "$LATEST", "sha",
                              state="Pending", last_update_status="InProgress")


def countdown(clock: FakeClock, seconds: float = LAMBDA_TIMEOUT) -> Callable[[], float]:
    """The context's remaining time: ``seconds`` at the start, going down with the clock."""
    start = clock.ticks
    return lambda: seconds - (clock.ticks - start)


@pytest.mark.parametrize("wait", [
    lambda deps: wait_for_update("StackFlowAPI", deps),
    lambda deps: wait_active("StackFlowAPI", "7", deps),
], ids=["upload", "publish"])
def test_polling_gives_up_with_a_retryable_error_before_the_lambda_timeout(
        wait: Callable[[Any], object]) -> None:
    # GIVEN an update that never settles and a Lambda with 300 s to run
    clock = FakeClock()
    time_left = countdown(clock)
    deps = fake_deps(functions=NeverSettles(), clock=clock, time_left=time_left)
    # WHEN the step polls / THEN it stops with AwsThrottled (the state machine retries)
    with pytest.raises(AwsThrottled):
        wait(deps)
    # AND it stopped in time to record and raise: the margin was never eaten into
    assert time_left() >= DEADLINE_MARGIN_SECONDS
    assert sum(clock.sleeps) < LAMBDA_TIMEOUT - DEADLINE_MARGIN_SECONDS


def test_poll_times_stops_before_a_sleep_that_would_pass_the_spare_time() -> None:
    # GIVEN 3.5 s to spare and the 1, 1, 2, 2 ... s schedule
    clock = FakeClock()
    spare = countdown(clock, 3.5)
    # THEN it polls after 0, 1 and 2 s, and does not sleep 2 s more with 1.5 s left
    assert list(poll_times(clock.sleep, 600, spare)) == [0.0, 1.0, 2.0]
    assert clock.sleeps == [1.0, 1.0]


def smoke_input(*cases: dict[str, Any]) -> Any:
    document = copy.deepcopy(load_event("deploy-execution"))
    document["smoke"] = {"cases": list(cases)}
    return parse_input(document)


def test_a_case_that_gets_no_answer_fails_with_timeout_and_the_others_still_run() -> None:
    # GIVEN a case that would take 45 s (default timeout 30 s) and one with 2 s of its own
    clock = FakeClock()
    invoker = ScriptedInvoker(clock=clock, latency_ms={"slow": 45_000, "hung": 10_000})
    deps = fake_deps(clock=clock, time_left=countdown(clock), invoker=invoker)
    inp = smoke_input({"name": "slow", "payload": {"case": "slow"}},
                      {"name": "hung", "payload": {"case": "hung"}, "timeout_seconds": 2},
                      {"name": "health", "payload": {"case": "health"}})
    # WHEN Smoke runs
    with pytest.raises(SmokeTestFailed) as info:
        smoke(inp, "7", deps)
    # THEN each slow case failed with timeout after its own limit; the healthy one passed
    cases = {c["name"]: c for c in info.value.details["cases"]}
    assert cases["slow"]["failures"] == ["timeout: no answer within 30 s (timeout_seconds 30)"]
    assert cases["hung"]["failures"] == ["timeout: no answer within 2 s (timeout_seconds 2)"]
    assert cases["health"]["passed"] is True
    assert invoker.timeouts == [30.0, 2.0, 30.0]


def test_a_case_never_waits_past_the_steps_deadline() -> None:
    # GIVEN 35 s left in the Lambda: 15 s for a case after the margin
    clock = FakeClock()
    invoker = ScriptedInvoker(clock=clock, latency_ms={"slow": 45_000})
    deps = fake_deps(clock=clock, time_left=countdown(clock, 35.0), invoker=invoker)
    inp = smoke_input({"name": "slow", "payload": {"case": "slow"}},
                      {"name": "health", "payload": {"case": "health"}})
    # WHEN Smoke runs
    with pytest.raises(SmokeTestFailed) as info:
        smoke(inp, "7", deps)
    # THEN the first case waited only what the step could spare; the next was not run
    assert invoker.timeouts == [35.0 - DEADLINE_MARGIN_SECONDS]
    (slow, health) = info.value.details["cases"]
    assert slow["failures"][0].startswith("timeout:")
    assert health["failures"] == [
        "not run: the step's time ran out before this case (Lambda timeout)"]
