"""``migrate`` against a real PostgreSQL (one fresh database per test)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from stackflow.errors import ChecksumMismatch, MigrationFailed, OutOfOrderMigration, SourceError

from tests.support.patcher import (
    SAMPLE_MIGRATIONS,
    applied_versions,
    last_run,
    make_deps,
    migrate,
    objects,
    query,
    rollback,
    runs,
    snapshot,
    status,
    table,
    tables,
    write_migrations,
)

# The patcher's own tables, as ``objects`` lists them.
HISTORY_OBJECTS = {
    "relation public.schema_migrations (r)", "relation public.schema_migrations_pkey (i)",
    "relation public.schema_migrations_runs (r)",
    "relation public.schema_migrations_runs_pkey (i)",
    "relation public.schema_migrations_runs_id_seq (S)"}


def test_dry_run_changes_nothing_and_returns_the_sql(database_url: str) -> None:
    # GIVEN an empty database and the project's migrations
    deps = make_deps(database_url, SAMPLE_MIGRATIONS)
    before = snapshot(database_url)
    # WHEN a dry run is asked for
    result = migrate(deps, dry_run=True)
    # THEN all four are planned with their SQL
    assert [p["version"] for p in result["planned"]] == [1, 2, 3, 4]
    assert "CREATE TABLE customers" in result["planned"][0]["sql"]
    assert result["applied"] == []
    assert result["current_version"] is None
    # AND the database is exactly as it was: not even schema_migrations was created
    assert snapshot(database_url) == before
    assert objects(database_url) == {"schema public"}


def test_dry_runs_on_a_migrated_database_change_nothing(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN 1-2 applied (so both history tables hold rows), 3-4 pending
    folder = write_migrations(tmp_path, {n: table(n) for n in (1, 2, 3, 4)})
    deps = make_deps(database_url, folder)
    migrate(deps, target=2)
    before = snapshot(database_url)
    # WHEN migrate and rollback are both dry-run
    planned_up = migrate(deps, dry_run=True)["planned"]
    planned_down = rollback(deps, target=0, dry_run=True)["planned"]
    # THEN they show their plans...
    assert [(p["version"], p["sql"]) for p in planned_up] == [
        (3, table(3)[1]), (4, table(4)[1])]
    assert [(p["version"], p["sql"]) for p in planned_down] == [
        (2, table(2)[2]), (1, table(1)[2])]
    # AND schema, data (history rows included) and locks are exactly as before
    assert snapshot(database_url) == before


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


BROKEN_3 = ("broken", """CREATE TYPE mood AS ENUM ('ok', 'not_ok');
CREATE TABLE t3 (id serial PRIMARY KEY, m mood);
CREATE INDEX t3_m_idx ON t3 (m);
CREATE FUNCTION t3_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM t3';
CREATE SCHEMA reporting;
INSERT INTO t1 VALUES (3);
INSERT INTO nope VALUES (1);
""", None)
OBJECTS_OF_3 = {"type public.mood", "relation public.t3 (r)", "relation public.t3_pkey (i)",
                "relation public.t3_id_seq (S)", "relation public.t3_m_idx (i)",
                "function public.t3_count()", "schema reporting"}


def test_failing_migration_3_of_5_keeps_1_and_2_and_nothing_of_3(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN five migrations; the third creates a type, a table with a sequence and an
    # index, a function and a schema, writes a row into t1, and then fails
    spec = {1: table(1), 2: table(2), 3: BROKEN_3, 4: table(4), 5: table(5)}
    deps = make_deps(database_url, write_migrations(tmp_path, spec))
    # WHEN migrate runs
    with pytest.raises(MigrationFailed) as caught:
        migrate(deps)
    # THEN the error is one line naming the version, the SQLSTATE and the server's message
    assert caught.value.message == ('migration 3 (broken, 0003_broken.up.sql): '
                                    'SQLSTATE 42P01: relation "nope" does not exist')
    assert caught.value.details["sqlstate"] == "42P01"
    # AND exactly 1-2 are applied: their tables, nothing of 3, nothing after it
    assert applied_versions(database_url) == [1, 2]
    assert objects(database_url) == {
        "schema public", "relation public.t1 (r)", "relation public.t1_pkey (i)",
        "relation public.t2 (r)", "relation public.t2_pkey (i)", *HISTORY_OBJECTS}
    assert not OBJECTS_OF_3 & objects(database_url)
    assert query(database_url, "SELECT count(*) FROM t1") == [(0,)]
    # AND the run history says what happened, with the error, without reading logs
    assert runs(database_url) == [("migrate", "failed", [1, 2, 3, 4, 5], [1, 2],
                                   "MigrationFailed")]
    run = last_run(database_url)
    assert run["error_message"] == caught.value.message
    assert run["applied_by"] == "tester"
    assert run["started_at"] <= run["finished_at"]


def test_migration_and_its_record_commit_together(database_url: str, tmp_path: Path) -> None:
    # GIVEN a migration whose SQL succeeds but whose schema_migrations insert then fails
    # (the script has already written a row for its own version)
    sneaky = ("sneaky", "CREATE TABLE t2 (id int);\n"
              "INSERT INTO schema_migrations (version, name, checksum, applied_by, "
              "execution_ms) VALUES (2, 'sneaky', 'x', 'script', 0);\n", None)
    deps = make_deps(database_url, write_migrations(tmp_path, {1: table(1), 2: sneaky}))
    # WHEN migrate runs
    with pytest.raises(MigrationFailed, match=r"^migration 2 .*SQLSTATE 23505"):
        migrate(deps)
    # THEN the failed record took the migration's own work with it
    assert applied_versions(database_url) == [1]
    assert "relation public.t2 (r)" not in objects(database_url)


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


def test_crlf_checkout_in_another_folder_is_not_an_edit(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN migration 1 applied from one folder
    first = write_migrations(tmp_path / "a", {1: table(1)})
    migrate(make_deps(database_url, first))
    stored = query(database_url, "SELECT checksum FROM schema_migrations")[0][0]
    assert stored == hashlib.sha256(table(1)[1].encode()).hexdigest()
    # WHEN the same files are checked out with CRLF line endings in another folder,
    # and migration 2 is added there
    moved = tmp_path / "b"
    moved.mkdir()
    for path in first.iterdir():
        (moved / path.name).write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert b"\r\n" in (moved / "0001_create_t1.up.sql").read_bytes()
    write_migrations(moved, {2: table(2)})
    deps = make_deps(database_url, moved)
    # THEN status sees no change and migrate carries on with 2
    assert status(deps)["checksum_mismatches"] == []
    assert [a["version"] for a in migrate(deps)["applied"]] == [2]
    # AND a real edit in that folder is still caught
    (moved / "0001_create_t1.up.sql").write_bytes(b"CREATE TABLE t1 (id bigint);\r\n")
    assert [m["version"] for m in status(deps)["checksum_mismatches"]] == [1]


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
    with pytest.raises(MigrationFailed) as caught:
        migrate(deps)
    # THEN the error names the version, the SQLSTATE and the server's message
    assert caught.value.message == (
        "migration 2 (unique_email, 0002_unique_email.up.sql): SQLSTATE 23505: "
        'could not create unique index "people_email_idx"')
    # AND no INVALID index is left and 2 is not recorded
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


def test_statement_timeout_ends_a_long_migration(database_url: str, tmp_path: Path) -> None:
    # GIVEN a migration that would run for a minute, and a 200 ms statement_timeout
    slow = ("slow", "CREATE TABLE t2 (id int);\nSELECT pg_sleep(60);\n", None)
    deps = make_deps(database_url, write_migrations(tmp_path, {1: table(1), 2: slow}),
                     statement_timeout_ms=200)
    # WHEN migrate runs THEN the server cancels it, and the error says so
    with pytest.raises(MigrationFailed) as caught:
        migrate(deps)
    assert caught.value.message == ("migration 2 (slow, 0002_slow.up.sql): SQLSTATE 57014: "
                                    "canceling statement due to statement timeout")
    assert applied_versions(database_url) == [1]
    assert "relation public.t2 (r)" not in objects(database_url)


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
