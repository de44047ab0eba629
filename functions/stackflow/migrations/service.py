"""The one core call behind the Lambda handler, the CLI and the local demo.

``run(request, deps)`` loads the source, plans, executes (or displays) and returns the
JSON-able result. Only ``stackflow.errors`` classes leave it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackflow.errors import StackFlowError
from stackflow.migrations.executor import (
    Deadline,
    DisplayOnlyExecutor,
    Executor,
    RunReport,
    StepExecutor,
    run_plan,
)
from stackflow.migrations.lock import acquire_lock
from stackflow.migrations.model import AppliedMigration, Findings, Migration, Plan
from stackflow.migrations.planner import (
    current_version,
    find_problems,
    pending,
    plan_migrate,
    plan_rollback,
)
from stackflow.migrations.ports import MigrationDatabase, RunStart
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.settings import PatcherSettings
from stackflow.migrations.source import MigrationSource, load_migrations


class Connect(Protocol):
    """Opens a session; ``application_name`` is how a waiting runner names the holder."""

    def __call__(self, *, read_only: bool, application_name: str) -> MigrationDatabase: ...


@dataclass(frozen=True)
class PatcherDeps:
    """Everything a run needs, built once at the edge (handler, CLI, demo, tests)."""

    source: MigrationSource
    connect: Connect
    settings: PatcherSettings = field(default_factory=PatcherSettings)
    applied_by: str = "unknown"
    remaining_ms: Callable[[], int] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @property
    def deadline(self) -> Deadline:
        return Deadline(self.remaining_ms, self.settings.deadline_margin_ms)


def run(request: PatcherRequest, deps: PatcherDeps) -> dict[str, Any]:
    """Carry out ``request``; return the result document (see docs/patcher.md)."""
    migrations = load_migrations(deps.source)
    if request.action == "status":
        return _status(migrations, deps)
    if request.dry_run:
        return _dry_run(request, migrations, deps)
    return _execute(request, migrations, deps)


def make_plan(request: PatcherRequest, migrations: Sequence[Migration],
              applied: Sequence[AppliedMigration]) -> Plan:
    if request.action == "rollback":
        return plan_rollback(migrations, applied, steps=request.steps, target=request.target)
    return plan_migrate(migrations, applied, target=request.target,
                        allow_out_of_order=request.allow_out_of_order)


def _status(migrations: Sequence[Migration], deps: PatcherDeps) -> dict[str, Any]:
    with _session(deps, "status", read_only=True) as db:
        applied = db.applied()
    findings = find_problems(migrations, applied)
    result = _result("status", False, migrations, applied, findings)
    result["applied"] = [a.summary() for a in applied]
    return result


def _dry_run(request: PatcherRequest, migrations: Sequence[Migration],
             deps: PatcherDeps) -> dict[str, Any]:
    # A read-only session, no lock, no table creation: a dry run changes nothing at all.
    with _session(deps, f"{request.action} dry run", read_only=True) as db:
        applied = db.applied()
    plan = make_plan(request, migrations, applied)
    report = run_plan(plan, DisplayOnlyExecutor(), Deadline())
    result = _result(request.action, True, migrations, applied, plan.findings)
    result["planned"] = [r.summary() for r in report.done]
    return result


def _execute(request: PatcherRequest, migrations: Sequence[Migration],
             deps: PatcherDeps) -> dict[str, Any]:
    applied_by = request.applied_by or deps.applied_by
    with _session(deps, f"{request.action} by {applied_by}", read_only=False) as db:
        wait = deps.settings.lock_wait_seconds
        left = deps.deadline.seconds_left()
        acquire_lock(db, wait_seconds=wait if left is None else min(wait, left),
                     clock=deps.clock, sleep=deps.sleep)
        try:
            db.ensure_tables()
            plan, report = _plan_and_run(db, request, migrations, applied_by, deps)
            applied = db.applied()
        finally:
            with suppress(StackFlowError):
                db.unlock()
    result = _result(request.action, False, migrations, applied, plan.findings)
    result["planned"] = [s.summary() for s in plan.steps]
    result["applied"] = [r.summary() for r in report.done]
    result["complete"] = not report.stopped_for_deadline
    if report.stopped_for_deadline:
        result["stopped"] = "deadline"
        result["remaining"] = [s.summary() for s in report.remaining]
    return result


def _plan_and_run(db: MigrationDatabase, request: PatcherRequest,
                  migrations: Sequence[Migration], applied_by: str,
                  deps: PatcherDeps) -> tuple[Plan, RunReport]:
    """Plan under the lock and run, writing the run history; re-raise a failure after
    it is recorded."""
    run_id = db.start_run(RunStart(request.action, applied_by, request.target, request.steps))
    try:
        plan = make_plan(request, migrations, db.applied())
    except StackFlowError as e:
        db.finish_run(run_id, "refused", [], e)
        raise
    db.note_plan(run_id, [s.version for s in plan.steps])
    report = run_plan(plan, _executor(db, applied_by, deps), deps.deadline)
    done = [r.step.version for r in report.done]
    outcome = ("failed" if report.error else
               "stopped" if report.stopped_for_deadline else "succeeded")
    try:
        db.finish_run(run_id, outcome, done, report.error)
    except StackFlowError:
        if report.error is None:
            raise
    if report.error is not None:
        raise report.error
    return plan, report


def _executor(db: MigrationDatabase, applied_by: str, deps: PatcherDeps) -> StepExecutor:
    s = deps.settings
    return Executor(db, applied_by, s.lock_timeout_ms, s.statement_timeout_ms,
                    s.lock_retries, deps.deadline, deps.sleep, deps.clock)


@contextmanager
def _session(deps: PatcherDeps, doing: str, *,
             read_only: bool) -> Iterator[MigrationDatabase]:
    """A database session for the length of a ``with`` block; closing ends the lock."""
    db = deps.connect(read_only=read_only, application_name=f"stackflow patcher: {doing}")
    try:
        yield db
    finally:
        with suppress(StackFlowError):
            db.close()


def _result(action: str, dry_run: bool, migrations: Sequence[Migration],
            applied: Sequence[AppliedMigration], findings: Findings) -> dict[str, Any]:
    by_version = {m.version: m for m in migrations}
    return {
        "ok": True,
        "action": action,
        "dry_run": dry_run,
        "complete": True,
        "current_version": current_version(applied),
        "planned": [],
        "applied": [],
        "pending": [m.summary() for m in pending(migrations, applied)],
        "checksum_mismatches": [
            {"version": a.version, "name": a.name, "checksum": a.checksum,
             "source_checksum": by_version[a.version].checksum}
            for a in applied if a.version in findings.checksum_mismatches],
        "out_of_order": [by_version[v].summary() for v in findings.out_of_order],
        "missing": [{"version": a.version, "name": a.name, "checksum": a.checksum}
                    for a in applied if a.version in findings.missing],
    }
