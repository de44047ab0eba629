"""The pure planner, with literal migrations and applied rows (no database)."""

from __future__ import annotations

import pytest
from stackflow.errors import (
    ChecksumMismatch,
    InvalidRequest,
    MissingDownScript,
    OutOfOrderMigration,
    SourceError,
)
from stackflow.migrations.model import AppliedMigration, Migration, Script
from stackflow.migrations.planner import find_problems, plan_migrate, plan_rollback


def mig(version: int, sql: str = "SELECT 1;", down: str | None = "SELECT 0;") -> Migration:
    name = f"m{version}"
    return Migration(version, name, Script(sql, f"{version:04d}_{name}.up.sql"),
                     Script(down, f"{version:04d}_{name}.down.sql") if down else None)


def done(m: Migration) -> AppliedMigration:
    return AppliedMigration(m.version, m.name, m.checksum)


M = [mig(1), mig(2), mig(3), mig(4)]


def versions(plan_steps: object) -> list[int]:
    return [s.version for s in plan_steps]  # type: ignore[attr-defined]


def test_migrate_plans_pending_in_order_up_to_target() -> None:
    # GIVEN 1 applied of 4
    # WHEN planning with and without a target
    # THEN the pending ones are planned in order, stopping at the target
    assert versions(plan_migrate(M, [done(M[0])]).steps) == [2, 3, 4]
    assert versions(plan_migrate(M, [done(M[0])], target=3).steps) == [2, 3]
    assert versions(plan_migrate(M, [done(m) for m in M]).steps) == []


def test_migrate_to_an_unknown_target_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest, match=r"^target: no migration has version 7"):
        plan_migrate(M, [], target=7)


def test_edited_applied_migration_blocks_migrate_naming_the_version() -> None:
    # GIVEN migration 2 applied, then its file edited
    applied = [done(M[0]), done(M[1])]
    edited = [M[0], mig(2, "SELECT 2;"), M[2]]
    # THEN planning refuses with ChecksumMismatch naming 2
    with pytest.raises(ChecksumMismatch, match=r"^migration 2 \(0002_m2.up.sql\) changed"):
        plan_migrate(edited, applied)


def test_out_of_order_is_reported_and_refused_unless_allowed() -> None:
    # GIVEN 1 and 3 applied while 2 is still pending
    applied = [done(M[0]), done(M[2])]
    # THEN it is reported, refused by default and planned when allowed
    assert find_problems(M, applied).out_of_order == (2,)
    with pytest.raises(OutOfOrderMigration, match="migration 2 is numbered below"):
        plan_migrate(M, applied)
    assert versions(plan_migrate(M, applied, allow_out_of_order=True).steps) == [2, 4]


def test_applied_migration_missing_from_source_is_reported_without_blocking() -> None:
    applied = [done(M[0]), AppliedMigration(2, "gone", "abc")]
    assert find_problems([M[0], M[2]], applied).missing == (2,)
    assert versions(plan_migrate([M[0], M[2]], applied).steps) == [3]


def test_transaction_control_in_a_transactional_migration_is_refused() -> None:
    # GIVEN a script that commits on its own
    bad = mig(1, "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n")
    # THEN it is refused by file name before anything runs
    with pytest.raises(SourceError, match=r"0001_m1.up.sql: contains 'BEGIN'"):
        plan_migrate([bad], [])


def test_rollback_by_steps_and_by_target_newest_first() -> None:
    applied = [done(m) for m in M]
    assert versions(plan_rollback(M, applied).steps) == [4]
    assert versions(plan_rollback(M, applied, steps=2).steps) == [4, 3]
    assert versions(plan_rollback(M, applied, target=1).steps) == [4, 3, 2]
    assert versions(plan_rollback(M, applied, target=0).steps) == [4, 3, 2, 1]
    assert all(s.direction == "down" for s in plan_rollback(M, applied, target=0).steps)


def test_rollback_refuses_impossible_requests_naming_the_field() -> None:
    applied = [done(M[0]), done(M[1])]
    with pytest.raises(InvalidRequest, match=r"^steps: cannot roll back 3"):
        plan_rollback(M, applied, steps=3)
    with pytest.raises(InvalidRequest, match=r"^target: version 3 is not applied"):
        plan_rollback(M, applied, target=3)


def test_rollback_over_a_missing_down_script_is_refused_as_a_whole() -> None:
    # GIVEN 3 has no down script
    ms = [M[0], M[1], mig(3, down=None), M[3]]
    applied = [done(m) for m in ms]
    # THEN rolling back 2 steps (4, then 3) is refused before anything, naming 3
    with pytest.raises(MissingDownScript, match="migration 3 has no down script"):
        plan_rollback(ms, applied, steps=2)
    # AND one step (only 4) is fine
    assert versions(plan_rollback(ms, applied, steps=1).steps) == [4]
