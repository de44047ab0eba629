"""Words and numbers both renderers write the same way: times, durations, shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from stackflow_tools.report.model import (
    ABORTED,
    FAILED,
    PROMOTED,
    ROLLED_BACK,
    RUNNING,
    TIMED_OUT,
    FunctionOutcome,
    FunctionStep,
    Report,
    StateRun,
)

OUTCOME_TITLES = {PROMOTED: "Promoted", ROLLED_BACK: "Rolled back", FAILED: "Failed",
                  RUNNING: "Running", ABORTED: "Aborted", TIMED_OUT: "Timed out"}
OUTCOME_MARKS = {PROMOTED: "✅", ROLLED_BACK: "↩️", FAILED: "❌", RUNNING: "⏳",
                 ABORTED: "⛔", TIMED_OUT: "⌛"}


def outcome_title(outcome: str) -> str:
    return OUTCOME_TITLES.get(outcome, outcome.title())


def elapsed(seconds: float) -> str:
    """``+m:ss`` (``+h:mm:ss`` past an hour) since the release started."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes}:{secs:02d}"


def duration(seconds: float | None) -> str:
    """``0.09 s``, ``1.7 s``, ``2 min 05 s``, ``1 h 02 min``; ``running`` for None."""
    if seconds is None:
        return "running"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent(share: float | None) -> str:
    """A 0..1 share as ``10%`` (one decimal when it has one); ``-`` for None."""
    if share is None:
        return "-"
    value = round(share * 100, 1)
    return f"{value:g}%"


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def since_start(report: Report, moment: datetime) -> float:
    return (moment - report.started_at).total_seconds()


def versions_text(report: Report) -> str:
    """``1 → 2``, or what is known of it."""
    previous = report.previous_version or "?"
    if report.new_version is None:
        return f"{previous} (no version published)"
    return f"{previous} → {report.new_version}"


def function_versions(outcome: FunctionOutcome) -> str:
    """``1 → 2`` for one function of a release; ``-`` for what is not known."""
    return f"{outcome.previous_version or '-'} → {outcome.new_version or '-'}"


@dataclass(frozen=True)
class StepRun:
    """Consecutive runs of one step with one outcome (a bake's checks are one)."""

    name: str
    outcome: str
    runs: int
    error: str | None = None

    @property
    def label(self) -> str:
        return self.name + (f" ({self.runs} runs)" if self.runs > 1 else "")


def step_runs(steps: Sequence[FunctionStep]) -> list[StepRun]:
    """A function's steps in order, repeats of the same step and outcome merged."""
    merged: list[StepRun] = []
    for step in steps:
        last = merged[-1] if merged else None
        if last is not None and (last.name, last.outcome) == (step.name, step.outcome):
            merged[-1] = StepRun(last.name, last.outcome, last.runs + 1, step.error or last.error)
        else:
            merged.append(StepRun(step.name, step.outcome, 1, step.error))
    return merged


def schema_text(version: int | None) -> str:
    return "empty" if version is None else str(version)


def count_of(number: float, noun: str) -> str:
    """``1 error``, ``2 errors``, ``0 errors`` (a metric's sum, shown as a count)."""
    return f"{number:g} {noun}" + ("" if number == 1 else "s")


def count(number: int, noun: str) -> str:
    """``1 migration``, ``4 migrations``, ``no migrations``."""
    if number == 0:
        return f"no {noun}s"
    return f"{number} {noun}" + ("" if number == 1 else "s")


@dataclass(frozen=True)
class StateGroup:
    """Every run of one state: when it first started, how long in all, how it ended."""

    name: str
    kind: str  # of its first run: Task, Wait, Fail, ...
    runs: int
    first_start: datetime
    seconds: float | None  # None: a run is still going on
    error: str | None  # the failure of a run that failed, if one did
    attempts: int


def state_groups(states: Sequence[StateRun]) -> list[StateGroup]:
    """States by name in the order first entered (a bake's ten checks are one row)."""
    order: dict[str, list[StateRun]] = {}
    for run in states:
        order.setdefault(run.name, []).append(run)
    return [_group(name, runs) for name, runs in order.items()]


def _group(name: str, runs: list[StateRun]) -> StateGroup:
    seconds = None if any(r.seconds is None for r in runs) else sum(
        r.seconds or 0.0 for r in runs)
    failed = next((r for r in runs if r.failed), None)
    error = (failed.error or "failed") if failed else None
    return StateGroup(name, runs[0].kind, len(runs), runs[0].started_at, seconds, error,
                      sum(r.attempts for r in runs))
