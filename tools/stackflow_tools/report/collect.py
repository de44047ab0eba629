"""Read what a release left behind, through the adapters, and build its report.

The execution and its history come from Step Functions; the deployment record (for a
multi-function release, its release record) from the deploy table when one is given
(else the document's ``$.record``, which Record writes at the end); ``Invocations``
and ``Errors`` per ``ExecutedVersion`` from CloudWatch when a client is given. A part
that cannot be read (no permission, no table) leaves a note in the report instead of
failing it: the timeline alone is worth seeing at 2 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from stackflow.adapters.cloudwatch import PERIOD_SECONDS
from stackflow.errors import StackFlowError

from stackflow_tools.report.model import (
    ErrorSample,
    MetricQuery,
    Report,
    ReportInputs,
    build_report,
    document,
    is_release,
    metric_query,
    samples_from_series,
)

if TYPE_CHECKING:
    from stackflow.adapters.cloudwatch import CloudWatchAlarms
    from stackflow.adapters.stepfunctions import Execution, HistoryEvent
    from stackflow.deploy.ports import DeployStore

METRICS = ("Invocations", "Errors")
Clock = Callable[[], datetime]


class ExecutionReader(Protocol):
    """The two Step Functions reads of a report (``stackflow.adapters.stepfunctions``)."""

    def describe_execution(self, arn: str) -> Execution: ...

    def history(self, arn: str, after_id: int = 0) -> list[HistoryEvent]: ...


@dataclass(frozen=True)
class Sources:
    """Where the report reads from; ``cloudwatch`` / ``store`` None: not read."""

    sfn: ExecutionReader
    cloudwatch: CloudWatchAlarms | None = None
    store: DeployStore | None = None
    period_seconds: int = PERIOD_SECONDS
    clock: Clock = lambda: datetime.now(UTC)


def collect(execution_arn: str, sources: Sources) -> Report:
    """The report of the execution ``execution_arn``."""
    execution = sources.sfn.describe_execution(execution_arn)
    events = sources.sfn.history(execution_arn)
    now = sources.clock()
    record, record_note = _record(sources.store, execution, events)
    metrics, metrics_note = _metrics(sources, execution, events, now)
    return build_report(ReportInputs(
        execution=execution, events=events, record=record, metrics=metrics,
        metrics_note=metrics_note, period_seconds=sources.period_seconds, now=now,
        notes=tuple(n for n in (record_note,) if n)))


def _record(store: DeployStore | None, execution: Execution,
            events: Sequence[HistoryEvent]) -> tuple[Mapping[str, Any] | None, str | None]:
    if store is None:
        return None, None
    doc = document(execution, events)
    function = str((doc.get("input") or {}).get("function_name", ""))
    try:
        # The record's key is the execution id, which the state machine sets to the ARN.
        if is_release(doc):
            return store.get_release(execution.arn), None
        return (store.get_record(function, execution.arn) if function else None), None
    except StackFlowError as e:
        return None, f"deployment record not read ({e.error_type}: {e.message})"


def _metrics(sources: Sources, execution: Execution, events: Sequence[HistoryEvent],
             now: datetime) -> tuple[dict[str, tuple[ErrorSample, ...]] | None, str | None]:
    if sources.cloudwatch is None:
        return None, "error rates not read (CloudWatch metrics were not asked for)"
    query = metric_query(execution, events, now)
    if query is None and is_release(document(execution, events)):
        return None, "error rates not read: they are charted for one function at a time"
    if query is None:
        return None, "error rates not read: no version was published"
    start, end = aligned(query, sources.period_seconds)
    try:
        series = sources.cloudwatch.version_series(
            query.function, query.alias, query.versions, METRICS, start=start, end=end,
            period=sources.period_seconds)
    except StackFlowError as e:
        return None, f"error rates not read ({e.error_type}: {e.message})"
    return {version: samples_from_series(series[(version, "Invocations")],
                                         series[(version, "Errors")])
            for version in query.versions}, None


def aligned(query: MetricQuery, period_seconds: int) -> tuple[datetime, datetime]:
    """The query window widened to whole periods (CloudWatch's end is exclusive)."""
    step = max(1, period_seconds)

    def floor(moment: datetime) -> datetime:
        epoch = int(moment.timestamp())
        return datetime.fromtimestamp(epoch - epoch % step, UTC)

    return floor(query.start), floor(query.end) + timedelta(seconds=step)
