"""``migrate`` against a real PostgreSQL (one fresh database per test)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from stackflow.errors import ChecksumMismatch, MigrationFailed, OutOfOrderMigration, SourceError

from tests.support.patcher import (
    SAMPLE_MIGRATIONS,
    applied_versions,
    make_deps,
    migrate,
    query,
    runs,
    status,
    table,
    tables,
    write_migrations,
)


def test_dry_run_changes_nothing_and_returns_the_sql(database_url: str) -> None:
    # GIVEN an empty database and the project's migrations
    deps = make_deps(database_url, SAMPLE_MIGRATIONS)
    # WHEN a dry run is asked for
    result = migrate(deps, dry_run=True)
    # THEN all four are planned with their SQL, and not even schema_migrations exists
    assert [p["version"] for p in result["planned"]] == [1, 2, 3, 4]
    assert "CREATE TABLE customers" in result["planned"][0]["sql"]
    assert result["applied"] == []
    assert result["current_version"] is None
    assert tables(database_url) == set()


def test_migrate_twice_applies_each_migration_once(database_url: str) -> None:
    deps = make_deps(database_url, SAMPLE_MIGRATIONS)
    # WHEN migrate runs twice
    first = migrate(deps)
    second = migrate(deps)
    # THEN the first applies 1-4, the second nothing, and each is recorded once
    assert [a["version"] for a in first["applied"]] == [1, 2, 3, 4]
    assert second["applied"] == []
    assert second["current_version"] == 4
    assert applied_versions(database_url) == [1, 2, 3, 4]
    assert {"customers", "orders"} <= tables(database_url)
    row = query(database_url, "SELECT name, applied_by, checksum FROM schema_migrations "
                              "WHERE version = 2")[0]
    assert row[:2] == ("create_orders", "tester")
    assert row[2] == first["applied"][1]["checksum"]


def test_failing_migration_3_of_5_keeps_1_and_2_and_nothing_of_3(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN five migrations; the third creates a table, then fails
    spec = {1: table(1), 2: table(2),
            3: ("broken", "CREATE TABLE t3 (id int);\nINSERT INTO nope VALUES (1);\n", None),
            4: table(4), 5: table(5)}
    deps = make_deps(database_url, write_migrations(tmp_path, spec))
    # WHEN migrate runs
    with pytest.raises(MigrationFailed) as caught:
        migrate(deps)
    # THEN the error names the version, the SQLSTATE and the server's message
    assert caught.value.message.startswith("migration 3 (broken, 0003_broken.up.sql)")
    assert 'SQLSTATE 42P01: relation "nope" does not exist' in caught.value.message
    # AND 1-2 are applied, nothing of 3 (its table too) and nothing after it
    assert applied_versions(database_url) == [1, 2]
    assert tables(database_url) == {"t1", "t2", "schema_migrations", "schema_migrations_runs"}
    # AND the run history says what happened without reading logs
    assert runs(database_url) == [("migrate", "failed", [1, 2, 3, 4, 5], [1, 2],
                                   "MigrationFailed")]


def test_edited_migration_blocks_migrate(database_url: str, tmp_path: Path) -> None:
    # GIVEN 1 and 2 applied, then 2 edited and 3 added
    folder = write_migrations(tmp_path, {1: table(1), 2: table(2)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    (folder / "0002_create_t2.up.sql").write_text("CREATE TABLE t2 (id bigint);\n")
    write_migrations(folder, {3: table(3)})
    # WHEN migrate runs THEN it is refused naming 2, and 3 is not applied
    with pytest.raises(ChecksumMismatch, match=r"^migration 2 \(0002_create_t2.up.sql\)"):
        migrate(deps)
    assert applied_versions(database_url) == [1, 2]
    # AND status shows the mismatch
    assert [m["version"] for m in status(deps)["checksum_mismatches"]] == [2]


def test_crlf_checkout_is_not_an_edit(database_url: str, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path, {1: table(1)})
    migrate(make_deps(database_url, folder))
    path = folder / "0001_create_t1.up.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert status(make_deps(database_url, folder))["checksum_mismatches"] == []


def test_out_of_order_is_reported_refused_and_allowed_on_request(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN 1 and 3 applied, then a branch adds 2
    folder = write_migrations(tmp_path, {1: table(1), 3: table(3)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    write_migrations(folder, {2: table(2)})
    # THEN status reports it and migrate refuses it
    assert [m["version"] for m in status(deps)["out_of_order"]] == [2]
    with pytest.raises(OutOfOrderMigration, match="migration 2"):
        migrate(deps)
    assert applied_versions(database_url) == [1, 3]
    # WHEN explicitly allowed THEN it is applied
    assert [a["version"] for a in migrate(deps, allow_out_of_order=True)["applied"]] == [2]


def test_missing_applied_version_is_reported(database_url: str, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path, {1: table(1), 2: table(2)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    for path in folder.glob("0002_*"):
        path.unlink()
    assert [m["version"] for m in status(deps)["missing"]] == [2]


def test_target_applies_up_to_and_including_it(database_url: str, tmp_path: Path) -> None:
    deps = make_deps(database_url, write_migrations(tmp_path, {n: table(n) for n in (1, 2, 3)}))
    result = migrate(deps, target=2)
    assert result["current_version"] == 2
    assert [p["version"] for p in result["pending"]] == [3]


def test_transaction_control_in_migration_is_refused_before_running(
        database_url: str, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path, {1: ("commits", "BEGIN;\nCREATE TABLE a (x int);\n"
                                                       "COMMIT;\n", None)})
    with pytest.raises(SourceError, match=r"0001_commits\.up\.sql: contains 'BEGIN'"):
        migrate(make_deps(database_url, folder))
    assert "a" not in tables(database_url)


def test_script_ending_in_a_comment_is_still_recorded(database_url: str, tmp_path: Path) -> None:
    # GIVEN a script whose last line is a comment without a newline
    folder = write_migrations(tmp_path, {1: ("c", "CREATE TABLE c (x int) -- done", None)})
    migrate(make_deps(database_url, folder))
    assert applied_versions(database_url) == [1]


def test_create_index_concurrently_runs_outside_a_transaction(database_url: str) -> None:
    # WHEN the project's migrations (0004 is CREATE INDEX CONCURRENTLY) are applied
    migrate(make_deps(database_url, SAMPLE_MIGRATIONS))
    # THEN the index exists and is valid, and the row says it ran without a transaction
    rows = query(database_url, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                               "ON c.oid = i.indexrelid WHERE c.relname = %s",
                 ("orders_customer_id_idx",))
    assert rows == [(True,)]
    assert query(database_url, "SELECT no_transaction FROM schema_migrations "
                               "WHERE version = 4") == [(True,)]


UNIQUE_EMAIL = ("unique_email", "-- stackflow:no-transaction\n"
                "CREATE UNIQUE INDEX CONCURRENTLY people_email_idx ON people (email);\n",
                "-- stackflow:no-transaction\nDROP INDEX CONCURRENTLY people_email_idx;\n")


def test_failed_create_index_concurrently_leaves_no_invalid_index(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN duplicate emails, so a unique index fails after PostgreSQL created it INVALID
    folder = write_migrations(tmp_path, {
        1: ("people", "CREATE TABLE people (email text);\n"
                      "INSERT INTO people VALUES ('a@x'), ('a@x');\n", None),
        2: UNIQUE_EMAIL})
    deps = make_deps(database_url, folder)
    with pytest.raises(MigrationFailed, match="SQLSTATE 23505"):
        migrate(deps)
    # THEN no INVALID index is left and 2 is not recorded
    assert query(database_url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
    assert applied_versions(database_url) == [1]
    # WHEN the data is fixed THEN the next run succeeds
    query(database_url, "DELETE FROM people WHERE ctid = (SELECT max(ctid) FROM people)")
    assert [a["version"] for a in migrate(deps)["applied"]] == [2]


def test_invalid_index_left_by_a_killed_run_is_dropped_before_retrying(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN an INVALID people_email_idx, as a run killed during the build leaves it
    folder = write_migrations(tmp_path, {
        1: ("people", "CREATE TABLE people (email text);\n"
                      "INSERT INTO people VALUES ('a@x'), ('a@x');\n", None)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    with psycopg.connect(database_url, autocommit=True) as conn, pytest.raises(psycopg.Error):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY people_email_idx ON people (email)")
    query(database_url, "DELETE FROM people WHERE ctid = (SELECT max(ctid) FROM people)")
    assert query(database_url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(1,)]
    # WHEN the migration creating that index runs
    write_migrations(folder, {2: UNIQUE_EMAIL})
    migrate(deps)
    # THEN the leftover was replaced by a valid index
    assert query(database_url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
    assert applied_versions(database_url) == [1, 2]


def test_lock_timeout_in_a_migration_is_retried_with_backoff(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN a long transaction holding a lock on t1, and a migration that needs it
    folder = write_migrations(tmp_path, {1: table(1)})
    migrate(make_deps(database_url, folder))
    write_migrations(folder, {2: ("alter_t1", "ALTER TABLE t1 ADD COLUMN x int;\n", None)})
    blocker = psycopg.connect(database_url)
    blocker.execute("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        # The blocking transaction ends while the patcher backs off.
        slept.append(seconds)
        blocker.commit()

    deps = make_deps(database_url, folder, sleep=sleep, lock_timeout_ms=100, lock_retries=3)
    try:
        # WHEN migrate runs
        result = migrate(deps)
    finally:
        blocker.close()
    # THEN the first attempt hit lock_timeout, the patcher backed off, and the retry won
    assert slept == [1.0]
    assert [a["version"] for a in result["applied"]] == [2]


def test_lock_timeout_retries_are_bounded(database_url: str, tmp_path: Path) -> None:
    folder = write_migrations(tmp_path, {1: table(1)})
    migrate(make_deps(database_url, folder))
    write_migrations(folder, {2: ("alter_t1", "ALTER TABLE t1 ADD COLUMN x int;\n", None)})
    slept: list[float] = []
    deps = make_deps(database_url, folder, sleep=slept.append, lock_timeout_ms=50,
                     lock_retries=2)
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(MigrationFailed, match="SQLSTATE 55P03"):
            migrate(deps)
    assert slept == [1.0, 2.0]
    assert applied_versions(database_url) == [1]


def test_deadline_stops_before_a_migration_and_reports_what_remains(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN a Lambda clock that drops below the margin after two migrations
    folder = write_migrations(tmp_path, {n: table(n) for n in (1, 2, 3, 4)})
    calls = {"n": 0}

    def remaining_ms() -> int:
        calls["n"] += 1
        return 60_000 if calls["n"] <= 5 else 5_000

    deps = make_deps(database_url, folder, remaining_ms=remaining_ms)
    # WHEN migrate runs
    result = migrate(deps)
    # THEN it stops cleanly, saying what was applied and what remains
    assert result["complete"] is False
    assert result["stopped"] == "deadline"
    applied = [a["version"] for a in result["applied"]]
    assert applied
    assert applied == applied_versions(database_url)
    assert [r["version"] for r in result["remaining"]] == [
        v for v in (1, 2, 3, 4) if v not in applied]
    assert runs(database_url)[-1][1] == "stopped"
    # AND the next call, with time, carries on to the end
    assert migrate(make_deps(database_url, folder))["current_version"] == 4
