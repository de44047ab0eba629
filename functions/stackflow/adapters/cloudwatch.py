"""Amazon CloudWatch: alarm states and the Lambda ``Errors`` metric of a canary.

:class:`CloudWatchAlarms` implements ``stackflow.deploy.ports.AlarmsPort``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.deploy.ports import AlarmState

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

# DescribeAlarms accepts at most 100 names per call.
NAMES_PER_CALL = 100
PERIOD_SECONDS = 60


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


class CloudWatchAlarms:
    """Alarm states and Lambda metrics over one (injected or lazy) client."""

    def __init__(self, client: CloudWatchClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> CloudWatchClient:
        if self._client is None:
            self._client = default_client("cloudwatch")
        return self._client

    def alarm_states(self, names: Sequence[str]) -> Mapping[str, AlarmState]:
        """``{name: AlarmState}`` of the metric and composite alarms that exist."""
        states: dict[str, AlarmState] = {}
        for start in range(0, len(names), NAMES_PER_CALL):
            states.update(self._describe(list(names[start:start + NAMES_PER_CALL])))
        return states

    def _describe(self, names: list[str]) -> dict[str, AlarmState]:
        states: dict[str, AlarmState] = {}
        try:
            pages = self.client.get_paginator("describe_alarms").paginate(
                AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for page in pages:
                alarms: list[Any] = [*page.get("MetricAlarms", []),
                                     *page.get("CompositeAlarms", [])]
                states.update({a["AlarmName"]: alarm_state(a) for a in alarms})
        except _aws_errors() as e:
            raise aws_error(e, f"describing alarms {names}") from e
        return states

    def error_sum(self, function_name: str, alias: str, version: str, *,
                  start: datetime, end: datetime) -> float:
        """Sum of ``AWS/Lambda`` ``Errors`` for ``version`` invoked through ``alias``.

        Lambda publishes this series with the dimensions ``FunctionName``,
        ``Resource`` (``function:alias``) and ``ExecutedVersion`` for weighted aliases.
        """
        metric: dict[str, Any] = {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                                  "Dimensions": [
            {"Name": "FunctionName", "Value": function_name},
            {"Name": "Resource", "Value": f"{function_name}:{alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]}
        query: Any = {"Id": "errors", "ReturnData": True,
                      "MetricStat": {"Metric": metric, "Period": PERIOD_SECONDS, "Stat": "Sum"}}
        total = 0.0
        try:
            pages = self.client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=[query], StartTime=start, EndTime=end)
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    total += sum(result.get("Values", []))
        except _aws_errors() as e:
            raise aws_error(e, f"reading the Errors metric of {function_name}:{version}") from e
        return total


def alarm_state(raw: Mapping[str, Any]) -> AlarmState:
    """The state of one described alarm and when its value last changed.

    ``StateTransitionedTimestamp`` changes only when ``StateValue`` does;
    ``StateUpdatedTimestamp`` (the fallback) also moves with the evaluation state.
    """
    changed = raw.get("StateTransitionedTimestamp") or raw.get("StateUpdatedTimestamp")
    return AlarmState(state=str(raw["StateValue"]), changed_at=_iso(changed))


def _iso(moment: Any) -> str | None:
    if not isinstance(moment, datetime):
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    # Microseconds kept: a re-fired alarm may change state within the same second.
    return aware.astimezone(UTC).isoformat()
