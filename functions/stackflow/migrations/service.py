"""The one core call behind the Lambda handler, the CLI and the local demo.

``run(request, deps)`` loads the source, plans, executes (or displays) and returns the
JSON-able result. Only ``stackflow.errors`` classes leave it. ``adopt`` (taking over
golang-migrate's history) plans in ``adopt`` and writes in one adapter call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackflow.errors import StackFlowError
from stackflow.migrations.adopt import AdoptPlan, ForeignState, names_to_read, plan_adopt
from stackflow.migrations.destructive import destructive_statements
from stackflow.migrations.executor import (
    Deadline,
    DisplayOnlyExecutor,
    Executor,
    RunReport,
    StepExecutor,
    run_plan,
)
from stackflow.migrations.impact import Baseline, assess, take_baseline, touched_tables
from stackflow.migrations.lock import acquire_lock
from stackflow.migrations.locks import statement_locks
from stackflow.migrations.model import AppliedMigration, Findings, Migration, Plan
from stackflow.migrations.planner import (
    current_version,
    find_problems,
    pending,
    plan_migrate,
    plan_rollback,
)
from stackflow.migrations.ports import Limits, MigrationDatabase, RunStart
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.settings import PatcherSettings
from stackflow.migrations.source import MigrationSource, SourceContents, load_source
from stackflow.migrations.tables import GOLANG_MIGRATE, GOLANG_MIGRATE_TABLE, layout


class Connect(Protocol):
    """Opens a session; ``application_name`` is how a waiting runner names the holder."""

    def __call__(self, *, read_only: bool, application_name: str) -> MigrationDatabase: ...


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
    # Wall-clock time for what a result records (a baseline's taken_at), ISO 8601 UTC.
    now: Callable[[], str] = _utc_now

    @property
    def deadline(self) -> Deadline:
        return Deadline(self.remaining_ms, self.settings.deadline_margin_ms)


def run(request: PatcherRequest, deps: PatcherDeps) -> dict[str, Any]:
    """Carry out ``request``; return the result document (see docs/patcher.md)."""
    contents = load_source(deps.source)
    if request.action == "status":
        return _status(request, contents, deps)
    if request.action == "adopt":
        return _adopt(request, contents.migrations, deps)
    if request.dry_run:
        return _dry_run(request, contents.migrations, deps)
    return _execute(request, contents.migrations, deps)


def make_plan(request: PatcherRequest, migrations: Sequence[Migration],
              applied: Sequence[AppliedMigration], server_version: int | None = None) -> Plan:
    if request.action == "rollback":
        return plan_rollback(migrations, applied, steps=request.steps, target=request.target,
                             server_version=server_version)
    return plan_migrate(migrations, applied, target=request.target,
                        allow_out_of_order=request.allow_out_of_order,
                        server_version=server_version, phase=request.phase)


def _status(request: PatcherRequest, contents: SourceContents,
            deps: PatcherDeps) -> dict[str, Any]:
    with _session(deps, "status", read_only=True) as db:
        applied = db.applied()
        baseline = _baseline(db, contents.migrations, applied, deps) \
            if request.baseline is True else None
    findings = find_problems(contents.migrations, applied)
    result = _result("status", False, contents.migrations, applied, findings)
    result["destructive"] = destructive_statements(pending(contents.migrations, applied))
    if baseline is not None:
        result["baseline"] = baseline.to_dict()
    result["applied"] = [a.summary() for a in applied]
    result["ignored"] = list(contents.ignored)
    return result


def _dry_run(request: PatcherRequest, migrations: Sequence[Migration],
             deps: PatcherDeps) -> dict[str, Any]:
    # A read-only session, no lock, no table creation: a dry run changes nothing at all.
    with _session(deps, f"{request.action} dry run", read_only=True) as db:
        applied = db.applied()
        server_version = db.server_version()
        plan = make_plan(request, migrations, applied, server_version)
        impact = _impact(db, request, plan)
    report = run_plan(plan, DisplayOnlyExecutor(), Deadline())
    result = _result(request.action, True, migrations, applied, plan.findings)
    result["planned"] = [{**r.summary(), "locks": statement_locks(r.step.sql)}
                         for r in report.done]
    if impact is not None:
        result["impact"] = impact
    return result


def _baseline(db: MigrationDatabase, migrations: Sequence[Migration],
              applied: Sequence[AppliedMigration], deps: PatcherDeps) -> Baseline:
    """The tables the pending migrations' down scripts would touch, measured now."""
    scripts = [m.down.sql for m in pending(migrations, applied) if m.down is not None]
    return take_baseline(touched_tables(scripts), db,
                         version=current_version(applied) or 0, taken_at=deps.now())


def _impact(db: MigrationDatabase, request: PatcherRequest,
            plan: Plan) -> dict[str, Any] | None:
    """A rollback dry run's impact report: what its down scripts would destroy now."""
    if request.action != "rollback":
        return None
    baseline = request.baseline if isinstance(request.baseline, Baseline) else None
    return assess(plan.steps, db, baseline)


