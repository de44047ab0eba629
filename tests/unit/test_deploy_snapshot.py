"""Snapshot: the Aurora cluster snapshot a release takes before destructive migrations.

The step runs through its handler (the same wrapper and dispatch as in Lambda) over
in-memory fakes; one test plays its rounds over the real RDS adapter with botocore's
Stubber, so the exact calls and their parameters are pinned.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from deploy_steps import handler
from stackflow.adapters.rds import ClusterSnapshot, ClusterSnapshots, snapshot_identifier
from stackflow.deploy.deps import Deps
from stackflow.deploy.ports import SnapshotsPort
from stackflow.deploy.snapshot import EXECUTION_TAG, MAX_TAG_VALUE, TABLES_TAG, tables_tag
from stackflow.errors import ConfigurationError, InvalidRequest, SnapshotFailed
from stackflow_tools.cli.deploy import history_lines

from tests.support.deploy_fakes import EXECUTION, FakeClock, FakeContext, InMemoryStore, fake_deps
from tests.support.events import load_event

CLUSTER = "stackflow-prod-database-clustereb0386a7-x1y2z3"
EXECUTION_NAME = EXECUTION.rsplit(":", 1)[-1]  # release-1
SNAPSHOT = "stackflow-release-1"
DROP = {"version": 5, "file": "0005_drop_customer_note.up.sql", "phase": "contract",
        "statement": 1, "what": "drop column customers.note", "tables": ["customers"]}
RENAME = {"version": 6, "file": "0006_rename_orders.up.sql", "phase": "contract",
          "statement": 1, "what": "rename", "tables": ["app.orders", "customers"]}


@dataclass
class FakeSnapshots:
    """``SnapshotsPort`` in memory: each snapshot goes through ``statuses`` in turn, one
    per read after its creation, and stays at the last."""

    statuses: list[str] = field(default_factory=lambda: ["creating", "available"])
    created: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    reads: int = 0

    def identifier_for(self, execution_name: str) -> str:
        return snapshot_identifier(execution_name)

    def create(self, cluster: str, identifier: str,
               tags: Mapping[str, str]) -> ClusterSnapshot:
        self.created.setdefault(identifier, (cluster, dict(tags)))
        return ClusterSnapshot(identifier, cluster, self.statuses[0])

    def describe(self, identifier: str) -> ClusterSnapshot:
        self.reads += 1
        cluster, _ = self.created[identifier]
        return ClusterSnapshot(identifier, cluster,
                               self.statuses[min(self.reads, len(self.statuses) - 1)])


_snapshots: type[SnapshotsPort] = FakeSnapshots


def single_document(*destructive: dict[str, Any]) -> dict[str, Any]:
    """A single-function document after SchemaBefore found ``destructive`` statements."""
    return {"input": load_event("deploy-execution"), "execution_id": EXECUTION,
            "schema_before": {"current_version": 4, "pending": [],
                              "destructive": list(destructive)}}


def release_document(*destructive: dict[str, Any]) -> dict[str, Any]:
    return {**single_document(*destructive), "input": load_event("deploy-execution-release")}


def deps_with(snapshots: SnapshotsPort, *, store: InMemoryStore | None = None,
              clock: FakeClock | None = None, cluster: str | None = CLUSTER) -> Deps:
    deps = fake_deps(store=store, clock=clock)
    return replace(deps, snapshots=snapshots,
                   settings=replace(deps.settings, db_cluster=cluster))


def snapshot_step(deps: Deps) -> Any:
    """The Snapshot state's handler, as Lambda runs it."""
    step = handler.step_handler("snapshot", lambda: deps)
    return lambda doc: step(doc, FakeContext())


def play(doc: dict[str, Any], deps: Deps, *, rounds: int = 10) -> list[dict[str, Any]]:
    """Snapshot -> SnapshotReady -> SnapshotWait -> Snapshot ... as the state machine
    loops it: each round's result replaces ``$.snapshot`` until it is available."""
    step, doc, results = snapshot_step(deps), copy.deepcopy(doc), []
    for _ in range(rounds):
        doc["snapshot"] = step(doc)
        results.append(doc["snapshot"])
        if doc["snapshot"]["available"]:
            return results
    raise AssertionError(f"not available after {rounds} rounds: {results}")


