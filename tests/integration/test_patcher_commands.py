"""``stackflow migrate | rollback | status`` against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stackflow_tools.cli.main import main

from tests.support.patcher import REPO, applied_versions, table, write_migrations


def args(command: str, database_url: str, folder: Path, *extra: str) -> list[str]:
    return [command, "--database-url", database_url, "--migrations-dir", str(folder), *extra]


def test_migrate_status_rollback_print_readable_tables(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN three migrations
    folder = write_migrations(tmp_path, {n: table(n) for n in (1, 2, 3)})
    # WHEN migrate runs up to 2
    assert main(args("migrate", database_url, folder, "--target", "2")) == 0
    out = capsys.readouterr().out.splitlines()
    # THEN a head line, a table of what was applied, and what is pending
    assert out[0] == "migrate: applied 2 migration(s); current version: 2"
    assert out[1].split() == ["VERSION", "FILE", "MODE", "TIME"]
    assert [line.split()[:3] for line in out[2:4]] == [
        ["1", "0001_create_t1.up.sql", "transaction"],
        ["2", "0002_create_t2.up.sql", "transaction"]]
    assert out[4] == "pending: 3"
    # WHEN status runs THEN it lists each version with its state
    assert main(args("status", database_url, folder)) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "status: current version 2"
    assert [line.split()[:3] for line in rows[2:5]] == [
        ["1", "create_t1", "applied"], ["2", "create_t2", "applied"],
        ["3", "create_t3", "pending"]]
    assert rows[-1] == "no problems found"
    # WHEN one step is rolled back THEN the table says so
    assert main(args("rollback", database_url, folder)) == 0
    assert capsys.readouterr().out.startswith(
        "rollback: rolled back 1 migration(s); current version: 1")
    assert applied_versions(database_url) == [1]


def test_json_output_is_the_result_document(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_migrations(tmp_path, {n: table(n) for n in (1, 2)})
    assert main(args("migrate", database_url, folder, "--json")) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["current_version"]) == (True, 2)
    assert [a["version"] for a in result["applied"]] == [1, 2]


def test_failing_migration_exits_1_with_type_and_one_line_message(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN migration 2 refers to a missing table
    folder = write_migrations(tmp_path, {1: table(1), 2: (
        "broken", "INSERT INTO nope VALUES (1);\n", None)})
    # WHEN the console script runs as its own process
    done = subprocess.run([sys.executable, "-m", "stackflow_tools.cli.main",
                           *args("migrate", database_url, folder)],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
                          capture_output=True, text=True, check=False)
    # THEN it exits 1 and stderr is the error type and the one-line message, nothing more
    assert done.returncode == 1
    assert done.stderr == ("error: MigrationFailed: migration 2 (broken, 0002_broken.up.sql): "
                           'SQLSTATE 42P01: relation "nope" does not exist\n')
    assert applied_versions(database_url) == [1]
