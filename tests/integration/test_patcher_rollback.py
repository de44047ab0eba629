"""``rollback`` against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from stackflow.errors import MissingDownScript

from tests.support.patcher import (
    SAMPLE_MIGRATIONS,
    applied_versions,
    make_deps,
    migrate,
    query,
    rollback,
    runs,
    snapshot,
    table,
    tables,
    write_migrations,
)


def test_rollback_by_steps_runs_down_scripts_newest_first(database_url: str) -> None:
    # GIVEN the project's four migrations applied
    deps = make_deps(database_url, SAMPLE_MIGRATIONS)
    migrate(deps)
    # WHEN two steps are rolled back
    result = rollback(deps, steps=2)
    # THEN 4 (no-transaction DROP INDEX CONCURRENTLY) and 3 are undone, in that order
    assert [a["version"] for a in result["applied"]] == [4, 3]
    assert result["current_version"] == 2
    assert applied_versions(database_url) == [1, 2]
    columns = query(database_url, "SELECT column_name FROM information_schema.columns "
                                  "WHERE table_name = 'orders'")
    assert ("status",) not in columns
    assert query(database_url, "SELECT count(*) FROM pg_class "
                               "WHERE relname = 'orders_customer_id_idx'") == [(0,)]
    # AND migrate brings them back
    assert [a["version"] for a in migrate(deps)["applied"]] == [3, 4]


def test_rollback_by_target_stops_at_it(database_url: str, tmp_path: Path) -> None:
    deps = make_deps(database_url, write_migrations(tmp_path, {n: table(n) for n in range(1, 5)}))
    migrate(deps)
    # WHEN rolled back to target 2 THEN 2 is the current version
    assert rollback(deps, target=2)["current_version"] == 2
    assert tables(database_url) >= {"t1", "t2"}
    assert "t3" not in tables(database_url)
    # WHEN rolled back to target 0 THEN everything is undone
    assert rollback(deps, target=0)["current_version"] is None
    assert applied_versions(database_url) == []


def test_rollback_dry_run_changes_nothing(database_url: str, tmp_path: Path) -> None:
    deps = make_deps(database_url, write_migrations(tmp_path, {n: table(n) for n in (1, 2)}))
    migrate(deps)
    before = snapshot(database_url)
    result = rollback(deps, steps=2, dry_run=True)
    assert [p["sql"] for p in result["planned"]] == ["DROP TABLE t2;\n", "DROP TABLE t1;\n"]
    assert result["applied"] == []
    assert snapshot(database_url) == before


def test_rollback_over_missing_down_script_is_refused_with_nothing_changed(
        database_url: str, tmp_path: Path) -> None:
    # GIVEN 1-3 applied, where 2 has no down script
    folder = write_migrations(tmp_path, {1: table(1), 2: ("no_down", "CREATE TABLE t2 (x int);",
                                                         None), 3: table(3)})
    deps = make_deps(database_url, folder)
    migrate(deps)
    before = snapshot(database_url, without_data=["schema_migrations_runs*"])
    # WHEN two steps are asked for (3, then 2)
    with pytest.raises(MissingDownScript) as caught:
        rollback(deps, steps=2)
    # THEN the error names 2, and not even 3 was rolled back: schema, data and
    # schema_migrations are exactly as before
    assert caught.value.message == ("cannot roll back: migration 2 has no down script; "
                                    "nothing was rolled back")
    assert applied_versions(database_url) == [1, 2, 3]
    assert snapshot(database_url, without_data=["schema_migrations_runs*"]) == before
    # AND only the run history notes the refusal
    assert runs(database_url)[-1] == ("rollback", "refused", [], [], "MissingDownScript")