def test_a_drop_column_is_snapshotted_once_and_polled_until_available() -> None:
    # GIVEN a release whose pending contract migration drops customers.note, and RDS
    # taking two reads to finish the snapshot
    snapshots = FakeSnapshots(["creating", "creating", "available"])
    store, clock = InMemoryStore(), FakeClock()
    deps = deps_with(snapshots, store=store, clock=clock)
    # WHEN the Snapshot state loops until the snapshot is available
    results = play(single_document(DROP), deps)
    # THEN one snapshot of the cluster was created, named after the execution and tagged
    # with it and the table the migration drops from; the later rounds only read it
    assert snapshots.created == {SNAPSHOT: (CLUSTER, {EXECUTION_TAG: EXECUTION_NAME,
                                                       TABLES_TAG: "customers"})}
    assert [r["status"] for r in results] == ["creating", "creating", "available"]
    assert snapshots.reads == 2
    # AND the result Migrate waits for names it, available
    assert results[-1] == {"snapshot_id": SNAPSHOT, "cluster": CLUSTER,
                           "status": "available", "tables": ["customers"],
                           "created_at": results[0]["created_at"], "available": True}
    # AND the deployment record names the snapshot, with one succeeded step outcome
    record = store.get_record("StackFlowAPI", EXECUTION)
    assert record is not None
    assert record["snapshot"] == {"snapshot_id": SNAPSHOT, "cluster": CLUSTER,
                                  "status": "available", "tables": ["customers"],
                                  "created_at": results[0]["created_at"]}
    assert [(s["name"], s["outcome"]) for s in record["steps"]] == [("snapshot", "succeeded")]


def test_the_record_shows_the_snapshot_while_rds_is_still_taking_it() -> None:
    # GIVEN the first round of a snapshot RDS has only begun
    store = InMemoryStore()
    step = snapshot_step(deps_with(FakeSnapshots(["creating"]), store=store))
    # WHEN it returns
    result = step(single_document(DROP))
    # THEN SnapshotReady sends the execution to SnapshotWait, and the record already
    # names the snapshot (an operator sees it during the wait), with no outcome yet
    assert (result["status"], result["available"]) == ("creating", False)
    record = store.get_record("StackFlowAPI", EXECUTION)
    assert record is not None
    assert record["snapshot"]["snapshot_id"] == SNAPSHOT
    assert "steps" not in record


def test_a_failed_snapshot_stops_the_release_before_any_migration() -> None:
    # GIVEN RDS reporting the snapshot failed after it was created
    store = InMemoryStore()
    deps = deps_with(FakeSnapshots(["creating", "failed"]), store=store)
    # WHEN the second round reads it
    with pytest.raises(SnapshotFailed, match=rf"snapshot {SNAPSHOT} of cluster {CLUSTER} "
                                             r"is failed, not available; no migration ran"):
        play(single_document(DROP), deps)
    # THEN the record keeps the failed snapshot and a failed step naming the error
    record = store.get_record("StackFlowAPI", EXECUTION)
    assert record is not None
    assert record["snapshot"]["status"] == "failed"
    (step,) = record["steps"]
    assert (step["name"], step["outcome"]) == ("snapshot", "failed")
    assert step["detail"]["errorType"] == "SnapshotFailed"


def test_a_release_takes_one_snapshot_and_every_function_records_it() -> None:
    # GIVEN a two-function release with a drop and a rename pending
    snapshots, store = FakeSnapshots(), InMemoryStore()
    # WHEN the release's Snapshot state loops on the release document
    results = play(release_document(DROP, RENAME), deps_with(snapshots, store=store))
    # THEN one snapshot covers the release, tagged with every table, each once
    (tags,) = [tags for _, tags in snapshots.created.values()]
    assert tags[TABLES_TAG] == "app.orders customers"
    assert results[-1]["tables"] == ["app.orders", "customers"]
    # AND the release record names it, once, for the whole release
    release = store.get_release(EXECUTION)
    assert release is not None
    assert release["snapshot"]["snapshot_id"] == SNAPSHOT
    assert release["snapshot"]["status"] == "available"
    # AND each function's record names it
    for function in ("StackFlowAPI", "StackFlowOrdersWorker"):
        record = store.get_record(function, EXECUTION)
        assert record is not None, function
        assert record["snapshot"]["snapshot_id"] == SNAPSHOT
        assert [s["name"] for s in record["steps"]] == ["snapshot"]


