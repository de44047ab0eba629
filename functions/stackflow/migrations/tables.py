"""StackFlow's own tables: their names, their layout, and telling them from another
tool's.

golang-migrate keeps its history in a table of the same default name,
``schema_migrations(version bigint, dirty boolean)``. Reading it as StackFlow's would
fail on a missing column half-way through a run, and creating the run-history table
beside it would leave a trace in a database StackFlow does not manage. So the layout is
checked first, from the catalog, by the pure functions here: a foreign table is
``ForeignMigrationTable`` (naming the ``adopt`` command), anything else that is not
StackFlow's layout is ``MigrationTableCorrupt``, and nothing has been written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from stackflow.errors import ForeignMigrationTable, MigrationTableCorrupt

DEFAULT_TABLE = "schema_migrations"
GOLANG_MIGRATE: Final = "golang-migrate"
# golang-migrate's default table (x-migrations-table changes it; StackFlow reads the
# default only).
GOLANG_MIGRATE_TABLE = "schema_migrations"
ADOPT_COMMAND = "stackflow adopt --from golang-migrate"
ADOPT_EVENT = '{"action": "adopt", "from": "golang-migrate"}'
# Lower-case identifiers need no quoting anywhere; the runs table appends "_runs" and
# PostgreSQL cuts names at 63 bytes.
_NAME = re.compile(r"(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,57}")

# column -> format_type(): what StackFlow creates (extra columns are tolerated).
MIGRATIONS_COLUMNS: Mapping[str, str] = {
    "version": "bigint", "name": "text", "checksum": "text",
    "applied_at": "timestamp with time zone", "applied_by": "text",
    "execution_ms": "integer", "no_transaction": "boolean"}
RUNS_COLUMNS: Mapping[str, str] = {
    "id": "bigint", "action": "text", "target": "bigint", "steps": "integer",
    "applied_by": "text", "started_at": "timestamp with time zone",
    "finished_at": "timestamp with time zone", "outcome": "text", "planned": "bigint[]",
    "done": "bigint[]", "error_type": "text", "error_message": "text"}
GOLANG_MIGRATE_COLUMNS: Mapping[str, str] = {"version": "bigint", "dirty": "boolean"}

Columns = Mapping[str, str]
Layout = Literal["absent", "stackflow", "golang-migrate", "other"]


@dataclass(frozen=True)
class Tables:
    """The names of StackFlow's tables: ``migrations`` (default ``schema_migrations``,
    optionally ``schema.name``) and its run history, ``<migrations>_runs``."""

    migrations: str = DEFAULT_TABLE

    @property
    def runs(self) -> str:
        return f"{self.migrations}_runs"

    @property
    def golang_migrate_kept_as(self) -> str:
        """What adopt renames golang-migrate's table to when StackFlow's takes its name."""
        return f"{self.migrations}_golang_migrate"


def valid_table_name(name: str) -> bool:
    """A lower-case identifier, optionally schema-qualified, short enough for ``_runs``."""
    return _NAME.fullmatch(name) is not None


def layout(columns: Columns | None, expected: Columns = MIGRATIONS_COLUMNS) -> Layout:
    """What a table with these columns is: ``expected`` (StackFlow's), golang-migrate's,
    absent (``None``), or something else."""
    if columns is None:
        return "absent"
    if dict(columns) == dict(GOLANG_MIGRATE_COLUMNS):
        return GOLANG_MIGRATE
    if all(columns.get(name) == kind for name, kind in expected.items()):
        return "stackflow"
    return "other"


def check_tables(tables: Tables, found: Mapping[str, Columns | None]) -> bool:
    """Whether StackFlow's migrations table exists; ``found`` maps each of
    ``tables``' names to its columns (``None``: absent). Refuses a foreign or corrupt
    layout, before anything is read or created."""
    own = found.get(tables.migrations)
    kind = layout(own)
    if kind == GOLANG_MIGRATE:
        raise foreign_table(tables.migrations)
    if kind == "other":
        raise corrupt_table(tables.migrations, own or {}, MIGRATIONS_COLUMNS)
    runs = found.get(tables.runs)
    if layout(runs, RUNS_COLUMNS) not in ("absent", "stackflow"):
        raise corrupt_table(tables.runs, runs or {}, RUNS_COLUMNS)
    return kind == "stackflow"


def foreign_table(table: str) -> ForeignMigrationTable:
    return ForeignMigrationTable(
        f"{table} was written by golang-migrate (columns version, dirty), not by "
        f"StackFlow; nothing was changed. Take over its history with '{ADOPT_COMMAND}' "
        f"(Lambda event {ADOPT_EVENT}), or give StackFlow tables of its own with --table "
        "(MIGRATIONS_TABLE)", table=table, tool=GOLANG_MIGRATE, command=ADOPT_COMMAND)


def corrupt_table(table: str, columns: Columns, expected: Columns) -> MigrationTableCorrupt:
    wrong = [f"{name} is {columns[name]}, expected {kind}" for name, kind in expected.items()
             if name in columns and columns[name] != kind]
    missing = [name for name in expected if name not in columns]
    problems = ([f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"]
                if missing else []) + wrong
    return MigrationTableCorrupt(
        f"{table} exists but is not a StackFlow table ({'; '.join(problems)}); nothing was "
        "changed. Rename or drop it, or give StackFlow other tables with --table "
        "(MIGRATIONS_TABLE)", table=table, problems=problems)
