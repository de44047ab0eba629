"""Synthetic traffic during a bake, and the CloudWatch signals it leaves behind.

At the start of every ``Wait`` state the engine calls :meth:`Traffic.during_wait`: a
few HTTP API requests go through the alias (so its routing weights decide which
version serves each one), Lambda's ``AWS/Lambda`` ``Invocations`` / ``Errors``
metrics are written to (moto) CloudWatch with the dimensions Lambda uses
(``FunctionName``; ``FunctionName, Resource``; ``FunctionName, Resource,
ExecutedVersion``), and every alarm watching those errors is set to ``ALARM`` or
``OK`` the way CloudWatch would evaluate it. The health step then reads real signals.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The smoke step covers /health; traffic exercises what users call.
PATHS = ("/customers", "/orders", "/customers/1/orders", "/orders")
# What a schedule or a queue sends the example's orders worker.
WORKER_EVENTS: tuple[dict[str, Any], ...] = ({"action": "summarize"},)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def http_event(path: str, method: str = "GET") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request event."""
    return {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
            "rawQueryString": "", "headers": {"user-agent": "stackflow-local-traffic"},
            "requestContext": {"http": {"method": method, "path": path,
                                        "sourceIp": "127.0.0.1"}, "stage": "$default"},
            "isBase64Encoded": False}


@dataclass
class Batch:
    """What one burst of traffic did, per executed version."""

    invocations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, version: str, failed: bool) -> None:
        self.invocations[version] += 1
        if failed:
            self.errors[version] += 1


@dataclass
class Traffic:
    """Sends requests through an alias during waits and publishes the signals."""

    client_factory: Callable[[str], Any]
    requests_per_wait: int = 20
    target: tuple[str, str] | None = None
    # Other functions' aliases (the example's worker): sent their own events, and only
    # while a release shifts them (routing weights), so a bake that moves only the API
    # pays nothing for them.
    workers: tuple[tuple[str, str], ...] = ()
    totals: Batch = field(default_factory=Batch)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def during_wait(self, _nominal_seconds: float) -> None:
        if self.target is None:
            return
        function, alias = self.target
        batch = self.send(function, alias)
        self.publish(function, alias, batch)
        self.evaluate_alarms(function, alias, batch)
        for worker, worker_alias in self.workers:
            if self._shifting(worker, worker_alias):
                work = self.send(worker, worker_alias, WORKER_EVENTS, count=False)
                self.publish(worker, worker_alias, work)
                self.evaluate_alarms(worker, worker_alias, work)

    def _shifting(self, function: str, alias: str) -> bool:
        raw = self.client_factory("lambda").get_alias(FunctionName=function, Name=alias)
        return bool((raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights"))

    def send(self, function: str, alias: str,
             events: tuple[dict[str, Any], ...] | None = None, *, count: bool = True) -> Batch:
        lambda_ = self.client_factory("lambda")
        batch = Batch()
        events = events or tuple(http_event(path) for path in PATHS)
        for i in range(self.requests_per_wait):
            payload = json.dumps(events[i % len(events)]).encode()
            answer = lambda_.invoke(FunctionName=function, Qualifier=alias, Payload=payload)
            answer["Payload"].read()
            version = str(answer.get("ExecutedVersion", "$LATEST"))
            batch.add(version, bool(answer.get("FunctionError")))
            if count:
                self.totals.add(version, bool(answer.get("FunctionError")))
        return batch

    def publish(self, function: str, alias: str, batch: Batch) -> None:
        # Stamped at the whole second the requests were served in: never before the
        # weight was written (the health window starts at that minute), and inside the
        # window a check reads (it ends after the current minute).
        now = self.clock().replace(microsecond=0)
        resource = f"{function}:{alias}"
        data: list[dict[str, Any]] = []
        for metric, counts in (("Invocations", batch.invocations), ("Errors", batch.errors)):
            for version in batch.invocations:
                dims = _dims(FunctionName=function, Resource=resource, ExecutedVersion=version)
                data.append(_datum(metric, dims, counts[version], now))
            total = sum(counts.values())
            data.append(_datum(metric, _dims(FunctionName=function, Resource=resource), total, now))
            data.append(_datum(metric, _dims(FunctionName=function), total, now))
        self.client_factory("cloudwatch").put_metric_data(Namespace="AWS/Lambda",
                                                          MetricData=data)

    def evaluate_alarms(self, function: str, alias: str, batch: Batch) -> None:
        cloudwatch = self.client_factory("cloudwatch")
        seen = {"FunctionName": function, "Resource": f"{function}:{alias}"}
        for alarm in cloudwatch.describe_alarms()["MetricAlarms"]:
            if not watches_errors(alarm, seen):
                continue
            errors = float(sum(batch.errors.values()))
            threshold = float(alarm.get("Threshold", 0))
            compare = _COMPARE.get(alarm.get("ComparisonOperator", ""), _COMPARE[
                "GreaterThanOrEqualToThreshold"])
            state = "ALARM" if compare(errors, threshold) else "OK"
            if state != alarm.get("StateValue"):
                cloudwatch.set_alarm_state(
                    AlarmName=alarm["AlarmName"], StateValue=state,
                    StateReason=f"{errors:g} errors of {sum(batch.invocations.values())} "
                                f"requests (threshold {threshold:g})")


def watches_errors(alarm: Mapping[str, Any], seen: Mapping[str, str]) -> bool:
    """Whether the alarm (plain or metric math) watches this function's Lambda errors."""
    metrics: Iterable[Mapping[str, Any]] = [alarm] + [
        (query.get("MetricStat") or {}).get("Metric") or {}
        for query in alarm.get("Metrics") or []]
    for metric in metrics:
        if metric.get("Namespace") != "AWS/Lambda" or metric.get("MetricName") != "Errors":
            continue
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}
        if dims and all(seen.get(name) == value for name, value in dims.items()):
            return True
    return False


def _dims(**values: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in values.items()]


def _datum(metric: str, dims: list[dict[str, str]], value: float,
           at: datetime) -> dict[str, Any]:
    return {"MetricName": metric, "Dimensions": dims, "Value": value, "Unit": "Count",
            "Timestamp": at}
