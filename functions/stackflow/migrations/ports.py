"""What the patcher core needs from a database, as a Protocol.

``stackflow.adapters.postgres.PostgresDatabase`` implements it with psycopg; the core
depends only on this port, so it never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stackflow.errors import StackFlowError
from stackflow.migrations.model import AppliedMigration, Step

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE lock_not_available: lock_timeout expired


@dataclass(frozen=True)
class Limits:
    """Per-migration PostgreSQL timeouts in milliseconds (0 = no limit)."""

    lock_timeout_ms: int
    statement_timeout_ms: int


@dataclass(frozen=True)
class RunStart:
    """The row that opens an entry in the run history."""

    action: str
    applied_by: str
    target: int | None = None
    steps: int | None = None


class MigrationDatabase(Protocol):
    """One session on the target database; the advisory lock belongs to it."""

    def has_tables(self) -> bool:
        """True when ``schema_migrations`` exists."""
        ...

    def ensure_tables(self) -> None:
        """Create ``schema_migrations`` and the run-history table if missing."""
        ...

    def applied(self) -> list[AppliedMigration]:
        """Every ``schema_migrations`` row, by version (empty if the table is missing)."""
        ...

    def try_lock(self) -> bool:
        """Take the migration advisory lock without waiting; True if now held."""
        ...

    def lock_holder(self) -> str | None:
        """Who holds the lock (application name, pid, since when), if known."""
        ...

    def unlock(self) -> None:
        """Release the lock (ending the session releases it too)."""
        ...

    def run_in_transaction(self, step: Step, applied_by: str, limits: Limits) -> int:
        """Run ``step.sql`` and write its ``schema_migrations`` change in one transaction;
        return the execution time in ms."""
        ...

    def run_statement(self, step: Step, statement: str, limits: Limits) -> None:
        """Run one statement of a no-transaction step on its own (autocommit)."""
        ...

    def record(self, step: Step, applied_by: str, execution_ms: int) -> None:
        """Insert (up) or delete (down) the step's ``schema_migrations`` row."""
        ...

    def invalid_indexes(self) -> set[str]:
        """Names (``schema.index``) of indexes PostgreSQL marks INVALID."""
        ...

    def drop_index(self, name: str) -> None:
        """``DROP INDEX CONCURRENTLY IF EXISTS`` a name from ``invalid_indexes``."""
        ...

    def start_run(self, run: RunStart) -> int:
        """Open a run-history row; return its id. Marks rows of dead runs abandoned."""
        ...

    def note_plan(self, run_id: int, planned: Sequence[int]) -> None:
        """Store the planned versions on the run row, before any of them runs."""
        ...

    def finish_run(self, run_id: int, outcome: str, done: Sequence[int],
                   error: StackFlowError | None) -> None:
        """Close the run row with its outcome, what was done and the error, if any."""
        ...

    def close(self) -> None:
        """End the session (which also releases the advisory lock)."""
        ...
