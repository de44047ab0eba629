"""Start a release on the deployment state machine, or follow the one already started.

A release's execution name is derived from what it deploys (function, alias, the
artifact's SHA-256 and the migration set), so a re-run of the same CI job finds the
execution its first run started and follows it instead of starting a second release.
A failed release is retried only on purpose (``--retry``), as the next attempt
``<name>-r2``, ``-r3``, ...
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stackflow.adapters.stepfunctions import (
    Execution,
    HistoryEvent,
    StepFunctions,
    execution_arn,
)
from stackflow.errors import ReleaseAlreadyStarted, ReleaseFailed

# Execution names: 1-80 characters; letters, digits, '-' and '_' keep them valid for
# CloudWatch log names and URLs too.
NAME_MAX = 80
RELEASE_KEY_CHARS = 16
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
ATTEMPT_SUFFIX = "-r"
MAX_ATTEMPTS = 99
DEFAULT_POLL_SECONDS = 5.0
SHIFT_STATE = "Shift"

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Emit = Callable[[str], None]


def release_key(function_name: str, alias: str, artifact_sha256: str,
                migrations_digest: str) -> str:
    """A short hex digest of everything a release deploys."""
    identity = json.dumps([function_name, alias, artifact_sha256, migrations_digest])
    return hashlib.sha256(identity.encode()).hexdigest()[:RELEASE_KEY_CHARS]


def release_name(function_name: str, alias: str, key: str, attempt: int = 1) -> str:
    """``<function>-<alias>-<key>[-r<attempt>]``, sanitized to the execution-name rules."""
    suffix = f"-{key}" + (f"{ATTEMPT_SUFFIX}{attempt}" if attempt > 1 else "")
    stem = _UNSAFE.sub("-", f"{function_name}-{alias}").strip("-") or "release"
    return stem[: NAME_MAX - len(suffix)].rstrip("-") + suffix


@dataclass(frozen=True)
class Release:
    """The execution a ``pipeline start`` ended up with."""

    execution: Execution
    attempt: int
    started: bool  # False: an earlier run had started it (or finished it) already


class Releases:
    """Start-or-follow over one state machine."""

    def __init__(self, sfn: StepFunctions, state_machine_arn: str) -> None:
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn

    def arn_of(self, name: str) -> str:
        return execution_arn(self.state_machine_arn, name)

    def latest_attempt(self, function_name: str, alias: str,
                       key: str) -> tuple[int, Execution] | None:
        """The newest attempt of a release that exists, with its number."""
        latest: tuple[int, Execution] | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            found = self.sfn.find_execution(
                self.arn_of(release_name(function_name, alias, key, attempt)))
            if found is None:
                return latest
            latest = (attempt, found)
        return latest

    def start_or_follow(self, function_name: str, alias: str, key: str,
                        document: Mapping[str, Any], *, retry: bool = False) -> Release:
        """Start the release, or return the attempt that is running or succeeded already.

        A failed last attempt raises ReleaseFailed unless ``retry`` asks for the next one.
        """
        latest = self.latest_attempt(function_name, alias, key)
        if latest is None:
            return self._start(function_name, alias, key, 1, document)
        attempt, execution = latest
        if execution.status in ("RUNNING", "SUCCEEDED"):
            return Release(execution, attempt, started=False)
        if not retry:
            raise ReleaseFailed(
                f"release {execution.name} ended {execution.status} "
                f"({failure_text(execution)}); run again with --retry to start attempt "
                f"{attempt + 1}", execution=execution.arn, status=execution.status,
                error=execution.error, cause=execution.cause)
        return self._start(function_name, alias, key, attempt + 1, document)

    def _start(self, function_name: str, alias: str, key: str, attempt: int,
               document: Mapping[str, Any]) -> Release:
        name = release_name(function_name, alias, key, attempt)
        try:
            arn = self.sfn.start_execution(self.state_machine_arn, name, document)
        except ReleaseAlreadyStarted:
            # Another run of the same job got there first between our look and our start.
            return Release(self.sfn.describe_execution(self.arn_of(name)), attempt, False)
        return Release(self.sfn.describe_execution(arn), attempt, started=True)


def follow(sfn: StepFunctions, arn: str, emit: Emit, *, sleep: Sleep = time.sleep,
           clock: Clock = time.monotonic, poll_seconds: float = DEFAULT_POLL_SECONDS,
           timeout_seconds: float | None = None,
           alias: Callable[[], str] | None = None) -> Execution:
    """Print the execution state by state until it ends (or the timeout passes).

    The status is read before the history on every round, so once it is terminal the
    history read after it holds every event up to the end. ``alias`` reads where the
    deployed alias routes traffic now: printed whenever it changes (whoever changed
    it), and once more at the end.
    """
    deadline = None if timeout_seconds is None else clock() + timeout_seconds
    seen, routing = 0, None
    while True:
        execution = sfn.describe_execution(arn)
        events = sfn.history(arn, after_id=seen)
        for event in events:
            line = describe_event(event, execution.started_at)
            if line:
                emit(line)
        seen = events[-1].id if events else seen
        if alias is not None and (now := alias()) != routing:
            emit(f"{'':8}{now}")
            routing = now
        if execution.done or (deadline is not None and clock() >= deadline):
            return execution
        sleep(poll_seconds)


def describe_event(event: HistoryEvent, started_at: datetime) -> str | None:
    """One terminal line for the events a person follows a release by, else None."""
    stamp = f"[{_elapsed(event.timestamp, started_at)}]"
    kind = event.type
    if kind.endswith("StateEntered") and event.state:
        return f"{stamp} {event.state} ..."
    if kind.endswith("StateExited") and event.state:
        detail = state_detail(event.state, event.output)
        return f"{stamp} {event.state} done" + (f" -- {detail}" if detail else "")
    if kind in ("TaskFailed", "LambdaFunctionFailed", "ExecutionFailed"):
        return f"{stamp} {kind}: {failure_text(event)}"
    if kind in ("ExecutionAborted", "ExecutionTimedOut"):
        return f"{stamp} {kind}"
    if kind == "ExecutionSucceeded":
        return f"{stamp} ExecutionSucceeded"
    return None


def state_detail(state: str, output: str | None) -> str | None:
    """What a Shift's result says: the plan step it reached (not the alias's routing,
    which only the alias itself tells: see ``follow(alias=...)``)."""
    if state != SHIFT_STATE or not output:
        return None
    try:
        shift = json.loads(output).get("shift") or {}
        return plan_step(float(shift["weight"]), int(shift["index"]),
                         shift.get("steps_total"), bool(shift.get("done")))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def plan_step(weight: float, index: int, total: Any, done: bool) -> str:
    """``plan step 1/2: 10% to the new version``; the final step moves nothing itself."""
    of = f"/{total}" if isinstance(total, int) else ""
    if done:
        return f"plan step {index + 1}{of}: done, Promote moves the alias next"
    return f"plan step {index + 1}{of}: {round(weight * 100, 2):g}% to the new version"


def failure_text(item: Execution | HistoryEvent) -> str:
    """``ErrorType: message`` of a failure; Lambda's JSON cause is cut to its message."""
    error = item.error or "unknown error"
    return f"{error}: {cause_message(item.cause)}" if item.cause else error


def cause_message(cause: str) -> str:
    # A Lambda failure's cause is {"errorMessage", "errorType", "stackTrace"}; the
    # message is what a person needs on the terminal.
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        return str(parsed["errorMessage"])
    return cause


def _elapsed(when: datetime, started_at: datetime) -> str:
    seconds = max(0, int((when - started_at).total_seconds()))
    return f"{seconds // 60:3d}:{seconds % 60:02d}"


def current_state(events: list[HistoryEvent]) -> str | None:
    """The state the execution is in: the last one entered and not yet exited."""
    open_states: list[str] = []
    for event in events:
        if event.type.endswith("StateEntered") and event.state:
            open_states.append(event.state)
        elif event.type.endswith("StateExited") and event.state in open_states:
            open_states.remove(event.state)
    return open_states[-1] if open_states else None


def last_plan_step(events: list[HistoryEvent]) -> str | None:
    """The plan step of the last Shift that finished, if any did."""
    for event in reversed(events):
        if event.type.endswith("StateExited") and event.state == SHIFT_STATE:
            return state_detail(SHIFT_STATE, event.output)
    return None
