"""Amazon CloudWatch: alarm states and the Lambda ``Errors`` metric of a canary.

:class:`CloudWatchAlarms` implements ``stackflow.deploy.ports.AlarmsPort``; its
:meth:`~CloudWatchAlarms.version_series` also reads a release's per-version series for
``stackflow report``.
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
# GetMetricData accepts at most 500 queries per call.
QUERIES_PER_CALL = 500

# ``(timestamp, value)`` pairs of one metric, oldest first.
Series = list[tuple[datetime, float]]


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
        query: Any = {"Id": "errors", "ReturnData": True, "MetricStat": {
            "Metric": executed_version_metric("Errors", function_name, alias, version),
            "Period": PERIOD_SECONDS, "Stat": "Sum"}}
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


    def version_series(self, function_name: str, alias: str, versions: Sequence[str],
                       metric_names: Sequence[str], *, start: datetime, end: datetime,
                       period: int = PERIOD_SECONDS) -> dict[tuple[str, str], Series]:
        """``{(version, metric): [(timestamp, sum), ...]}`` of ``AWS/Lambda`` metrics
        per ``ExecutedVersion`` invoked through ``alias``, each period's ``Sum``.

        A period without data has no pair (CloudWatch returns none for it).
        """
        keys = [(version, name) for version in versions for name in metric_names]
        found: dict[tuple[str, str], Series] = {key: [] for key in keys}
        for first in range(0, len(keys), QUERIES_PER_CALL):
            chunk = keys[first:first + QUERIES_PER_CALL]
            queries: Any = [{"Id": f"m{first + i}", "ReturnData": True, "MetricStat": {
                "Metric": executed_version_metric(name, function_name, alias, version),
                "Period": period, "Stat": "Sum"}} for i, (version, name) in enumerate(chunk)]
            for query_id, pairs in self._metric_data(queries, start, end, function_name):
                found[keys[int(query_id[1:])]].extend(pairs)
        return {key: sorted(pairs) for key, pairs in found.items()}

    def _metric_data(self, queries: Any, start: datetime, end: datetime,
                     what: str) -> list[tuple[str, Series]]:
        results: list[tuple[str, Series]] = []
        try:
            pages = self.client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=start, EndTime=end,
                ScanBy="TimestampAscending")
            for page in pages:
                results.extend((str(r["Id"]), [(_utc(t), float(v)) for t, v in zip(
                    r.get("Timestamps", []), r.get("Values", []), strict=False)])
                    for r in page.get("MetricDataResults", []))
        except _aws_errors() as e:
            raise aws_error(e, f"reading the Lambda metrics of {what}") from e
        return results


def executed_version_metric(name: str, function_name: str, alias: str,
                            version: str) -> dict[str, Any]:
    """The ``AWS/Lambda`` metric ``name`` of ``version`` invoked through ``alias``."""
    return {"Namespace": "AWS/Lambda", "MetricName": name, "Dimensions": [
        {"Name": "FunctionName", "Value": function_name},
        {"Name": "Resource", "Value": f"{function_name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]}


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
    # Microseconds kept: a re-fired alarm may change state within the same second.
    return _utc(moment).isoformat()


def _utc(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC)
