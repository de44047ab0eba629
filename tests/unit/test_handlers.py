"""The shared handler wrapper: a result reported, a StackFlow failure logged, counted and
re-raised as itself (its class name is the Lambda ``errorType``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from stackflow.errors import InvalidRequest
from stackflow.handlers import Failure, lambda_handler
from stackflow.lambda_context import LambdaContextLike
from stackflow.observability import get_logger

SERVICE = "wrapper-test"


@dataclass
class FakeContext:
    """The Lambda context attributes Powertools and the wrapper read."""

    aws_request_id: str = "req-1"
    function_name: str = "WrapperTest"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:WrapperTest"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The service's log lines, captured."""
    captured, stream = io.StringIO(), get_logger(SERVICE).registered_handler
    previous = stream.setStream(captured)  # type: ignore[attr-defined]
    yield captured
    stream.setStream(previous)  # type: ignore[attr-defined]


def lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def failing(event: Any, context: LambdaContextLike) -> int:
    raise InvalidRequest("action", "is required")


def test_the_report_gets_the_result_and_the_seconds_and_is_returned() -> None:
    # GIVEN a call that returns 7 and a report that shows what it got
    seen: list[tuple[int, float]] = []

    def report(result: int, seconds: float) -> dict[str, Any]:
        seen.append((result, seconds))
        return {"result": result}

    handler = lambda_handler(SERVICE, lambda event, context: 7, report,
                             failure=Failure("failed"))
    # WHEN the handler runs / THEN it returns the report's JSON
    assert handler({}, FakeContext()) == {"result": 7}
    assert seen[0][0] == 7
    assert seen[0][1] >= 0


def test_a_stackflow_error_is_logged_counted_and_re_raised_as_itself(
        log: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a handler whose call fails with InvalidRequest
    handler = lambda_handler(SERVICE, failing, lambda result, seconds: {},
                             failure=Failure("call failed", metric="CallFailures"))
    # WHEN it runs / THEN the same error escapes (Lambda's errorType is its class name)
    with pytest.raises(InvalidRequest) as info:
        handler({}, FakeContext(aws_request_id="req-9"))
    assert info.value.field == "action"
    # AND one error line carries the error and the request id
    [line] = [d for d in lines(log) if d["level"] == "ERROR"]
    assert (line["message"], line["function_request_id"]) == ("call failed", "req-9")
    assert line["error"]["errorType"] == "InvalidRequest"
    # AND the failure is counted once
    assert [d["CallFailures"] for d in emf(capsys.readouterr().out)] == [[1.0]]


def test_without_a_failure_metric_the_error_is_only_logged(
        log: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    handler = lambda_handler(SERVICE, failing, lambda result, seconds: {},
                             failure=Failure("call failed"))
    with pytest.raises(InvalidRequest), pytest.warns(UserWarning, match="No application"):
        handler({}, FakeContext())
    assert [d["message"] for d in lines(log)] == ["call failed"]
    assert emf(capsys.readouterr().out) == []


def test_an_error_outside_the_tree_escapes_unlogged(log: io.StringIO) -> None:
    # GIVEN a call with a bug / WHEN it runs / THEN the bug escapes and nothing claims
    # it was a StackFlow failure
    def broken(event: Any, context: LambdaContextLike) -> int:
        raise KeyError("x")

    handler = lambda_handler(SERVICE, broken, lambda result, seconds: {},
                             failure=Failure("call failed", metric="CallFailures"))
    with pytest.raises(KeyError):
        handler({}, FakeContext())
    assert lines(log) == []