def _execute(request: PatcherRequest, migrations: Sequence[Migration],
             deps: PatcherDeps) -> dict[str, Any]:
    applied_by = request.applied_by or deps.applied_by
    with _session(deps, f"{request.action} by {applied_by}", read_only=False) as db:
        _acquire(db, deps)
        try:
            _prepare_tables(db, request, migrations)
            plan, report = _plan_and_run(db, request, migrations, applied_by, deps)
            applied = db.applied()
        finally:
            with suppress(StackFlowError):
                db.unlock()
    result = _result(request.action, False, migrations, applied, plan.findings)
    result["planned"] = [s.summary() for s in plan.steps]
    result["applied"] = [r.summary() for r in report.done]
    result["complete"] = not report.stopped_for_deadline
    if request.action == "migrate":
        result["phase"] = request.phase
    if report.stopped_for_deadline:
        result["stopped"] = "deadline"
        result["remaining"] = [s.summary() for s in report.remaining]
    return result


def _prepare_tables(db: MigrationDatabase, request: PatcherRequest,
                    migrations: Sequence[Migration]) -> None:
    """Create StackFlow's tables, unless the run would be refused: on a fresh database a
    refused run leaves nothing behind (with tables, the refusal is kept in the history)."""
    if not db.has_tables():
        make_plan(request, migrations, [], db.server_version())
    db.ensure_tables()


def _plan_and_run(db: MigrationDatabase, request: PatcherRequest,
                  migrations: Sequence[Migration], applied_by: str,
                  deps: PatcherDeps) -> tuple[Plan, RunReport]:
    """Plan under the lock and run, writing the run history; re-raise a failure after
    it is recorded."""
    run_id = db.start_run(RunStart(request.action, applied_by, request.target, request.steps))
    try:
        plan = make_plan(request, migrations, db.applied(), db.server_version())
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


def _adopt(request: PatcherRequest, migrations: Sequence[Migration],
           deps: PatcherDeps) -> dict[str, Any]:
    """Record golang-migrate's applied migrations as StackFlow's; run none of them."""
    adopt = _adopt_dry_run if request.dry_run else _adopt_for_real
    plan, applied = adopt(request, migrations, deps)
    result = _result("adopt", request.dry_run, migrations, applied,
                     find_problems(migrations, applied))
    result.update(plan.summary())
    result["planned"] = [s.summary() for s in plan.records]
    result["adopted"] = [] if request.dry_run else result["planned"]
    return result


def _adopt_dry_run(request: PatcherRequest, migrations: Sequence[Migration],
                   deps: PatcherDeps) -> tuple[AdoptPlan, list[AppliedMigration]]:
    with _session(deps, "adopt dry run", read_only=True) as db:
        plan = _plan_adopt(db, migrations, deps)
        # StackFlow's table is either golang-migrate's (to be renamed) or holds no rows.
        return plan, []


def _adopt_for_real(request: PatcherRequest, migrations: Sequence[Migration],
                    deps: PatcherDeps) -> tuple[AdoptPlan, list[AppliedMigration]]:
    applied_by = request.applied_by or deps.applied_by
    with _session(deps, f"adopt by {applied_by}", read_only=False) as db:
        _acquire(db, deps)
        try:
            plan = _plan_adopt(db, migrations, deps)
            s = deps.settings
            db.adopt(plan, applied_by, Limits(s.lock_timeout_ms, s.statement_timeout_ms))
            return plan, db.applied()
        finally:
            with suppress(StackFlowError):
                db.unlock()


def _plan_adopt(db: MigrationDatabase, migrations: Sequence[Migration],
                deps: PatcherDeps) -> AdoptPlan:
    """Read the catalog, golang-migrate's rows and StackFlow's, and plan from them."""
    tables = deps.settings.tables
    found = db.describe_tables(names_to_read(tables))
    is_golang = layout(found.get(GOLANG_MIGRATE_TABLE)) == GOLANG_MIGRATE
    rows = db.foreign_rows(GOLANG_MIGRATE_TABLE) if is_golang else []
    own_is_separate = tables.migrations != GOLANG_MIGRATE_TABLE
    own = len(db.applied()) if own_is_separate and found.get(tables.migrations) else 0
    return plan_adopt(migrations, ForeignState(found, tuple(rows), own), tables,
                      source=deps.source.describe())


def _acquire(db: MigrationDatabase, deps: PatcherDeps) -> None:
    """Take the migration lock, waiting no longer than the Lambda deadline allows."""
    wait = deps.settings.lock_wait_seconds
    left = deps.deadline.seconds_left()
    acquire_lock(db, wait_seconds=wait if left is None else min(wait, left),
                 clock=deps.clock, sleep=deps.sleep)


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
        "applied_count": len(applied),
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
