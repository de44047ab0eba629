"""Running a plan: one loop, two executors (Alembic's offline mode, Chalice's plan).

``run_plan`` walks the steps and stops before one that cannot finish in the time left.
``Executor`` applies a step to the database; ``DisplayOnlyExecutor`` only describes it,
which is how a dry run goes through the very same loop and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackflow.errors import MigrationFailed, StackFlowError
from stackflow.migrations.model import Plan, Step
from stackflow.migrations.ports import LOCK_NOT_AVAILABLE, Limits, MigrationDatabase
from stackflow.migrations.sqltext import concurrent_index_names, split_statements

# Time kept back, inside the Lambda deadline, to record the outcome and return.
CLEANUP_RESERVE_MS = 3000


@dataclass(frozen=True)
class Deadline:
    """Lambda's remaining time as a clock; ``remaining_ms=None`` means no deadline."""

    remaining_ms: Callable[[], int] | None = None
    margin_ms: int = 10_000

    def exhausted(self) -> bool:
        return self.remaining_ms is not None and self.remaining_ms() < self.margin_ms

    def cap_ms(self, configured_ms: int) -> int:
        """A statement timeout that ends a statement before Lambda ends the process."""
        if self.remaining_ms is None:
            return configured_ms
        cap = max(1000, self.remaining_ms() - CLEANUP_RESERVE_MS)
        return cap if configured_ms == 0 else min(configured_ms, cap)

    def seconds_left(self) -> float | None:
        if self.remaining_ms is None:
            return None
        return max(0.0, (self.remaining_ms() - self.margin_ms) / 1000)


@dataclass(frozen=True)
class StepResult:
    step: Step
    execution_ms: int | None = None
    with_sql: bool = False

    def summary(self) -> dict[str, Any]:
        out = self.step.summary(with_sql=self.with_sql)
        if self.execution_ms is not None:
            out["execution_ms"] = self.execution_ms
        return out


@dataclass
class RunReport:
    """What ``run_plan`` did: finished steps, steps left, and why it ended early."""

    done: list[StepResult] = field(default_factory=list)
    remaining: tuple[Step, ...] = ()
    stopped_for_deadline: bool = False
    error: StackFlowError | None = None


class StepExecutor(Protocol):
    def execute(self, step: Step) -> StepResult: ...


def run_plan(plan: Plan, executor: StepExecutor, deadline: Deadline) -> RunReport:
    """Execute ``plan`` step by step; a failure ends the run and is reported, not raised."""
    report = RunReport()
    for index, step in enumerate(plan.steps):
        if deadline.exhausted():
            report.remaining, report.stopped_for_deadline = plan.steps[index:], True
            return report
        try:
            report.done.append(executor.execute(step))
        except StackFlowError as e:
            report.remaining, report.error = plan.steps[index:], e
            return report
    return report


class DisplayOnlyExecutor:
    """Describes each step (with its SQL) and touches nothing."""

    def execute(self, step: Step) -> StepResult:
        return StepResult(step, with_sql=True)


@dataclass
class Executor:
    """Applies steps to ``db``: transactional ones with their record in one transaction,
    no-transaction ones statement by statement, retrying ``lock_not_available``."""

    db: MigrationDatabase
    applied_by: str
    lock_timeout_ms: int
    statement_timeout_ms: int
    lock_retries: int
    deadline: Deadline = field(default_factory=Deadline)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    backoff_seconds: float = 1.0

    def execute(self, step: Step) -> StepResult:
        attempt = 0
        while True:
            try:
                return StepResult(step, self._execute_once(step))
            except MigrationFailed as e:
                if not self._retry(e, attempt):
                    raise
            self.sleep(self.backoff_seconds * 2 ** attempt)
            attempt += 1

    def _retry(self, e: MigrationFailed, attempt: int) -> bool:
        # Only a lock_timeout is worth retrying: the blocking transaction may be gone a
        # moment later, whereas any other SQL error will fail the same way again.
        if e.details.get("sqlstate") != LOCK_NOT_AVAILABLE or attempt >= self.lock_retries:
            return False
        left = self.deadline.seconds_left()
        return left is None or left > self.backoff_seconds * 2 ** attempt

    def _limits(self) -> Limits:
        return Limits(self.lock_timeout_ms, self.deadline.cap_ms(self.statement_timeout_ms),
                      transaction_timeout_ms=self.deadline.cap_ms(0))

    def _execute_once(self, step: Step) -> int:
        if not step.no_transaction:
            return self.db.run_in_transaction(step, self.applied_by, self._limits())
        started = self.clock()
        self._run_outside_transaction(step)
        execution_ms = int((self.clock() - started) * 1000)
        self.db.record(step, self.applied_by, execution_ms)
        return execution_ms

    def _run_outside_transaction(self, step: Step) -> None:
        # A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind, and a killed
        # run leaves one too; either would make the next attempt fail on "already exists"
        # (or, with IF NOT EXISTS, silently keep a useless index). Drop both kinds.
        before = self.db.invalid_indexes()
        for name in leftover_indexes(before, concurrent_index_names(step.sql)):
            self.db.drop_index(name)
        before = self.db.invalid_indexes()
        try:
            for statement in split_statements(step.sql):
                self.db.run_statement(step, statement, self._limits())
        except StackFlowError:
            for name in sorted(self.db.invalid_indexes() - before):
                self.db.drop_index(name)
            raise


def leftover_indexes(invalid: set[str], written: Sequence[str]) -> list[str]:
    """The INVALID indexes (``schema.name``) that a script's index names refer to."""
    wanted = [_identifier_parts(w) for w in written]
    hits = []
    for qualified in sorted(invalid):
        schema, _, name = qualified.rpartition(".")
        if any(parts in ([name], [schema, name]) for parts in wanted):
            hits.append(qualified)
    return hits


def _identifier_parts(written: str) -> list[str]:
    """``"Foo".bar`` -> ``["Foo", "bar"]``: quoted kept as is, unquoted folded to lower."""
    parts = []
    for part in written.split("."):
        quoted = part.startswith('"') and part.endswith('"')
        parts.append(part[1:-1] if quoted else part.lower())
    return parts
