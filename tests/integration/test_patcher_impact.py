"""The rollback impact report against a real PostgreSQL: a baseline at SchemaBefore,
rows the new version wrote, and what the down scripts would drop."""

from __future__ import annotations

from pathlib import Path

import pytest
from stackflow.migrations.impact import parse_baseline
from stackflow.migrations.request import PatcherRequest
from stackflow.migrations.service import run
from stackflow_tools.cli.main import main

from tests.support.patcher import make_deps, migrate, query, rollback, write_migrations

ORDERS = ("create_orders", "CREATE TABLE orders (id int PRIMARY KEY, total int);\n",
          "DROP TABLE orders;\n")
NOTE = ("add_orders_note", "ALTER TABLE orders ADD COLUMN note text;\n",
        "ALTER TABLE orders DROP COLUMN note;\n")
AUDIT = ("create_audit", "CREATE TABLE audit (id int);\n", "DROP TABLE audit;\n")


def test_rollback_dry_run_counts_the_rows_the_down_scripts_would_drop(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN orders with 3 rows written by the old version
    deps = make_deps(database_url, write_migrations(tmp_path, {1: ORDERS, 2: NOTE, 3: AUDIT}))
    migrate(deps, target=1)
    query(database_url, "INSERT INTO orders VALUES (1, 10), (2, 20), (3, 30)")
    # AND a baseline taken before the release (what SchemaBefore does)
    before = run(PatcherRequest("status", baseline=True), deps)["baseline"]
    assert before["version"] == 1
    assert before["tables"]["orders"]["rows"] == 3
    assert before["tables"]["audit"] == {"exists": False, "rows": 0, "inserted": 0,
                                         "updated": 0, "deleted": 0, "columns": []}
    # WHEN the release adds a column and a table, and its canary writes into them
    migrate(deps)
    query(database_url, "INSERT INTO orders VALUES (4, 40, 'a'), (5, 50, 'b'), (6, 60, NULL)")
    query(database_url, "UPDATE orders SET note = 'c' WHERE id = 1")
    query(database_url, "INSERT INTO audit VALUES (1), (2)")
    # AND a rollback to the version before is assessed with that baseline
    result = rollback(deps, target=1, dry_run=True, baseline=parse_baseline(before))
    # THEN the report says exactly what the down scripts would drop
    impact = result["impact"]
    by_version = {s["version"]: s for s in impact["scripts"]}
    assert by_version[2]["objects"][0]["object"] == "orders.note"
    assert by_version[2]["rows_lost"] == query(
        database_url, "SELECT count(note) FROM orders")[0][0] == 3
    assert by_version[3]["rows_lost"] == 2
    assert impact["rows_lost"] == 5
    assert impact["verdict"] == "rolling back loses 5 row(s) written by the new version"
    # AND nothing changed
    assert query(database_url, "SELECT count(*) FROM audit") == [(2,)]


def test_a_release_whose_new_objects_stayed_empty_is_safe_to_roll_back(
        database_url: str, tmp_path: Path) -> None:
    deps = make_deps(database_url, write_migrations(tmp_path, {1: ORDERS, 2: NOTE}))
    migrate(deps, target=1)
    query(database_url, "INSERT INTO orders VALUES (1, 10)")
    before = run(PatcherRequest("status", baseline=True), deps)["baseline"]
    migrate(deps)
    impact = rollback(deps, target=1, dry_run=True, baseline=parse_baseline(before))["impact"]
    assert impact["safe"] is True
    assert impact["verdict"] == "safe to roll back the schema"



def test_cli_takes_a_baseline_and_rollback_dry_run_prints_the_impact(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN orders at version 1, and a baseline saved by `stackflow status`
    folder = write_migrations(tmp_path / "m", {1: ORDERS, 2: NOTE})
    common = ["--database-url", database_url, "--migrations-dir", str(folder)]
    assert main(["migrate", "--target", "1", *common]) == 0
    capsys.readouterr()
    assert main(["status", "--take-baseline", "--json", *common]) == 0
    saved = tmp_path / "baseline.json"
    saved.write_text(capsys.readouterr().out)
    # WHEN the release adds `note`, 2 rows get one, and the rollback is dry-run
    assert main(["migrate", *common]) == 0
    query(database_url, "INSERT INTO orders VALUES (1, 1, 'x'), (2, 2, 'y')")
    capsys.readouterr()
    assert main(["rollback", "--dry-run", "--baseline", str(saved), *common]) == 0
    out = capsys.readouterr().out.splitlines()
    # THEN the verdict and the column with its values are printed
    impact = next(i for i, line in enumerate(out) if line.startswith("impact:"))
    assert out[impact].startswith(
        "impact: rolling back loses 2 row(s) written by the new version since the baseline")
    assert out[impact + 1].startswith(
        "  2 0002_add_orders_note.down.sql: drop column orders.note: 2 row(s), "
        "2 non-null value(s)")
