"""Folders as teams write them (golang-migrate layout) against a real PostgreSQL.

Each folder applies, rolls back fully and applies again, and the result equals what
psql makes of the same files. The statement corpus of the unit tests is checked here
against PostgreSQL itself: a statement is detected exactly when the server refuses it
inside a transaction block (SQLSTATE 25001).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from stackflow.errors import SourceError
from stackflow_tools.cli.main import main

from tests.support.migration_folders import (
    OUTSIDE,
    REAL_WORLD,
    golang_migrate_folder,
    psql_apply,
    up_files,
    user_dump,
)
from tests.support.patcher import (
    applied_versions,
    make_deps,
    migrate,
    objects,
    query,
    rollback,
    snapshot,
    status,
)
from tests.support.postgres import fresh_database
from tests.support.sql_corpus import CORPUS, detected

HISTORY_OBJECTS = {
    "relation public.schema_migrations (r)", "relation public.schema_migrations_pkey (i)",
    "relation public.schema_migrations_runs (r)",
    "relation public.schema_migrations_runs_pkey (i)",
    "relation public.schema_migrations_runs_id_seq (S)"}


def test_golang_migrate_folder_applies_rolls_back_and_equals_psql(
        database_url: str, pg_admin_uri: str, tmp_path: Path) -> None:
    # GIVEN a folder in golang-migrate's layout: 6-digit versions, dots, spaces and
    # unicode in names, CIC without a marker, morph and dbmate markers, VACUUM, a README
    folder = golang_migrate_folder(tmp_path / "migrations")
    deps = make_deps(database_url, folder)
    # WHEN it is migrated
    first = migrate(deps)
    # THEN every migration is applied, each outside a transaction where it must be
    assert [a["version"] for a in first["applied"]] == list(range(1, 9))
    assert {a["version"]: a["no_transaction_reason"] for a in first["applied"]
            if a["no_transaction"]} == OUTSIDE
    assert [a["file"] for a in first["applied"]] == [f"{s}.up.sql" for s in REAL_WORLD]
    rows = query(database_url, "SELECT version, name, no_transaction FROM schema_migrations "
                               "ORDER BY version")
    assert rows[1] == (2, "create_channels_v6.0", False)
    assert rows[3] == (4, "Add Posts (v6.1)", True)
    # AND the schema and data equal psql applying the same files, one process per file
    with fresh_database(pg_admin_uri) as baseline:
        psql_apply(baseline, up_files(folder))
        expected = user_dump(baseline)
    assert user_dump(database_url) == expected
    # WHEN everything is rolled back THEN only StackFlow's own tables remain
    back = rollback(deps, target=0)
    assert [a["version"] for a in back["applied"]] == list(range(8, 0, -1))
    assert objects(database_url) == {"schema public", *HISTORY_OBJECTS}
    assert applied_versions(database_url) == []
    # WHEN it is migrated again THEN the result is the same as psql's once more
    again = migrate(deps)
    assert len(again["applied"]) == 8
    assert user_dump(database_url) == expected
    # AND status lists the files that are not SQL, once
    assert status(deps)["ignored"] == [".gitkeep", "README.md"]


def test_dry_run_shows_files_modes_and_reasons_and_changes_nothing(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the real-world folder and an empty database
    folder = golang_migrate_folder(tmp_path / "migrations")
    before = snapshot(database_url)
    # WHEN the CLI dry run prints the plan
    assert main(["migrate", "--dry-run", "--database-url", database_url,
                 "--migrations-dir", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # THEN the first line is the headline, then one row per script, then the totals
    assert lines[0] == ("migrate (dry run): 8 pending, 0 applied, 5 outside a transaction; "
                        "would apply 8 (current version: none (empty database))")
    assert lines[1].split() == ["VERSION", "FILE", "MODE", "STATEMENTS", "FIRST", "LINE"]
    assert lines[4].split()[:7] == ["3", "000003_index_users_email.up.sql", "outside:",
                                    "CREATE", "INDEX", "CONCURRENTLY", "1"]
    assert lines[4].split()[7:] == ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "IF", "NOT",
                                    "EXISTS", "idx_users_..."]
    assert lines[5].split()[:7] == ["4", "000004_Add", "Posts", "(v6.1).up.sql", "outside:",
                                    "marker", "--"]
    # (after the table, the locks the statements that block others take, then the totals)
    assert all(line.startswith("  lock: ") for line in lines[10:-1])
    assert lines[-1] == ("total: 8 to apply, 15 statement(s), 5 outside a transaction; "
                         "--sql prints the scripts")
    # AND nothing at all changed in the database
    assert snapshot(database_url) == before


def test_dry_run_of_150_migrations_is_a_page_headline_first(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN 150 pending golang-migrate style migrations, every tenth a CIC without marker
    spec = {f"{n:06d}_step_v{n}.0": (
        f"CREATE INDEX CONCURRENTLY idx_{n} ON t (x);\n" if n % 10 == 0 else
        f"-- step {n}\nCREATE TABLE t{n} (id int);\nINSERT INTO t{n} VALUES ({n});\n",
        "SELECT 1;\n") for n in range(1, 151)}
    folder = golang_migrate_folder(tmp_path / "m", spec)
    # WHEN the CLI dry run prints the plan, without --sql
    assert main(["migrate", "--dry-run", "--database-url", database_url,
                 "--migrations-dir", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # THEN it is at most 160 lines, the headline first, one row per script, no SQL body
    assert len(lines) <= 160
    assert lines[0].startswith("migrate (dry run): 150 pending, 0 applied, 15 outside a "
                               "transaction; would apply 150")
    assert sum(1 for line in lines if "_step_v" in line) == 150
    assert not any(line.startswith("INSERT") for line in lines)


def test_mixed_script_is_refused_before_anything_runs(database_url: str,
                                                       tmp_path: Path) -> None:
    # GIVEN 1 fine, then 2 mixing a table with a concurrent index and no marker
    folder = golang_migrate_folder(tmp_path / "m", {
        "000001_create_users": REAL_WORLD["000001_create_users"],
        "000002_posts": ("CREATE TABLE posts (id int);\n"
                         "CREATE INDEX CONCURRENTLY idx_posts ON posts (id);\n",
                         "DROP TABLE posts;\n")}, extra={})
    before = snapshot(database_url)
    # WHEN migrate runs THEN it is refused naming the file and the statements...
    with pytest.raises(SourceError) as caught:
        migrate(make_deps(database_url, folder))
    assert caught.value.message.startswith(
        "000002_posts.up.sql: mixes statements that cannot run inside a transaction "
        "(statement 2: CREATE INDEX CONCURRENTLY) with statements that must run in one "
        "(statement 1: CREATE TABLE posts (id int))")
    # AND nothing was applied, and no table was created, not even StackFlow's own
    assert snapshot(database_url) == before


@pytest.fixture
def corpus_database(database_url: str) -> str:
    """A database holding the objects the corpus statements name."""
    query(database_url, """
        CREATE TABLE t (x int); CREATE INDEX i ON t (x); CREATE TYPE mood AS ENUM ('ok');
        CREATE TABLE p (x int) PARTITION BY RANGE (x);
        CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
        CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x; CREATE UNIQUE INDEX ON mv (x);""")
    return database_url


def test_detection_matches_postgresql_inside_a_transaction_block(corpus_database: str) -> None:
    # GIVEN each statement of the corpus
    verdicts = {}
    with psycopg.connect(corpus_database, autocommit=True) as conn:
        for statement in CORPUS:
            # WHEN PostgreSQL runs it inside BEGIN ... ROLLBACK
            verdicts[statement] = _refused_in_transaction(conn, statement)
    # THEN it refuses exactly the statements the detector names
    assert {s: detected(s) is not None for s in CORPUS} == verdicts


def _refused_in_transaction(conn: psycopg.Connection[tuple[object, ...]], statement: str) -> bool:
    conn.execute("BEGIN")
    try:
        conn.execute(statement)
    except psycopg.errors.ActiveSqlTransaction:
        return True
    finally:
        conn.execute("ROLLBACK")
    return False
