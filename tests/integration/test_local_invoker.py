"""The in-process Lambda: the context's remaining-time clock and Lambda's error answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stackflow.errors import CanaryUnhealthy
from stackflow.lambda_context import LambdaContextLike
from stackflow_tools.local.engine import LocalAws, LocalStack, create_stack
from stackflow_tools.local.template import Template

# The handlers below run through the hook by their dotted path; this module is already
# imported under __name__, so they share its state with the tests.
HANDLERS = __name__
TIMEOUT_SECONDS = 42
# What the probe does between its two readings (the test decides: advance a fake
# clock, sleep on the real one).
BETWEEN_READINGS: list[Callable[[], None]] = []


def clock_probe(event: Any, context: LambdaContextLike) -> dict[str, int]:
    first = context.get_remaining_time_in_millis()
    for step in BETWEEN_READINGS:
        step()
    return {"first": first, "second": context.get_remaining_time_in_millis()}


def raises_unhealthy(event: Any, context: LambdaContextLike) -> None:
    _judge(event)


def _judge(event: Any) -> None:
    raise CanaryUnhealthy(f"alarm {event['alarm']} is in ALARM")


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _template() -> Template:
    def function(handler: str) -> dict[str, Any]:
        return {"Type": "AWS::Lambda::Function", "Properties": {
            "Handler": f"{HANDLERS}.{handler}", "Runtime": "python3.11",
            "Timeout": TIMEOUT_SECONDS, "Role": {"Fn::GetAtt": ["Role", "Arn"]}}}

    return Template(Path("Invoker.template.json"), {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "ProbeFn": function("clock_probe"),
        "FailingFn": function("raises_unhealthy"),
    }})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def faked(clock: FakeClock) -> Iterator[tuple[LocalAws, LocalStack]]:
    BETWEEN_READINGS.clear()
    with LocalAws(clock=clock) as aws:
        yield aws, create_stack(aws, _template())
    BETWEEN_READINGS.clear()


@pytest.fixture
def real() -> Iterator[tuple[LocalAws, LocalStack]]:
    BETWEEN_READINGS.clear()
    with LocalAws() as aws:
        yield aws, create_stack(aws, _template())
    BETWEEN_READINGS.clear()


def _invoke(aws: LocalAws, stack: LocalStack, lid: str,
            event: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    answer = aws.client("lambda").invoke(FunctionName=stack.functions[lid],
                                         Payload=json.dumps(event or {}).encode())
    return dict(answer), json.loads(answer["Payload"].read())


def test_remaining_time_starts_at_the_function_timeout_and_follows_the_clock(
        faked: tuple[LocalAws, LocalStack], clock: FakeClock) -> None:
    # GIVEN a function with a 42 s Timeout whose handler lets 1.5 s pass between readings
    aws, stack = faked
    BETWEEN_READINGS.append(lambda: clock.advance(1.5))
    # WHEN it is invoked
    _, body = _invoke(aws, stack, "ProbeFn")
    # THEN the context started from the whole Timeout and lost exactly the time that passed
    assert body == {"first": TIMEOUT_SECONDS * 1000, "second": TIMEOUT_SECONDS * 1000 - 1500}


def test_remaining_time_decreases_on_the_real_clock(
        real: tuple[LocalAws, LocalStack]) -> None:
    # GIVEN the default (real, monotonic) clock and a handler that sleeps between readings
    aws, stack = real
    BETWEEN_READINGS.append(lambda: time.sleep(0.02))
    # WHEN it is invoked
    _, body = _invoke(aws, stack, "ProbeFn")
    # THEN the remaining time went down while the handler ran, never above the Timeout
    assert 0 < body["second"] < body["first"] <= TIMEOUT_SECONDS * 1000


def test_overrunning_the_timeout_answers_sandbox_timedout(
        faked: tuple[LocalAws, LocalStack], clock: FakeClock) -> None:
    # GIVEN a handler during which more than the function's Timeout passes
    aws, stack = faked
    BETWEEN_READINGS.append(lambda: clock.advance(TIMEOUT_SECONDS + 1))
    # WHEN it is invoked
    answer, body = _invoke(aws, stack, "ProbeFn")
    # THEN Lambda's timeout answer comes back instead of the handler's result
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == f"Task timed out after {TIMEOUT_SECONDS:.2f} seconds"


def test_unhandled_exception_answers_like_the_python_runtime(
        faked: tuple[LocalAws, LocalStack]) -> None:
    # GIVEN a handler that raises CanaryUnhealthy from a helper
    aws, stack = faked
    # WHEN it is invoked through the ordinary boto3 API
    answer, body = _invoke(aws, stack, "FailingFn", {"alarm": "api-errors"})
    # THEN the invocation itself succeeded, with the function error in the header ...
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-function-error"] == "Unhandled"
    assert headers["x-amz-executed-version"] == "$LATEST"
    # ... and the payload is the runtime's error document
    assert set(body) == {"errorType", "errorMessage", "requestId", "stackTrace"}
    assert body["errorType"] == "CanaryUnhealthy"
    assert body["errorMessage"] == "alarm api-errors is in ALARM"
    # AND the stack trace is a list of formatted frames, handler first, raise last
    trace = body["stackTrace"]
    assert isinstance(trace, list)
    assert all(isinstance(frame, str) for frame in trace)
    assert [frame.split(", in ")[1].split("\n")[0] for frame in trace] == \
        ["raises_unhealthy", "_judge"]
    assert all(frame.startswith('  File "') and "test_local_invoker.py" in frame
               for frame in trace)


def test_successful_answer_has_no_function_error(faked: tuple[LocalAws, LocalStack]) -> None:
    # GIVEN a handler that returns WHEN it is invoked
    aws, stack = faked
    answer, body = _invoke(aws, stack, "ProbeFn")
    # THEN there is no function error, in the parsed answer or the headers
    assert "FunctionError" not in answer
    assert "x-amz-function-error" not in answer["ResponseMetadata"]["HTTPHeaders"]
    assert set(body) == {"first", "second"}
