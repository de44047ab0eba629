"""Tiny handlers the local-mode tests package into asset zips and run in Lambda workers."""

from __future__ import annotations

import os
from typing import Any

from stackflow.errors import AwsThrottled, CanaryUnhealthy
from stackflow.lambda_context import LambdaContextLike

# Attempts per test run; the flaky handler fails the first call and succeeds afterwards.
CALLS: dict[str, int] = {}


def echo(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    return {"seen": event, "greeting": os.environ.get("GREETING"),
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function": context.function_name}


def unhealthy(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    raise CanaryUnhealthy("alarm StackFlowAPI-errors is in ALARM")


def flaky(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    CALLS["flaky"] = CALLS.get("flaky", 0) + 1
    if CALLS["flaky"] == 1:
        raise AwsThrottled("Rate exceeded")
    return {"attempt": CALLS["flaky"]}


def not_json(event: Any, context: LambdaContextLike) -> object:
    return object()


def sleeper(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    import time

    time.sleep(float(event.get("seconds", 10)))
    return {"slept": True}


def environment(event: Any, context: Any) -> dict[str, Any]:
    return {"variables": dict(os.environ), "memory": context.memory_limit_in_mb,
            "version": context.function_version, "pid": os.getpid(),
            "arn": context.invoked_function_arn}


def big(event: Any, context: LambdaContextLike) -> str:
    return "x" * int(event["bytes"])