def test_without_the_cluster_setting_the_step_names_the_variable() -> None:
    # GIVEN a snapshot function deployed without DB_CLUSTER_ID
    step = snapshot_step(deps_with(FakeSnapshots(), cluster=None))
    # WHEN it runs THEN the error names the variable
    with pytest.raises(ConfigurationError, match="DB_CLUSTER_ID"):
        step(single_document(DROP))


def test_snapshot_needs_schema_befores_result() -> None:
    # GIVEN a document wired without SchemaBefore / WHEN Snapshot runs
    doc = single_document(DROP)
    del doc["schema_before"]
    # THEN InvalidRequest names the missing key
    with pytest.raises(InvalidRequest) as info:
        snapshot_step(deps_with(FakeSnapshots()))(doc)
    assert info.value.field == "schema_before"


def test_the_tables_tag_keeps_whole_names_within_rds_limits() -> None:
    # GIVEN more tables than fit a tag value, and one name a tag cannot hold
    many = [f"table_{i:03d}" for i in range(40)]
    # WHEN the tag is built
    value = tables_tag([*many, 'odd"name'])
    # THEN it holds whole names only, separated by spaces, within 256 characters
    assert len(value) <= MAX_TAG_VALUE
    assert value.split() == many[:len(value.split())]
    assert 'odd"name' not in value


def test_history_shows_the_snapshot_under_its_deployment() -> None:
    # GIVEN a finished deployment whose record names its snapshot
    record = {"execution_id": EXECUTION, "status": "SUCCEEDED",
              "started_at": "2025-06-01T12:00:00Z", "finished_at": "2025-06-01T12:06:00Z",
              "previous_version": "6", "new_version": "7",
              "snapshot": {"snapshot_id": SNAPSHOT, "cluster": CLUSTER, "status": "available",
                           "tables": ["app.orders", "customers"],
                           "created_at": "2025-06-01T12:00:12Z"}}
    # WHEN history prints it
    lines = history_lines([record])
    # THEN the line below its row names the snapshot, its cluster, status and tables
    assert lines[2] == (f"  snapshot {SNAPSHOT} of cluster {CLUSTER} (available): "
                        "tables app.orders, customers")


# --- the exact RDS calls (botocore Stubber over the real adapter) -------------------
def test_the_rounds_make_exactly_these_rds_calls() -> None:
    # GIVEN the real RDS adapter over a stubbed client: a create answered "creating",
    # then two describes ("creating", "available")
    client = boto3.client("rds", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    deps = deps_with(ClusterSnapshots(client))

    def answer(status: str) -> dict[str, Any]:
        return {"DBClusterSnapshotIdentifier": SNAPSHOT, "DBClusterIdentifier": CLUSTER,
                "Status": status}

    with Stubber(client) as stub:
        stub.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": answer(
            "creating")}, {"DBClusterSnapshotIdentifier": SNAPSHOT,
                           "DBClusterIdentifier": CLUSTER,
                           "Tags": [{"Key": EXECUTION_TAG, "Value": EXECUTION_NAME},
                                    {"Key": TABLES_TAG, "Value": "app.orders customers"}]})
        for status in ("creating", "available"):
            stub.add_response("describe_db_cluster_snapshots",
                              {"DBClusterSnapshots": [answer(status)]},
                              {"DBClusterSnapshotIdentifier": SNAPSHOT})
        # WHEN the Snapshot state loops until the snapshot is available
        results = play(single_document(DROP, RENAME), deps)
        # THEN those three calls were made, with exactly those parameters, and no other
        stub.assert_no_pending_responses()
    assert [r["status"] for r in results] == ["creating", "creating", "available"]
