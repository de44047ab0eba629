"""The rollback impact report's pure parts: what down scripts destroy, and the verdict."""

from __future__ import annotations

import pytest
from stackflow.errors import InvalidRequest
from stackflow.migrations.impact import (
    SAFE,
    Baseline,
    Effect,
    TableStats,
    assess,
    effects,
    fold,
    parse_baseline,
    touched_tables,
)
from stackflow.migrations.model import Step


def test_effects_name_each_destroyed_object_in_order() -> None:
    # GIVEN a down script with every destructive form, quoting and comments included
    sql = """
    -- undo 7
    DROP TABLE IF EXISTS audit, app."Events" CASCADE;
    ALTER TABLE ONLY orders DROP COLUMN IF EXISTS note, DROP CONSTRAINT orders_ck,
        ALTER COLUMN total TYPE int;
    TRUNCATE TABLE staging;
    DELETE FROM public.jobs WHERE kind = 'drop table x';
    DROP INDEX CONCURRENTLY orders_idx;
    SELECT 'ALTER TABLE t DROP COLUMN c';
    """
    # WHEN its effects are read
    found = effects(sql)
    # THEN each destroyed table or column is named, folded as PostgreSQL folds it
    assert found == [
        Effect("drop_table", "audit", None, 1),
        Effect("drop_table", "app.Events", None, 1),
        Effect("drop_column", "orders", "note", 2),
        Effect("alter_column_type", "orders", "total", 2),
        Effect("truncate", "staging", None, 3),
        Effect("delete", "public.jobs", None, 4),
    ]
    assert touched_tables([sql, "DROP TABLE zeta;"]) == [
        "app.Events", "audit", "orders", "public.jobs", "staging", "zeta"]


def test_fold_keeps_quoted_case() -> None:
    assert fold('Public."MyTable"') == "public.MyTable"


class FakeMeter:
    """Measurements as the database would give them."""

    def __init__(self, tables: dict[str, TableStats], values: dict[str, int]) -> None:
        self.tables, self.values = tables, values

    def table_stats(self, table: str) -> TableStats:
        return self.tables.get(table, TableStats(exists=False))

    def non_null_count(self, table: str, column: str) -> int:
        return self.values[f"{table}.{column}"]


def _down(version: int, sql: str) -> Step:
    return Step("down", version, f"m{version}", "c", sql, f"{version:04d}_m.down.sql")


def test_assess_counts_new_data_only_against_the_baseline() -> None:
    # GIVEN orders existed before the release without `note`; the release added `note`
    # and the table `audit`; since then 5 orders got a note and audit has 2 rows
    before = Baseline(3, "t0", {
        "orders": TableStats(True, 10, inserted=10, columns=("id", "total")),
        "audit": TableStats(False)})
    meter = FakeMeter({
        "orders": TableStats(True, 14, inserted=14, updated=1, columns=("id", "total", "note")),
        "audit": TableStats(True, 2, inserted=2, columns=("id",))}, {"orders.note": 5})
    steps = [_down(5, "DROP TABLE audit;"), _down(4, "ALTER TABLE orders DROP COLUMN note;")]
    # WHEN the impact is assessed
    report = assess(steps, meter, before)
    # THEN every value in the new column and every row of the new table counts
    assert [s["rows_lost"] for s in report["scripts"]] == [2, 5]
    assert report["scripts"][1]["objects"][0]["written_since"] == 5
    assert report["verdict"] == "rolling back loses 7 row(s) written by the new version"
    assert report["safe"] is False


def test_assess_on_an_older_table_counts_what_was_written_since() -> None:
    # GIVEN a down script truncating a table that held 10 rows at the baseline
    before = Baseline(3, "t0", {"jobs": TableStats(True, 10, inserted=10, columns=("id",))})
    meter = FakeMeter({"jobs": TableStats(True, 12, inserted=12, columns=("id",))}, {})
    # WHEN assessed THEN only the 2 rows inserted since count as the new version's
    report = assess([_down(4, "TRUNCATE jobs;")], meter, before)
    assert report["rows_lost"] == 2


def test_a_down_script_that_destroys_nothing_is_safe() -> None:
    report = assess([_down(4, "DROP INDEX CONCURRENTLY IF EXISTS i;")], FakeMeter({}, {}), None)
    assert report == {"baseline": None, "scripts": [
        {"version": 4, "file": "0004_m.down.sql", "objects": [], "rows_lost": 0}],
        "rows_lost": 0, "safe": True, "verdict": SAFE}


def test_a_bad_baseline_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_baseline({"version": 1, "taken_at": "t", "tables": {"a": {"rows": -1}}})
    assert e.value.field == "baseline.tables.a.rows"
    round_trip = Baseline(2, "t", {"a": TableStats(True, 3, 1, 2, 0, ("id",))})
    assert parse_baseline(round_trip.to_dict()) == round_trip
