"""The pure drift core: alias, stack and schema comparisons, and the drift set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stackflow.drift.aliases import AliasHistory, DeployedAlias, alias_keys, compare_alias
from stackflow.drift.deployments import last_succeeded, latest, parse_alias_list
from stackflow.drift.model import (
    AliasResult,
    AliasState,
    PropertyDifference,
    ResourceDrift,
    StackResult,
)
from stackflow.drift.schema import (
    SchemaBaseline,
    compare_fingerprint,
    compare_migrations,
    dump_fingerprint,
    normalize_dump,
)
from stackflow.drift.stacks import classify_stack, stack_keys
from stackflow.drift.state import DriftState, has_changed, merge_keys, order_stacks
from stackflow.errors import InvalidRequest
from stackflow.migrations.model import AppliedMigration, Migration, Script, checksum

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALIAS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:StackFlowAPI:PROD"
V4 = DeployedAlias(version="4", execution_id="exec-4")


# --- aliases ---------------------------------------------------------------------------
def test_alias_where_the_last_deployment_left_it_is_in_sync() -> None:
    # GIVEN PROD on version 4, which the last successful deployment set
    # WHEN compared
    result = compare_alias("StackFlowAPI", "PROD", AliasState("4"),
                           AliasHistory(last_succeeded=V4, latest=V4))
    # THEN it is in sync and contributes nothing to the drift set
    assert result.status == "in_sync"
    assert alias_keys(result) == []


def test_alias_moved_by_hand_is_drift() -> None:
    # GIVEN PROD moved back to version 3 outside StackFlow
    result = compare_alias("StackFlowAPI", "PROD", AliasState("3"),
                           AliasHistory(last_succeeded=V4, latest=V4))
    # THEN it is drift naming both versions
    assert result.status == "drifted"
    assert "version 3" in result.reason
    assert "set 4" in result.reason
    assert alias_keys(result) == ["alias:StackFlowAPI:PROD:drifted:3"]


def test_weighted_alias_left_by_a_dead_execution_is_drift() -> None:
    # GIVEN a 10 % canary on version 5 whose execution died (record FAILED, lock gone)
    dead = DeployedAlias(version="5", execution_id="exec-5", status="FAILED")
    result = compare_alias("StackFlowAPI", "PROD", AliasState("4", {"5": 0.1}),
                           AliasHistory(last_succeeded=V4, latest=dead))
    # THEN it is drift, pointing at the dead execution
    assert result.status == "drifted"
    assert result.execution_id == "exec-5"
    assert "exec-5" in result.reason
    assert alias_keys(result) == ["alias:StackFlowAPI:PROD:drifted:4|5=0.1"]


def test_weighted_alias_of_a_live_deployment_is_not_drift() -> None:
    # GIVEN the same canary while its deployment still holds the lock
    result = compare_alias("StackFlowAPI", "PROD", AliasState("4", {"5": 0.1}),
                           AliasHistory(last_succeeded=V4, active_execution="exec-5"))
    # THEN it is reported as deploying, not drift
    assert result.status == "deploying"
    assert not result.is_drift


def test_alias_never_deployed_by_stackflow_is_unmanaged() -> None:
    result = compare_alias("Other", "LIVE", AliasState("7"), AliasHistory())
    assert result.status == "unmanaged"
    assert not result.is_drift


def test_deleted_alias_is_drift() -> None:
    result = compare_alias("StackFlowAPI", "PROD", None, AliasHistory(last_succeeded=V4))
    assert result.status == "missing"
    assert alias_keys(result) == ["alias:StackFlowAPI:PROD:missing:absent"]


def test_records_pick_the_newest_success_and_the_newest_start() -> None:
    # GIVEN three records of one alias: two successes and a later failure
    records: list[dict[str, Any]] = [
        {"sk": "EXEC#a", "status": "SUCCEEDED", "new_version": 3,
         "started_at": "2024-04-01T00:00:00Z", "finished_at": "2024-04-01T00:10:00Z"},
        {"sk": "EXEC#b", "status": "SUCCEEDED", "new_version": "4",
         "started_at": "2024-04-02T00:00:00Z", "finished_at": "2024-04-02T00:10:00Z"},
        {"sk": "EXEC#c", "status": "FAILED", "new_version": "5",
         "started_at": "2024-04-03T00:00:00Z", "finished_at": "2024-04-03T00:10:00Z"},
    ]
    # THEN the expected state is b's version and the latest execution is c
    assert last_succeeded(records) == DeployedAlias("4", "b", "SUCCEEDED")
    assert latest(records) == DeployedAlias("5", "c", "FAILED")


def test_alias_list_names_the_field_on_bad_entries() -> None:
    assert parse_alias_list(["StackFlowAPI:PROD"], "aliases") == (("StackFlowAPI", "PROD"),)
    with pytest.raises(InvalidRequest, match=r"^aliases: expected FUNCTION:ALIAS"):
        parse_alias_list(["StackFlowAPI"], "aliases")


# --- stacks ----------------------------------------------------------------------------
def alias_resource(*paths: str) -> ResourceDrift:
    return ResourceDrift("ApiAlias", ALIAS_ARN, "AWS::Lambda::Alias", "MODIFIED",
                         tuple(PropertyDifference(p, "1", "4", "NOT_EQUAL") for p in paths))


def test_alias_version_set_by_stackflow_is_not_stack_drift() -> None:
    # GIVEN CloudFormation reports the alias's FunctionVersion changed (by the deployer)
    stack = StackResult("stackflow-dev", "DRIFTED", "d1", (alias_resource("/FunctionVersion"),))
    in_sync = AliasResult("StackFlowAPI", "PROD", "in_sync")
    # WHEN classified against the alias check
    result = classify_stack(stack, {("StackFlowAPI", "PROD"): in_sync})
    # THEN the resource is managed by StackFlow and the stack reads as in sync
    assert result.status == "IN_SYNC"
    assert result.resources[0].classification == "managed_by_stackflow"
    assert stack_keys(result) == []


def test_alias_with_other_changed_properties_stays_drift() -> None:
    # GIVEN the alias's Description was edited too
    stack = StackResult("stackflow-dev", "DRIFTED", "d1",
                        (alias_resource("/FunctionVersion", "/Description"),))
    result = classify_stack(stack, {("StackFlowAPI", "PROD"):
                                    AliasResult("StackFlowAPI", "PROD", "in_sync")})
    # THEN only the Description is drift
    assert result.status == "DRIFTED"
    assert stack_keys(result) == ["stack:stackflow-dev:ApiAlias:MODIFIED:/Description"]


def test_alias_change_is_drift_when_the_alias_is_not_where_stackflow_left_it() -> None:
    stack = StackResult("stackflow-dev", "DRIFTED", "d1",
                        (alias_resource("/RoutingConfig/AdditionalVersionWeights"),))
    for status in ("drifted", "unmanaged"):
        result = classify_stack(stack, {("StackFlowAPI", "PROD"):
                                        AliasResult("StackFlowAPI", "PROD", status)})
        assert result.status == "DRIFTED"
        assert result.resources[0].classification == "drift"


# --- schema ----------------------------------------------------------------------------
def migration(version: int, sql: str) -> Migration:
    return Migration(version, f"m{version}", Script(sql, f"{version:04d}_m{version}.up.sql"))


def applied(version: int, sql: str) -> AppliedMigration:
    return AppliedMigration(version, f"m{version}", checksum(sql))


def test_schema_findings_edited_missing_and_stale_pending() -> None:
    # GIVEN 1 applied as is, 2 edited since, 3 applied but gone from the source,
    # 4 pending for two days and 5 pending for an hour
    source = [migration(1, "a"), migration(2, "b-edited"), migration(4, "d"),
              migration(5, "e")]
    rows = [applied(1, "a"), applied(2, "b"), applied(3, "c")]
    times = {4: NOW - timedelta(hours=48), 5: NOW - timedelta(hours=1)}
    # WHEN compared with a 24 h threshold
    result = compare_migrations(source, rows, times, now=NOW,
                                pending_max_age=timedelta(hours=24))
    # THEN each problem is one finding; 5 is pending but not yet stale
    assert [(f.kind, f.version) for f in result.findings] == [
        ("checksum_mismatch", 2), ("missing_from_source", 3), ("stale_pending", 4)]
    assert (result.current_version, result.pending) == (3, (4, 5))


def test_pending_without_a_timestamp_is_never_stale() -> None:
    result = compare_migrations([migration(1, "a")], [], {}, now=NOW,
                                pending_max_age=timedelta(0))
    assert result.findings == ()
    assert result.pending == (1,)


DUMP = """--
-- PostgreSQL database dump
--
\\restrict AbC123

