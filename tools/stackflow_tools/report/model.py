"""The report of one release, built from what the release left behind. Pure: no I/O.

Inputs: the execution (DescribeExecution), its history events (every state's output is
the whole deployment document, docs/architecture.md), the deployment record (the deploy
table's item, or ``$.record`` of the document when the table is not read) and the
``AWS/Lambda`` ``Invocations`` / ``Errors`` per ``ExecutedVersion`` over the release
window. The document's keys are read with their own types (``stackflow.deploy.document``);
a key that does not read is left out of the report, never guessed.

A multi-function release (``"functions"`` in the input) reports its release record
instead: the release's verdict, and one :class:`FunctionOutcome` per function (its
versions, status, rollback outcome and steps). Without the table, ``$.record`` (Record's
summary) or, while it runs, Lock's target documents give the functions without steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from stackflow.adapters.stepfunctions import Execution, HistoryEvent
from stackflow.deploy.document import (
    DocumentResult,
    LockResult,
    PublishResult,
    RollbackResult,
    ShiftResult,
    SmokeCaseResult,
    SmokeResult,
    read_optional,
)
from stackflow.errors import InvalidRequest

from stackflow_tools.release.pipeline import cause_message

# Verdicts, from the deployment's point of view.
PROMOTED, ROLLED_BACK, FAILED, RUNNING = "PROMOTED", "ROLLED_BACK", "FAILED", "RUNNING"
ABORTED, TIMED_OUT = "ABORTED", "TIMED_OUT"
PREVIOUS, NEW = "previous", "new"
# Choice and Pass states take no time and decide nothing a reader needs to see.
_HIDDEN_KINDS = ("Choice", "Pass")
_FAILURE_EVENTS = frozenset({"TaskFailed", "LambdaFunctionFailed", "TaskTimedOut",
                             "MapStateFailed",
                             "LambdaFunctionTimedOut", "LambdaFunctionStartFailed",
                             "LambdaFunctionScheduleFailed", "TaskSubmitFailed",
                             "TaskStartFailed", "ExecutionFailed"})
_SUCCESS_EVENTS = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded"})
_ITERATION_ENDS = frozenset({"MapIterationFailed", "MapIterationAborted"})
_ATTEMPT_EVENTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})
R = TypeVar("R", bound=DocumentResult)
Series = Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class StateRun:
    """One run of one state: entered, left (None: still in it), how it ended."""

    name: str
    kind: str  # Task, Wait, Fail, Succeed, ... (the history event's prefix)
    started_at: datetime
    ended_at: datetime | None
    seconds: float | None
    failed: bool = False
    error: str | None = None  # "ErrorType: message" of the failure that ended it
    attempts: int = 0  # Lambda invocations (retries included); 0 for a Wait


@dataclass(frozen=True)
class TrafficStep:
    """The alias's split changed: ``weight`` is the new version's share (0..1)."""

    at: datetime
    label: str
    weight: float


@dataclass(frozen=True)
class ErrorSample:
    """One metric period of one version: invocations and errors through the alias."""

    at: datetime
    invocations: float
    errors: float

    @property
    def rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations > 0 else None


@dataclass(frozen=True)
class VersionLine:
    """One version's traffic share over time (a step line) and its error samples."""

    version: str
    role: str  # PREVIOUS or NEW
    weights: tuple[tuple[datetime, float], ...]
    samples: tuple[ErrorSample, ...] = ()

    @property
    def invocations(self) -> float:
        return sum(s.invocations for s in self.samples)

    @property
    def errors(self) -> float:
        return sum(s.errors for s in self.samples)


@dataclass(frozen=True)
class SmokeCase:
    name: str
    passed: bool
    latency_ms: float
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str


@dataclass(frozen=True)
class Migrations:
    """What the patcher did in this release, and how to take the schema back."""

    enabled: bool
    before: int | None = None
    after: int | None = None
    applied: tuple[AppliedMigration, ...] = ()
    # The record's ``migration_rollback`` (or what replaces it): shown as recorded.
    rollback: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FunctionStep:
    """One step of one function of a release, as its release record keeps it."""

    name: str
    outcome: str  # succeeded, failed
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None  # "ErrorType: message" of a failed step


@dataclass(frozen=True)
class FunctionOutcome:
    """One function of a multi-function release: versions, status, rollback, steps."""

    function: str
    alias: str
    previous_version: str | None
    new_version: str | None
    status: str | None
    rollback: str | None = None  # the outcome of its rollback, when one ran
    steps: tuple[FunctionStep, ...] = ()


