"""Taking over golang-migrate's history: a pure plan of the rows to record.

golang-migrate keeps one row, ``(version, dirty)``: every migration up to ``version``
was applied, in order. Adoption records each of those source migrations as applied
(with today's checksum, ``applied_by = adopt``), runs none of their SQL, and keeps
golang-migrate's table: under its own name when StackFlow's tables have another
(``--table``), else renamed to ``<table>_golang_migrate``. Every refusal is decided
here, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackflow.errors import AdoptionRefused, MigrationTableCorrupt
from stackflow.migrations.model import Migration, Step
from stackflow.migrations.tables import (
    GOLANG_MIGRATE,
    GOLANG_MIGRATE_COLUMNS,
    GOLANG_MIGRATE_TABLE,
    Columns,
    Tables,
    check_tables,
    corrupt_table,
    layout,
)
from stackflow.migrations.txmode import TransactionMode, analyse

APPLIED_BY = "adopt"
TOOLS: tuple[str, ...] = (GOLANG_MIGRATE,)


@dataclass(frozen=True)
class ForeignState:
    """What the catalog and the foreign table say, read before planning."""

    found: Mapping[str, Columns | None]
    foreign_rows: tuple[tuple[int, bool], ...] = ()
    own_rows: int = 0


@dataclass(frozen=True)
class AdoptPlan:
    """Record ``records`` as applied; keep golang-migrate's ``foreign_table`` as
    ``kept_as`` (the same name when StackFlow's tables have another)."""

    tool: str
    foreign_table: str
    kept_as: str
    foreign_version: int | None
    records: tuple[Step, ...]

    @property
    def renames(self) -> bool:
        return self.kept_as != self.foreign_table

    def summary(self) -> dict[str, Any]:
        return {"from": self.tool, "foreign_table": self.foreign_table,
                "foreign_table_kept_as": self.kept_as,
                "foreign_version": self.foreign_version}


def names_to_read(tables: Tables) -> list[str]:
    """Every table whose columns ``plan_adopt`` needs."""
    return list(dict.fromkeys([tables.migrations, tables.runs, GOLANG_MIGRATE_TABLE,
                               tables.golang_migrate_kept_as]))


def plan_adopt(migrations: Sequence[Migration], state: ForeignState, tables: Tables, *,
               source: str) -> AdoptPlan:
    """The rows that take over golang-migrate's history, or the reason it cannot be."""
    _check_foreign_table(state)
    _check_own_tables(state, tables)
    version = _foreign_version(state.foreign_rows)
    by_version = {m.version: m for m in migrations}
    if version is not None and version not in by_version:
        raise AdoptionRefused(
            f"golang-migrate is at version {version}, but {source} has no migration "
            f"numbered {version}; restore the files up to that version before adopting "
            "(nothing was changed)", version=version)
    kept_as = (tables.golang_migrate_kept_as if tables.migrations == GOLANG_MIGRATE_TABLE
               else GOLANG_MIGRATE_TABLE)
    if kept_as != GOLANG_MIGRATE_TABLE and state.found.get(kept_as) is not None:
        raise AdoptionRefused(f"cannot keep golang-migrate's table as {kept_as}: a table "
                              "of that name exists (nothing was changed)", table=kept_as)
    records = tuple(_record(m) for m in migrations
                    if version is not None and m.version <= version)
    return AdoptPlan(GOLANG_MIGRATE, GOLANG_MIGRATE_TABLE, kept_as, version, records)


def _check_foreign_table(state: ForeignState) -> None:
    columns = state.found.get(GOLANG_MIGRATE_TABLE)
    kind = layout(columns)
    if kind == "absent":
        raise AdoptionRefused(f"no golang-migrate table {GOLANG_MIGRATE_TABLE} in this "
                              "database: there is nothing to adopt",
                              table=GOLANG_MIGRATE_TABLE)
    if kind == "stackflow":
        raise AdoptionRefused(f"{GOLANG_MIGRATE_TABLE} is StackFlow's already (adopted "
                              "before, or never golang-migrate's)", table=GOLANG_MIGRATE_TABLE)
    if kind != GOLANG_MIGRATE:
        raise corrupt_table(GOLANG_MIGRATE_TABLE, columns or {}, GOLANG_MIGRATE_COLUMNS)


def _check_own_tables(state: ForeignState, tables: Tables) -> None:
    if tables.migrations == GOLANG_MIGRATE_TABLE:
        # StackFlow's table is the one being taken over; only its runs table may exist.
        found = {**state.found, tables.migrations: None}
    else:
        found = dict(state.found)
    if check_tables(tables, found) and state.own_rows:
        raise AdoptionRefused(
            f"{tables.migrations} already records {state.own_rows} migration(s): StackFlow "
            "manages this database already (nothing was changed)", table=tables.migrations)


def _foreign_version(rows: Sequence[tuple[int, bool]]) -> int | None:
    if len(rows) > 1:
        raise MigrationTableCorrupt(
            f"golang-migrate's {GOLANG_MIGRATE_TABLE} holds {len(rows)} rows; golang-migrate "
            "keeps exactly one (its current version). Fix it by hand before adopting",
            table=GOLANG_MIGRATE_TABLE)
    if not rows:
        return None
    version, dirty = rows[0]
    if dirty:
        raise AdoptionRefused(
            f"golang-migrate marks version {version} dirty: it failed part-way. Check the "
            f"schema by hand and finish or undo migration {version}, then mark it clean "
            f"('migrate force {version}' if it is applied, 'migrate force <previous "
            "version>' if not) and adopt again (nothing was changed)", version=version)
    return version


def _record(m: Migration) -> Step:
    # No SQL runs, so a script is never refused here; the mode is recorded as found.
    found = analyse(m.up.sql)
    reason = f"marker {found.marker}" if found.marker else (
        ", ".join(sorted({kind for _, kind in found.blockers})) or None)
    mode = TransactionMode(found.outside, reason, len(found.statements))
    return Step("up", m.version, m.name, m.checksum, m.up.sql, m.up.file_name, mode)