-- Dumped from database version 18.0
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.orders (
    id bigint NOT NULL
);

\\unrestrict AbC123
"""


def test_dump_normalization_keeps_only_ddl() -> None:
    # GIVEN two dumps of one schema that differ in comments, SETs and the restrict key
    other = DUMP.replace("AbC123", "XyZ789").replace("18.0", "18.6")
    # THEN they have one fingerprint, and the DDL is all that is left
    assert dump_fingerprint(DUMP) == dump_fingerprint(other)
    assert normalize_dump(DUMP) == "CREATE TABLE public.orders (\n    id bigint NOT NULL\n);\n"
    assert dump_fingerprint(DUMP) != dump_fingerprint(DUMP.replace("bigint", "integer"))


def test_fingerprint_records_a_baseline_per_migration_version() -> None:
    baseline = SchemaBaseline(version=3, fingerprint="f1", recorded_at="then")
    assert compare_fingerprint("f1", 3, baseline).status == "match"
    assert compare_fingerprint("f2", 3, baseline).status == "changed"
    # a newer migration was applied: the new shape becomes the baseline
    assert compare_fingerprint("f2", 4, baseline).status == "recorded"
    assert compare_fingerprint(None, 3, baseline).status == "skipped"


# --- the drift set ---------------------------------------------------------------------
def test_unchecked_parts_keep_their_previous_findings() -> None:
    # GIVEN the last run found drift on two stacks; this run could check only one
    previous = DriftState(drift_keys=("stack:a:X:MODIFIED:/P", "stack:b:Y:MODIFIED:/Q"))
    # WHEN a now shows nothing and b was carried over
    keys = merge_keys([], previous, ["stack:b:"])
    # THEN b's finding stays; a's is cleared
    assert keys == ("stack:b:Y:MODIFIED:/Q",)


def test_change_detection() -> None:
    state = DriftState(drift_keys=("k1", "k2"))
    assert not has_changed(state, ["k2", "k1"])
    assert has_changed(state, ["k1"])
    assert has_changed(None, ["k1"])
    assert not has_changed(None, [])


def test_carried_over_stacks_go_first() -> None:
    previous = DriftState(carried_over=("c", "gone"))
    assert order_stacks(["a", "b", "c"], previous) == ["c", "a", "b"]