@dataclass(frozen=True)
class Verdict:
    outcome: str  # PROMOTED, ROLLED_BACK, FAILED, RUNNING, ABORTED, TIMED_OUT
    headline: str
    error: str | None = None
    cause: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == PROMOTED


@dataclass(frozen=True)
class Report:
    """Everything the renderers show of one release."""

    name: str
    arn: str
    status: str  # the execution's status
    function: str
    alias: str
    started_at: datetime
    ended_at: datetime | None
    previous_version: str | None
    new_version: str | None
    verdict: Verdict
    states: tuple[StateRun, ...]
    traffic: tuple[TrafficStep, ...]
    versions: tuple[VersionLine, ...]
    smoke: tuple[SmokeCase, ...]
    migrations: Migrations
    strategy: str | None = None
    commit: str | None = None
    run_url: str | None = None
    metrics_note: str | None = None  # why there are no error rates, when there are none
    period_seconds: int | None = None  # of each error sample (CloudWatch's period)
    generated_at: datetime | None = None
    notes: tuple[str, ...] = ()
    # A multi-function release's functions (empty for one function).
    functions: tuple[FunctionOutcome, ...] = ()

    @property
    def target(self) -> str:
        """What was released: ``fn:alias``, or ``release of N functions``."""
        if self.function:
            return f"{self.function}:{self.alias}"
        return release_label(len(self.functions)) if self.functions else self.name

    @property
    def until(self) -> datetime:
        """The end of the time axis: the end, or (still running) when it was built."""
        return self.ended_at or self.generated_at or self.started_at

    @property
    def seconds(self) -> float:
        return (self.until - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON values (timestamps ISO 8601, UTC as recorded)."""
        data: dict[str, Any] = _plain(asdict(self))
        data["verdict"]["ok"] = self.verdict.ok
        data["seconds"] = self.seconds
        for line, raw in zip(self.versions, data["versions"], strict=True):
            raw["invocations"], raw["errors"] = line.invocations, line.errors
            for sample, raw_sample in zip(line.samples, raw["samples"], strict=True):
                raw_sample["rate"] = sample.rate
        return data


@dataclass(frozen=True)
class MetricQuery:
    """What ``collect`` reads from CloudWatch for the report: who, which, when."""

    function: str
    alias: str
    versions: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ReportInputs:
    """What a release left behind, as the adapters read it."""

    execution: Execution
    events: Sequence[HistoryEvent]
    record: Mapping[str, Any] | None = None
    # {version: samples}; None when the metrics were not read (see metrics_note).
    metrics: Mapping[str, Sequence[ErrorSample]] | None = None
    metrics_note: str | None = None
    period_seconds: int | None = None
    now: datetime | None = None  # when the report is built (the axis end while running)
    notes: tuple[str, ...] = ()  # what could not be read, for the reader


def build_report(inputs: ReportInputs) -> Report:
    """The report of one release (see the module docstring for the inputs)."""
    execution, events = inputs.execution, inputs.events
    doc = document(execution, events)
    record = inputs.record if inputs.record is not None else _mapping(doc.get("record"))
    previous, new = versions_of(doc, record)
    function, alias = _target(doc, record)
    until = execution.stopped_at or inputs.now or _last_time(events, execution.started_at)
    traffic = traffic_steps(events)
    functions = function_outcomes(doc, record)
    return Report(
        name=execution.name, arn=execution.arn, status=execution.status,
        function=function, alias=alias, started_at=execution.started_at,
        ended_at=execution.stopped_at, previous_version=previous, new_version=new,
        verdict=release_verdict(execution, record, functions) if functions
        else verdict(execution, record, doc, function, alias),
        states=state_runs(events, until), traffic=traffic,
        versions=version_lines(previous, new, traffic, _published_at(events),
                               execution.started_at, inputs.metrics or {}),
        smoke=smoke_cases(doc, record), migrations=migrations(doc, events, record),
        strategy=_strategy(doc), commit=_ci(doc, "commit"), run_url=_ci(doc, "run_url"),
        metrics_note=inputs.metrics_note if inputs.metrics is None else None,
        period_seconds=inputs.period_seconds if inputs.metrics is not None else None,
        generated_at=inputs.now, notes=inputs.notes, functions=functions)


def metric_query(execution: Execution, events: Sequence[HistoryEvent],
                 now: datetime) -> MetricQuery | None:
    """The metrics the report needs: both versions, from the start to the end (or now)."""
    doc = document(execution, events)
    record = _mapping(doc.get("record"))
    function, alias = _target(doc, record)
    wanted = tuple(v for v in versions_of(doc, record) if v is not None)
    if not function or not wanted:
        return None
    return MetricQuery(function, alias, tuple(dict.fromkeys(wanted)), execution.started_at,
                       execution.stopped_at or now)


def samples_from_series(invocations: Series, errors: Series) -> tuple[ErrorSample, ...]:
    """Join the two metrics of one version by period (a missing one counts 0)."""
    counts: dict[datetime, list[float]] = {}
    for at, value in invocations:
        counts.setdefault(at, [0.0, 0.0])[0] += value
    for at, value in errors:
        counts.setdefault(at, [0.0, 0.0])[1] += value
    return tuple(ErrorSample(at, calls, failed) for at, (calls, failed) in sorted(counts.items()))


# --- the document ------------------------------------------------------------------
def document(execution: Execution, events: Sequence[HistoryEvent]) -> dict[str, Any]:
    """The newest whole deployment document the execution shows.

    Every state passes the whole document on, so the last state output holding
    ``input`` is the document as far as the release got; a succeeded execution's
    output is the final one.
    """
    for output in (execution.output, *(e.output for e in reversed(events))):
        parsed = _json_object(output)
        if parsed is not None and "input" in parsed:
            return parsed
    return {}


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _read(doc: Mapping[str, Any], result: type[R]) -> R | None:
    """``result`` from ``doc``; None when absent or not readable (a report never fails)."""
    try:
        return read_optional(doc, result)
    except InvalidRequest:
        return None


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _input(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(doc.get("input")) or {}


def is_release(doc: Mapping[str, Any]) -> bool:
    """A multi-function release's document (``"functions"`` in its input)."""
    return isinstance(_input(doc).get("functions"), list)


def release_label(count: int) -> str:
    return f"release of {count} function{'' if count == 1 else 's'}"


def _target(doc: Mapping[str, Any], record: Mapping[str, Any] | None) -> tuple[str, str]:
    inp, rec = _input(doc), record or {}
    return (str(inp.get("function_name") or rec.get("function") or ""),
            str(inp.get("alias") or rec.get("alias") or ""))


def versions_of(doc: Mapping[str, Any],
                record: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The version the alias was on before, and the version this release published."""
    lock, publish, rec = _read(doc, LockResult), _read(doc, PublishResult), record or {}
    previous = lock.previous_version if lock else _text(rec.get("previous_version"))
    new = publish.version if publish else _text(rec.get("new_version"))
    return previous, new


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _strategy(doc: Mapping[str, Any]) -> str | None:
    strategy = _mapping(_input(doc).get("strategy")) or {}
    if strategy.get("preset"):
        return str(strategy["preset"])
    plan = _mapping(strategy.get("plan")) or strategy
    steps = plan.get("steps")
    if isinstance(steps, list) and steps:
        weights = [f"{round(float(s.get('weight', 0)) * 100):g}%" for s in steps
                   if isinstance(s, Mapping)]
        return f"{plan.get('type', 'custom')} ({' → '.join(weights)})"
    return str(plan["type"]) if plan.get("type") else None


def _ci(doc: Mapping[str, Any], key: str) -> str | None:
    ci = _mapping(_input(doc).get("ci")) or {}
    return _text(ci.get(key))


# --- the timeline --------------------------------------------------------------------
def state_runs(events: Sequence[HistoryEvent], until: datetime) -> tuple[StateRun, ...]:
    """Every run of every state that takes time, in the order they were entered.

    An event belongs to the run its ``previous_id`` chain leads to (the iterations of a
    Map run side by side), else to the newest open run; a Map's own events to the
    newest open Map. A Map iteration that failed ends its state's run there (no
    StateExited follows it).
    """
    runs: list[_OpenRun] = []
    open_runs: list[_OpenRun] = []
    owner: dict[int, _OpenRun | None] = {}
    for event in events:
        run = _owner(event, owner, open_runs)
        owner[event.id] = run
        if event.type.endswith("StateEntered") and event.state:
            run = owner[event.id] = _OpenRun(event.state,
                                             event.type.removesuffix("StateEntered"),
                                             event.timestamp)
            runs.append(run)
            open_runs.append(run)
        elif event.type.endswith("StateExited") and event.state:
            _exit(run, event, open_runs)
        elif event.type in _ITERATION_ENDS and run is not None and run in open_runs:
            _end_iteration(run, event, open_runs)
        elif run is not None:
            run.observe(event)
    return tuple(run.finish(until) for run in runs if run.kind not in _HIDDEN_KINDS)


def _exit(run: _OpenRun | None, event: HistoryEvent, open_runs: list[_OpenRun]) -> None:
    if run is None or run.name != event.state or run not in open_runs:
        run = next((r for r in reversed(open_runs) if r.name == event.state), None)
    if run is None:
        return
    if run.kind == "Map":
        # Iterations still open when their Map ends were stopped with it (a failed
        # iteration stops the others; their states are never exited).
        for inner in open_runs[open_runs.index(run) + 1:]:
            inner.ended_at = event.timestamp
        del open_runs[open_runs.index(run) + 1:]
    run.ended_at = event.timestamp
    open_runs.remove(run)


def _end_iteration(run: _OpenRun, event: HistoryEvent, open_runs: list[_OpenRun]) -> None:
    run.ended_at = event.timestamp
    open_runs.remove(run)
    # The Map fails with its iteration's error; its own MapStateFailed names none.
    parent = next((r for r in reversed(open_runs) if r.kind == "Map"), None)
    if parent is not None and parent.error is None:
        parent.error = run.error


def _owner(event: HistoryEvent, owner: Mapping[int, _OpenRun | None],
           open_runs: Sequence[_OpenRun]) -> _OpenRun | None:
    if event.type.startswith("MapState"):
        return next((run for run in reversed(open_runs) if run.kind == "Map"), None)
    if event.previous_id is not None and event.previous_id in owner:
        return owner[event.previous_id]
    return open_runs[-1] if open_runs else None


@dataclass
class _OpenRun:
    """A state run being read from the history."""

    name: str
    kind: str
    started_at: datetime
    ended_at: datetime | None = None
    error: str | None = None
    attempts: int = 0

    def observe(self, event: HistoryEvent) -> None:
        if event.type in _ATTEMPT_EVENTS:
            self.attempts += 1
        elif event.type in _FAILURE_EVENTS:
            # A Map's own failure names no error: its iteration's error stays.
            self.error = _failure(event) if event.error or self.error is None else self.error
        elif event.type in _SUCCESS_EVENTS:
            self.error = None  # a retry that succeeded

    def finish(self, until: datetime) -> StateRun:
        # Fail and Succeed states are never exited: they end the execution at once.
        end = self.ended_at or (self.started_at if self.kind in ("Fail", "Succeed")
                                else None)
        shown_end = end or until
        return StateRun(self.name, self.kind, self.started_at, end,
                        (shown_end - self.started_at).total_seconds() if end else None,
                        failed=self.error is not None or self.kind == "Fail",
                        error=self.error, attempts=self.attempts)


def _failure(event: HistoryEvent) -> str:
    error = event.error or "unknown error"
    return f"{error}: {cause_message(event.cause)}" if event.cause else error


def _last_time(events: Sequence[HistoryEvent], default: datetime) -> datetime:
    return events[-1].timestamp if events else default


# --- traffic -------------------------------------------------------------------------
def traffic_steps(events: Sequence[HistoryEvent]) -> tuple[TrafficStep, ...]:
    """Each change of the alias's split, read from the states that made it."""
    steps: list[TrafficStep] = []
    for event in events:
        if not (event.type.endswith("StateExited") and event.state):
            continue
        doc = _json_object(event.output) or {}
        step = _STEP_READERS.get(event.state, _no_step)(doc, event.timestamp)
        if step is not None:
            steps.append(step)
    return tuple(steps)


def _shift_step(doc: Mapping[str, Any], at: datetime) -> TrafficStep | None:
    shift = _read(doc, ShiftResult)
    # A step that finished the plan writes nothing: Promote moves the rest.
    if shift is None or shift.done or doc.get("error") is not None:
        return None
    total = f" of {shift.steps_total}" if shift.steps_total else ""
    return TrafficStep(at, f"shift {shift.index + 1}{total}", shift.weight)


def _promote_step(doc: Mapping[str, Any], at: datetime) -> TrafficStep | None:
    return TrafficStep(at, "promote", 1.0) if doc.get("promote") is not None else None


def _rollback_step(doc: Mapping[str, Any], at: datetime) -> TrafficStep | None:
    rollback = _read(doc, RollbackResult)
    if rollback is None or not rollback.back_on_previous:
        return None
    return TrafficStep(at, "rollback", 0.0)


def _no_step(_doc: Mapping[str, Any], _at: datetime) -> TrafficStep | None:
    return None


_STEP_READERS: dict[str, Callable[[Mapping[str, Any], datetime], TrafficStep | None]] = {
    "Shift": _shift_step, "Promote": _promote_step, "Rollback": _rollback_step}


def _published_at(events: Sequence[HistoryEvent]) -> datetime | None:
    return next((e.timestamp for e in events
                 if e.type.endswith("StateExited") and e.state == "Publish"), None)


def version_lines(previous: str | None, new: str | None, traffic: Sequence[TrafficStep],
                  published_at: datetime | None, started_at: datetime,
                  metrics: Mapping[str, Sequence[ErrorSample]]) -> tuple[VersionLine, ...]:
    """The previous version from the start, the new one from its publication."""
    lines: list[VersionLine] = []
    if previous is not None:
        points = [(started_at, 1.0), *((s.at, 1.0 - s.weight) for s in traffic)]
        lines.append(VersionLine(previous, PREVIOUS, tuple(points),
                                 tuple(metrics.get(previous, ()))))
    if new is not None and new != previous:
        first = published_at or (traffic[0].at if traffic else started_at)
        points = [(first, 0.0), *((s.at, s.weight) for s in traffic)]
        lines.append(VersionLine(new, NEW, tuple(points), tuple(metrics.get(new, ()))))
    return tuple(lines)


# --- smoke, migrations ---------------------------------------------------------------
def smoke_cases(doc: Mapping[str, Any],
                record: Mapping[str, Any] | None) -> tuple[SmokeCase, ...]:
    """The smoke cases' outcomes: ``$.smoke``, else the failed step in the record."""
    smoke = _read(doc, SmokeResult)
    results = list(smoke.cases) if smoke else _recorded_cases(record)
    return tuple(SmokeCase(r.name, r.passed, r.latency_ms, r.failures) for r in results)


def _recorded_cases(record: Mapping[str, Any] | None) -> list[SmokeCaseResult]:
    for step in _steps(record):
        detail = _mapping(step.get("detail")) or {}
        if step.get("name") == "smoke" and isinstance(detail.get("cases"), list):
            try:
                return [SmokeCaseResult.from_object(case, f"smoke.cases[{i}]")
                        for i, case in enumerate(detail["cases"])]
            except InvalidRequest:
                return []
    return []


def _steps(record: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    steps = (record or {}).get("steps")
    return [s for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []


def migrations(doc: Mapping[str, Any], events: Sequence[HistoryEvent],
               record: Mapping[str, Any] | None) -> Migrations:
    """Before, after, and every migration any round of ``Migrate`` applied."""
    enabled = bool((_mapping(_input(doc).get("migrations")) or {}).get("enabled", False))
    rounds = [r for r in (_json_object(e.output) for e in events
                          if e.type.endswith("StateExited") and e.state == "Migrate") if r]
    applied: dict[int, AppliedMigration] = {}
    for item in _applied_items(_mapping(r.get("migrate")) for r in rounds):
        applied.setdefault(item.version, item)
    after_result = _mapping(doc.get("schema_after")) or _mapping(doc.get("migrate")) or {}
    before = _mapping(doc.get("schema_before")) or {}
    return Migrations(enabled=enabled or bool(before),
                      before=_int(before.get("current_version")),
                      after=_int(after_result.get("current_version")),
                      applied=tuple(sorted(applied.values(), key=lambda m: m.version)),
                      rollback=_mapping((record or {}).get("migration_rollback")))


def _applied_items(results: Iterable[Mapping[str, Any] | None]) -> Iterable[AppliedMigration]:
    for result in results:
        items = (result or {}).get("applied")
        for item in items if isinstance(items, list) else []:
            version = _int(item.get("version")) if isinstance(item, Mapping) else None
            if version is not None:
                yield AppliedMigration(version, str(item.get("name") or ""))


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- the functions of a release ------------------------------------------------------
def function_outcomes(doc: Mapping[str, Any],
                      record: Mapping[str, Any] | None) -> tuple[FunctionOutcome, ...]:
    """Each function of a release: the record's rows, else Lock's target documents."""
    if not is_release(doc):
        return ()
    rows = (record or {}).get("functions")
    if isinstance(rows, list) and rows:
        return tuple(_outcome(row) for row in rows if isinstance(row, Mapping))
    return tuple(_outcome_of_target(t) for t in _target_documents(doc))


def _outcome(row: Mapping[str, Any]) -> FunctionOutcome:
    steps = row.get("steps")
    return FunctionOutcome(
        function=str(row.get("function") or ""), alias=str(row.get("alias") or ""),
        previous_version=_text(row.get("previous_version")),
        new_version=_text(row.get("new_version")), status=_text(row.get("status")),
        rollback=_text(row.get("rollback")),
        steps=tuple(_step(s) for s in steps if isinstance(s, Mapping))
        if isinstance(steps, list) else ())


def _step(step: Mapping[str, Any]) -> FunctionStep:
    error = _mapping(step.get("error"))
    return FunctionStep(name=str(step.get("name") or ""),
                        outcome=str(step.get("outcome") or ""),
                        started_at=_text(step.get("started_at")),
                        finished_at=_text(step.get("finished_at")),
                        error=f"{error.get('type')}: {error.get('message')}" if error else None)


def _target_documents(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # The last Map's documents are the newest; before the first, Lock's.
    targets = doc.get("targets")
    if not isinstance(targets, list):
        targets = (_mapping(doc.get("lock")) or {}).get("targets")
    return [t for t in targets if isinstance(t, Mapping)] if isinstance(targets, list) else []


def _outcome_of_target(target: Mapping[str, Any]) -> FunctionOutcome:
    lock, publish = _read(target, LockResult), _read(target, PublishResult)
    function, alias = _target(target, None)
    return FunctionOutcome(function=function, alias=alias,
                           previous_version=lock.previous_version if lock else None,
                           new_version=publish.version if publish else None, status=None)


def release_verdict(execution: Execution, record: Mapping[str, Any] | None,
                    functions: Sequence[FunctionOutcome]) -> Verdict:
    """How a multi-function release ended: the release's status, then its error."""
    label = release_label(len(functions))
    error = execution.error
    cause = cause_message(execution.cause) if execution.cause else None
    if execution.status == "SUCCEEDED":
        return Verdict(PROMOTED, f"{label} promoted: " + ", ".join(
            f"{f.function}:{f.alias} {f.previous_version} → {f.new_version}" for f in functions))
    if execution.status == "RUNNING":
        return Verdict(RUNNING, f"{label} is running")
    if execution.status in (ABORTED, TIMED_OUT):
        return Verdict(execution.status, f"{label}: the execution "
                                         f"{execution.status.lower()} (the release record's "
                                         f"status: {_status(record)})", error, cause)
    if _status(record) == "ROLLED_BACK":
        return Verdict(ROLLED_BACK, f"{label} rolled back after {error}: every alias is "
                                    "on its previous version", error, cause)
    return Verdict(FAILED, f"{label} failed with {error}", error, cause)


# --- the verdict ---------------------------------------------------------------------
def verdict(execution: Execution, record: Mapping[str, Any] | None,
            doc: Mapping[str, Any], function: str, alias: str) -> Verdict:
    """How the release ended, in one line, with the error and its message."""
    previous, new = versions_of(doc, record)
    target = f"{function}:{alias}" if function else execution.name
    error = execution.error
    cause = cause_message(execution.cause) if execution.cause else None
    if execution.status == "SUCCEEDED":
        return Verdict(PROMOTED, f"{target} promoted to version {new} (was {previous})")
    if execution.status == "RUNNING":
        return Verdict(RUNNING, f"{target}: release of version {new or '(not published)'} "
                                "is running")
    if execution.status in (ABORTED, TIMED_OUT):
        return Verdict(execution.status, f"{target}: the execution {execution.status.lower()}"
                                         f" (the record's status: {_status(record)})",
                       error, cause)
    rollback = _read(doc, RollbackResult)
    if _status(record) == "ROLLED_BACK" or (rollback is not None and rollback.back_on_previous):
        return Verdict(ROLLED_BACK, f"{target} rolled back to version {previous}: version "
                                    f"{new} failed with {error}", error, cause)
    where = f"stays on version {previous}" if previous else "was not changed"
    return Verdict(FAILED, f"{target} {where}: the release failed with {error}", error, cause)


def _status(record: Mapping[str, Any] | None) -> str:
    return str((record or {}).get("status") or "unknown")


def _plain(value: Any) -> Any:
    """``asdict`` output as JSON values: timestamps as ISO 8601, tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
