"""Expand/contract: which pending migrations a run of each phase applies, and the record
of a release whose contract phase failed."""

from __future__ import annotations

import pytest
from stackflow.deploy.contract import SUCCEEDED_WITH_PENDING_CONTRACT
from stackflow.deploy.record import final_fields
from stackflow.errors import InvalidRequest
from stackflow.migrations.markers import phase_of
from stackflow.migrations.model import Migration, Script
from stackflow.migrations.planner import in_phase, plan_migrate
from stackflow.migrations.request import parse_request

CONTRACT = "-- stackflow:phase contract\n"


def m(version: int, contract: bool = False) -> Migration:
    sql = (CONTRACT if contract else "") + f"CREATE TABLE t{version} ();\n"
    return Migration(version, f"m{version}", Script(sql, f"{version:04d}_m{version}.up.sql"))


def versions(todo: list[Migration]) -> list[int]:
    return [x.version for x in todo]


def test_the_phase_marker_is_read_from_a_comment_line() -> None:
    assert phase_of(CONTRACT + "DROP TABLE a;") == "contract"
    assert phase_of("-- STACKFLOW:PHASE   Contract\nDROP TABLE a;") == "contract"
    assert phase_of("DROP TABLE a; -- stackflow:phase contract") == "expand"
    assert phase_of("SELECT '-- stackflow:phase contract'") == "expand"


@pytest.mark.parametrize(("pending", "expand"), [
    ([m(5), m(6, True)], [5]),                       # this release: expand, then contract
    ([m(4, True), m(5), m(6, True)], [4, 5]),        # an earlier release's contract first
    ([m(6, True)], []),                              # only a contract left
    ([m(5), m(6)], [5, 6]),
])
def test_expand_stops_before_the_trailing_contract_migrations(
        pending: list[Migration], expand: list[int]) -> None:
    assert versions(in_phase(pending, "expand")) == expand
    assert versions(in_phase(pending, "contract")) == versions(pending)
    assert versions(in_phase(pending, "all")) == versions(pending)


def test_a_plan_of_the_expand_phase_leaves_the_contract_pending() -> None:
    plan = plan_migrate([m(5), m(6, True)], [], phase="expand")
    assert [s.version for s in plan.steps] == [5]


def test_phase_is_a_migrate_field_naming_itself_when_wrong() -> None:
    assert parse_request({"action": "migrate", "phase": "contract"}).phase == "contract"
    assert parse_request({"action": "migrate"}).phase == "all"
    for event in ({"action": "migrate", "phase": "shrink"},
                  {"action": "rollback", "phase": "expand"}):
        with pytest.raises(InvalidRequest) as e:
            parse_request(event)
        assert e.value.field == "phase"


def test_a_failed_contract_keeps_the_release_promoted_with_the_pending_status() -> None:
    # GIVEN a promoted release whose MigrateContract failed (caught, not rolled back)
    doc = {"publish": {"version": "3", "code_sha256": "x"},
           "migrate_contract_error": {"Error": "MigrationFailed",
                                      "Cause": '{"errorMessage": "migration 6: boom"}'}}
    # WHEN the record's fields are built
    fields = final_fields(doc, "StackFlowPatcher")
    # THEN it succeeded, with its contract pending and how to finish it
    assert fields["status"] == SUCCEEDED_WITH_PENDING_CONTRACT
    assert fields["contract"] == {
        "error": {"type": "MigrationFailed", "message": "migration 6: boom"},
        "finish_with": "stackflow migrate --phase contract"}
    ok = final_fields({"migrate_contract": {"applied": [{"version": 6}]}}, "p")
    assert (ok["status"], ok["contract"]) == ("SUCCEEDED", {"applied": [6]})


def test_destructive_statements_are_listed_with_their_phase() -> None:
    from stackflow.migrations.destructive import destructive_statements

    drop = Migration(7, "drop", Script(CONTRACT + "ALTER TABLE a ADD COLUMN b int;\n"
                                       "ALTER TABLE a DROP COLUMN c;\n", "0007_drop.up.sql"))
    widen = Migration(8, "widen", Script("ALTER TABLE a ALTER COLUMN d TYPE text;\n"
                                         "ALTER TABLE a RENAME COLUMN e TO f;\n",
                                         "0008_widen.up.sql"))
    assert destructive_statements([m(5), drop, widen]) == [
        {"version": 7, "file": "0007_drop.up.sql", "phase": "contract", "statement": 2,
         "what": "drop column a.c", "tables": ["a"]},
        {"version": 8, "file": "0008_widen.up.sql", "phase": "expand", "statement": 2,
         "what": "rename", "tables": ["a"]}]
