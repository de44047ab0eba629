"""What the patcher core needs from a database, as a Protocol.

``stackflow.adapters.postgres.PostgresDatabase`` implements it with psycopg; the core
depends only on this port, so it never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from stackflow.errors import StackFlowError
from stackflow.migrations.adopt import AdoptPlan
from stackflow.migrations.impact import TableStats
from stackflow.migrations.model import AppliedMigration, Step

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE lock_not_available: lock_timeout expired


@dataclass(frozen=True)
class Limits:
    """Per-migration PostgreSQL timeouts in milliseconds (0 = no limit).

    ``transaction_timeout_ms`` bounds a transactional migration as a whole (the Lambda
    deadline); servers without ``transaction_timeout`` (before 17) ignore it.
    """

    lock_timeout_ms: int
    statement_timeout_ms: int
    transaction_timeout_ms: int = 0


@dataclass(frozen=True)
class RunStart:
    """The row that opens an entry in the run history."""

    action: str
    applied_by: str
    target: int | None = None
    steps: int | None = None


class MigrationDatabase(Protocol):
    """One session on the target database; the advisory lock belongs to it.

    StackFlow's tables are the ``Tables`` the session was opened with. Every method
    that reads or creates them first checks their layout (``tables.check_tables``):
    another tool's table is ``ForeignMigrationTable``, a wrong layout
    ``MigrationTableCorrupt``, and nothing is created then.
    """

    def server_version(self) -> int:
        """The server's ``server_version_num`` (``170004`` for 17.4)."""
        ...

    def has_tables(self) -> bool:
        """True when StackFlow's migrations table exists."""
        ...

    def ensure_tables(self) -> None:
        """Create StackFlow's migrations and run-history tables if missing."""
        ...

    def applied(self) -> list[AppliedMigration]:
        """Every migrations-table row, by version (empty if the table is missing)."""
        ...

    def describe_tables(self, names: Sequence[str]) -> dict[str, dict[str, str] | None]:
        """Each table's columns (name -> type as ``format_type`` spells it), or None."""
        ...

    def foreign_rows(self, table: str) -> list[tuple[int, bool]]:
        """golang-migrate's ``(version, dirty)`` rows in ``table``."""
        ...

    def adopt(self, plan: AdoptPlan, applied_by: str, limits: Limits) -> None:
        """In one transaction: keep the foreign table as ``plan.kept_as``, create
        StackFlow's tables, record ``plan.records`` and a run-history row."""
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

    def table_stats(self, table: str) -> TableStats:
        """Rows, ``pg_stat_user_tables`` write counters and columns of ``table`` (a
        name as ``impact.fold`` gives it); ``exists=False`` when there is no such table."""
        ...

    def non_null_count(self, table: str, column: str) -> int:
        """How many rows of ``table`` hold a value in ``column``."""
        ...

    def close(self) -> None:
        """End the session (which also releases the advisory lock)."""
        ...
