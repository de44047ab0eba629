"""Telling StackFlow's tables from golang-migrate's, and planning an adoption: pure
functions over literal catalog descriptions, no database."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from stackflow.errors import (
    AdoptionRefused,
    ForeignMigrationTable,
    MigrationTableCorrupt,
)
from stackflow.migrations.adopt import ForeignState, names_to_read, plan_adopt
from stackflow.migrations.model import Migration, Script
from stackflow.migrations.tables import (
    GOLANG_MIGRATE_COLUMNS,
    MIGRATIONS_COLUMNS,
    RUNS_COLUMNS,
    Columns,
    Tables,
    check_tables,
    layout,
    valid_table_name,
)

DEFAULT = Tables()
OWN = Tables("stackflow_migrations")


def migration(version: int, sql: str = "CREATE TABLE x (id int);") -> Migration:
    return Migration(version, f"m{version}", Script(sql, f"{version:06d}_m{version}.up.sql"))


MIGRATIONS = [migration(1), migration(2, "CREATE INDEX CONCURRENTLY i ON x (id);"),
              migration(3), migration(4)]


def state(found: Mapping[str, Columns | None], rows: tuple[tuple[int, bool], ...] = (),
          own_rows: int = 0) -> ForeignState:
    return ForeignState(found, rows, own_rows)


def test_layouts_are_told_apart_by_their_columns() -> None:
    assert layout(None) == "absent"
    assert layout(GOLANG_MIGRATE_COLUMNS) == "golang-migrate"
    assert layout(MIGRATIONS_COLUMNS) == "stackflow"
    assert layout({**MIGRATIONS_COLUMNS, "note": "text"}) == "stackflow"
    assert layout({"version": "bigint", "name": "character varying"}) == "other"
    assert layout(RUNS_COLUMNS, RUNS_COLUMNS) == "stackflow"


def test_golang_migrate_table_is_foreign_and_names_the_adopt_command() -> None:
    # GIVEN StackFlow's table name holds golang-migrate's layout
    with pytest.raises(ForeignMigrationTable) as caught:
        check_tables(DEFAULT, {"schema_migrations": GOLANG_MIGRATE_COLUMNS})
    # THEN the error names the tool, the command and the Lambda event
    message = caught.value.message
    assert "schema_migrations was written by golang-migrate" in message
    assert "stackflow adopt --from golang-migrate" in message
    assert '{"action": "adopt", "from": "golang-migrate"}' in message
    assert caught.value.details["tool"] == "golang-migrate"


def test_other_layouts_are_corrupt_naming_what_is_wrong() -> None:
    columns = {**MIGRATIONS_COLUMNS, "version": "integer"}
    del columns["checksum"]
    with pytest.raises(MigrationTableCorrupt) as caught:
        check_tables(DEFAULT, {"schema_migrations": columns})
    assert ("schema_migrations exists but is not a StackFlow table (missing column checksum; "
            "version is integer, expected bigint)") in caught.value.message
    # AND a run-history table of the wrong layout is corrupt too
    with pytest.raises(MigrationTableCorrupt, match="schema_migrations_runs"):
        check_tables(DEFAULT, {"schema_migrations": None,
                               "schema_migrations_runs": {"id": "integer"}})


def test_absent_or_stackflow_tables_pass() -> None:
    assert check_tables(DEFAULT, {}) is False
    assert check_tables(DEFAULT, {"schema_migrations": MIGRATIONS_COLUMNS,
                                  "schema_migrations_runs": RUNS_COLUMNS}) is True


@pytest.mark.parametrize(("name", "ok"), [
    ("schema_migrations", True), ("app.stackflow_migrations", True), ("_x1", True),
    ("a" * 58, True), ("a" * 59, False), ("Schema", False), ("1abc", False),
    ("a.b.c", False), ("bad-name", False), ("", False), ('"x"', False)])
def test_table_names_are_plain_lower_case_identifiers(name: str, ok: bool) -> None:
    assert valid_table_name(name) is ok


def test_adopting_at_version_n_records_1_to_n_and_renames_the_old_table() -> None:
    # GIVEN golang-migrate at version 3, clean, in StackFlow's default table name
    found = {"schema_migrations": GOLANG_MIGRATE_COLUMNS}
    # WHEN adoption is planned
    plan = plan_adopt(MIGRATIONS, state(found, ((3, False),)), DEFAULT, source="migrations")
    # THEN 1-3 are recorded with today's checksums and their modes, 4 stays pending
    assert [s.version for s in plan.records] == [1, 2, 3]
    assert [s.checksum for s in plan.records] == [m.checksum for m in MIGRATIONS[:3]]
    assert [s.no_transaction for s in plan.records] == [False, True, False]
    assert plan.records[1].mode.reason == "CREATE INDEX CONCURRENTLY"
    # AND golang-migrate's table is kept under a new name, freeing StackFlow's
    assert (plan.foreign_table, plan.kept_as, plan.renames) == (
        "schema_migrations", "schema_migrations_golang_migrate", True)
    assert plan.summary() == {"from": "golang-migrate", "foreign_table": "schema_migrations",
                              "foreign_table_kept_as": "schema_migrations_golang_migrate",
                              "foreign_version": 3}


def test_with_tables_of_its_own_stackflow_keeps_the_old_table_as_it_is() -> None:
    found = {"schema_migrations": GOLANG_MIGRATE_COLUMNS, "stackflow_migrations": None}
    plan = plan_adopt(MIGRATIONS, state(found, ((2, False),)), OWN, source="migrations")
    assert (plan.kept_as, plan.renames) == ("schema_migrations", False)
    assert [s.version for s in plan.records] == [1, 2]
    assert names_to_read(OWN) == ["stackflow_migrations", "stackflow_migrations_runs",
                                  "schema_migrations", "stackflow_migrations_golang_migrate"]


def test_an_empty_golang_migrate_table_records_nothing() -> None:
    plan = plan_adopt(MIGRATIONS, state({"schema_migrations": GOLANG_MIGRATE_COLUMNS}),
                      DEFAULT, source="migrations")
    assert (plan.foreign_version, plan.records) == (None, ())


def test_a_mixed_script_that_will_never_run_does_not_block_adoption() -> None:
    # GIVEN an already-applied script that StackFlow itself would refuse to run
    mixed = migration(1, "CREATE TABLE a (id int); CREATE INDEX CONCURRENTLY i ON a (id);")
    plan = plan_adopt([mixed], state({"schema_migrations": GOLANG_MIGRATE_COLUMNS},
                                     ((1, False),)), DEFAULT, source="migrations")
    # THEN it is recorded all the same (no SQL runs)
    assert [s.version for s in plan.records] == [1]


@pytest.mark.parametrize(("found", "rows", "own_rows", "error", "words"), [
    ({}, (), 0, AdoptionRefused, "no golang-migrate table schema_migrations"),
    ({"schema_migrations": MIGRATIONS_COLUMNS}, (), 0, AdoptionRefused,
     "is StackFlow's already"),
    ({"schema_migrations": {"version": "integer"}}, (), 0, MigrationTableCorrupt,
     "schema_migrations exists but is not a StackFlow table"),
    ({"schema_migrations": GOLANG_MIGRATE_COLUMNS}, ((3, True),), 0, AdoptionRefused,
     "golang-migrate marks version 3 dirty"),
    ({"schema_migrations": GOLANG_MIGRATE_COLUMNS}, ((9, False),), 0, AdoptionRefused,
     "golang-migrate is at version 9, but migrations has no migration numbered 9"),
    ({"schema_migrations": GOLANG_MIGRATE_COLUMNS}, ((1, False), (2, False)), 0,
     MigrationTableCorrupt, "holds 2 rows"),
    ({"schema_migrations": GOLANG_MIGRATE_COLUMNS,
      "schema_migrations_golang_migrate": {"x": "int"}}, ((1, False),), 0, AdoptionRefused,
     "cannot keep golang-migrate's table as schema_migrations_golang_migrate"),
])
def test_refusals_name_the_reason(found: Mapping[str, Columns | None],
                                  rows: tuple[tuple[int, bool], ...], own_rows: int,
                                  error: type[Exception], words: str) -> None:
    # GIVEN a database adoption cannot take over WHEN it is planned THEN it is refused
    with pytest.raises(error, match=words):
        plan_adopt(MIGRATIONS, state(found, rows, own_rows), DEFAULT, source="migrations")


def test_stackflow_tables_that_already_record_migrations_refuse_adoption() -> None:
    found = {"schema_migrations": GOLANG_MIGRATE_COLUMNS,
             "stackflow_migrations": MIGRATIONS_COLUMNS}
    with pytest.raises(AdoptionRefused, match="stackflow_migrations already records 2"):
        plan_adopt(MIGRATIONS, state(found, ((1, False),), own_rows=2), OWN,
                   source="migrations")


def test_dirty_refusal_says_how_to_fix_it_by_hand() -> None:
    with pytest.raises(AdoptionRefused) as caught:
        plan_adopt(MIGRATIONS, state({"schema_migrations": GOLANG_MIGRATE_COLUMNS},
                                     ((3, True),)), DEFAULT, source="migrations")
    assert "migrate force 3" in caught.value.message
    assert caught.value.details["version"] == 3
