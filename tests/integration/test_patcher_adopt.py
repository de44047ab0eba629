"""Taking over a database golang-migrate managed, against a real PostgreSQL.

The "golang-migrate" database is made the way golang-migrate leaves one: its files
applied (by psql, one process per file, as golang-migrate sends a file as one query)
and ``schema_migrations(version bigint, dirty boolean)`` holding the current version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stackflow.errors import AdoptionRefused, ForeignMigrationTable, MigrationTableCorrupt
from stackflow.migrations.model import checksum
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.service import PatcherDeps, run
from stackflow_tools.cli.main import main

from tests.support.migration_folders import (
    golang_migrate_folder,
    golang_migrate_table,
    psql_apply,
    up_files,
    user_dump,
)
from tests.support.patcher import (
    last_run,
    make_deps,
    migrate,
    query,
    rollback,
    snapshot,
    status,
    tables,
)
from tests.support.postgres import fresh_database

N = 5


def adopt(deps: PatcherDeps, **fields: Any) -> dict[str, Any]:
    return run(PatcherRequest("adopt", adopt_from="golang-migrate", **fields), deps)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return golang_migrate_folder(tmp_path / "migrations")


@pytest.fixture
def golang_db(database_url: str, folder: Path) -> str:
    """Migrations 1..N applied by "golang-migrate", its table at version N."""
    psql_apply(database_url, up_files(folder)[:N])
    golang_migrate_table(database_url, N)
    return database_url


def test_golang_migrate_table_is_refused_by_every_command_and_nothing_is_created(
        golang_db: str, folder: Path) -> None:
    # GIVEN a database golang-migrate manages, at version N
    deps = make_deps(golang_db, folder)
    before = snapshot(golang_db)
    # WHEN status, migrate (dry run and real) and rollback run
    calls: list[Callable[[], object]] = [
        lambda: status(deps), lambda: migrate(deps, dry_run=True), lambda: migrate(deps),
        lambda: rollback(deps, dry_run=True), lambda: rollback(deps)]
    for call in calls:
        # THEN each is ForeignMigrationTable naming golang-migrate and the command
        with pytest.raises(ForeignMigrationTable) as caught:
            call()
        assert "written by golang-migrate" in caught.value.message
        assert "stackflow adopt --from golang-migrate" in caught.value.message
    # AND nothing was created or changed: no run-history table, no lock left behind
    assert snapshot(golang_db) == before
    assert "schema_migrations_runs" not in tables(golang_db)


def test_adopt_records_n_without_running_sql_then_migrate_applies_the_rest(
        golang_db: str, folder: Path, pg_admin_uri: str) -> None:
    deps = make_deps(golang_db, folder, applied_by="ops@laptop")
    schema_before = user_dump(golang_db)
    before = snapshot(golang_db)
    # WHEN adopt is dry-run THEN it plans 1..N and changes nothing
    dry = adopt(deps, dry_run=True)
    assert [p["version"] for p in dry["planned"]] == list(range(1, N + 1))
    assert (dry["adopted"], dry["foreign_version"], dry["foreign_table_kept_as"]) == (
        [], N, "schema_migrations_golang_migrate")
    assert snapshot(golang_db) == before
    # WHEN adopt runs
    done = adopt(deps)
    # THEN 1..N are recorded with today's checksums and applied_by = adopt
    assert [a["version"] for a in done["adopted"]] == list(range(1, N + 1))
    assert done["current_version"] == N
    assert [p["version"] for p in done["pending"]] == [6, 7, 8]
    rows = query(golang_db, "SELECT version, checksum, applied_by, execution_ms "
                            "FROM schema_migrations ORDER BY version")
    assert rows == [(i + 1, checksum(path.read_text()), "adopt", 0)
                    for i, path in enumerate(up_files(folder)[:N])]
    # AND no migration SQL ran: the schema and data are exactly as golang-migrate left them
    assert user_dump(golang_db) == schema_before
    # AND golang-migrate's table is kept, renamed, with its row
    assert query(golang_db, "SELECT version, dirty FROM schema_migrations_golang_migrate") == [
        (N, False)]
    run_row = last_run(golang_db)
    assert (run_row["action"], run_row["outcome"], run_row["applied_by"], run_row["done"]) == (
        "adopt", "succeeded", "ops@laptop", list(range(1, N + 1)))
    # WHEN migrate runs THEN only N+1... are applied
    after = migrate(deps)
    assert [a["version"] for a in after["applied"]] == [6, 7, 8]
    # AND the result equals psql applying every file
    with fresh_database(pg_admin_uri) as baseline:
        psql_apply(baseline, up_files(folder))
        assert user_dump(golang_db) == user_dump(baseline)
    # AND adopting again is refused: StackFlow manages the database now
    with pytest.raises(AdoptionRefused, match="StackFlow's already"):
        adopt(deps)


def test_dirty_golang_migrate_database_is_refused_naming_the_version(
        database_url: str, folder: Path) -> None:
    # GIVEN golang-migrate stopped part-way through migration 3
    psql_apply(database_url, up_files(folder)[:2])
    golang_migrate_table(database_url, 3, dirty=True)
    before = snapshot(database_url)
    # WHEN adopt runs THEN it is refused with the version to fix by hand
    with pytest.raises(AdoptionRefused) as caught:
        adopt(make_deps(database_url, folder))
    assert caught.value.message.startswith("golang-migrate marks version 3 dirty")
    # AND nothing changed
    assert snapshot(database_url) == before


def test_missing_file_for_the_recorded_version_is_refused(
        golang_db: str, folder: Path) -> None:
    # GIVEN golang-migrate at version 5 but the source lost files 4 and 5
    for path in up_files(folder)[3:5]:
        path.unlink()
        path.with_name(path.name.replace(".up.sql", ".down.sql")).unlink()
    before = snapshot(golang_db)
    # WHEN adopt runs THEN it is refused naming the version, and nothing changed
    with pytest.raises(AdoptionRefused, match=r"golang-migrate is at version 5, but .* has "
                                              r"no migration numbered 5"):
        adopt(make_deps(golang_db, folder))
    assert snapshot(golang_db) == before


def test_with_table_both_tools_keep_their_own_tables(
        golang_db: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a team that must keep golang-migrate's table as it is
    common = ["--database-url", golang_db, "--migrations-dir", str(folder),
              "--table", "stackflow_migrations"]
    # WHEN it adopts and migrates with StackFlow tables of their own name
    assert main(["adopt", "--from", "golang-migrate", *common]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith(
        "adopt: recorded 5 migration(s) as applied from golang-migrate's schema_migrations "
        "at version 5; no migration SQL ran; current version: 5")
    assert "golang-migrate's table schema_migrations: kept as it is" in text
    assert main(["migrate", "--json", *common]) == 0
    result = json.loads(capsys.readouterr().out)
    # THEN StackFlow applied the rest into its own tables...
    assert [a["version"] for a in result["applied"]] == [6, 7, 8]
    assert query(golang_db, "SELECT max(version) FROM stackflow_migrations") == [(8,)]
    assert {"stackflow_migrations", "stackflow_migrations_runs"} <= tables(golang_db)
    # ...and golang-migrate's table is untouched
    assert query(golang_db, "SELECT version, dirty FROM schema_migrations") == [(N, False)]


def test_corrupt_migration_table_is_refused_and_nothing_is_created(
        database_url: str, folder: Path) -> None:
    # GIVEN a schema_migrations of some other layout
    query(database_url, "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text)")
    before = snapshot(database_url)
    # WHEN migrate runs THEN MigrationTableCorrupt names the table and what is wrong
    with pytest.raises(MigrationTableCorrupt) as caught:
        migrate(make_deps(database_url, folder))
    assert caught.value.message.startswith(
        "schema_migrations exists but is not a StackFlow table (missing columns checksum, "
        "applied_at, applied_by, execution_ms, no_transaction; version is integer, expected "
        "bigint)")
    # AND no table was created, nothing applied
    assert snapshot(database_url) == before
