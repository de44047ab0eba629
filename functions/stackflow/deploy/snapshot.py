"""Snapshot: an Aurora cluster snapshot before migrations that destroy data.

The state machine runs this step after SchemaBefore when the pending migrations hold a
destructive statement (``$.schema_before.destructive``, the lint's classification) and
the stage takes snapshots (infra/config.py). Each round is create-or-read: the first
creates ``stackflow-<execution name>``, tagged with the execution and the tables the
destructive statements touch; the rounds after a Wait read it back, until RDS says
``available`` and Migrate may run. A snapshot RDS reports in any other state fails the
release with ``SnapshotFailed`` before any migration ran.

One step for both input forms: a release document (``$.input.functions``) takes one
snapshot for the whole release and records it on the release record and on every
function's record. Every round
writes the snapshot on the record(s) before it returns; the round that finds it
available also appends the step's outcome (a failure appends a failed one).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from stackflow import env
from stackflow.deploy import record
from stackflow.deploy.deps import Deps
from stackflow.deploy.document import (
    SnapshotResult,
    iso,
    read_execution_id,
    read_input,
    read_optional,
)
from stackflow.deploy.model import DeployInput
from stackflow.deploy.release import is_release, parse_release
from stackflow.errors import ConfigurationError, InvalidRequest, SnapshotFailed, StackFlowError
from stackflow.validation import as_object, opt_list

STEP = "snapshot"
EXECUTION_TAG = "stackflow:execution"
# Space-separated: RDS tag values allow letters, digits, white space and _ . : / = + - @
# only (no comma), and at most 256 characters.
TABLES_TAG = "stackflow:tables"
MAX_TAG_VALUE = 256
_TAG_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]")
_TABLE_NAME = re.compile(r"[\w.:/=+\-@]+")
# RDS's states of a snapshot still being made; any other but "available" is final.
IN_PROGRESS = frozenset({"creating", "copying"})


def take(doc: Mapping[str, Any], deps: Deps) -> SnapshotResult:
    """One round of the Snapshot state, recorded on every target's record (and, for a
    release, on the release record)."""
    targets = _targets(doc)
    execution_id = read_execution_id(doc)
    started = iso(deps.now())
    try:
        result = _round(doc, deps)
    except StackFlowError as e:
        _record_failure(targets, execution_id, started, e, deps)
        raise
    if is_release(doc.get("input")):
        deps.store.update_release(execution_id, {STEP: _record_fields(result)})
    _record(targets, execution_id, result, deps)
    return result


def pending_tables(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The tables SchemaBefore's destructive statements touch, each once, sorted."""
    if doc.get("schema_before") is None:
        raise InvalidRequest("schema_before", "is required (Snapshot follows SchemaBefore)")
    before = as_object(doc["schema_before"], "schema_before")
    tables: set[str] = set()
    for i, item in enumerate(opt_list(before, "destructive", "schema_before.")):
        where = f"schema_before.destructive[{i}]"
        names = opt_list(as_object(item, where), "tables", where + ".")
        if not all(isinstance(name, str) for name in names):
            raise InvalidRequest(where + ".tables", "must be an array of table names")
        tables.update(names)
    return tuple(sorted(tables))


def snapshot_tags(execution_name: str, tables: Sequence[str]) -> dict[str, str]:
    """The snapshot's tags: which execution took it and which tables it is for."""
    tags = {EXECUTION_TAG: _TAG_UNSAFE.sub("-", execution_name)[:MAX_TAG_VALUE]}
    listed = tables_tag(tables)
    if listed:
        tags[TABLES_TAG] = listed
    return tags


def tables_tag(tables: Sequence[str]) -> str:
    """As many whole table names as fit the tag (the record lists every one); a name
    with a character a tag cannot hold is left out rather than garbled."""
    kept: list[str] = []
    for name in tables:
        if _TABLE_NAME.fullmatch(name) and len(" ".join([*kept, name])) <= MAX_TAG_VALUE:
            kept.append(name)
    return " ".join(kept)


def _targets(doc: Mapping[str, Any]) -> tuple[DeployInput, ...]:
    if is_release(doc.get("input")):
        return parse_release(doc.get("input")).targets
    return (read_input(doc),)


def _round(doc: Mapping[str, Any], deps: Deps) -> SnapshotResult:
    cluster = deps.settings.db_cluster
    if not cluster:
        raise ConfigurationError(f"environment variable {env.DB_CLUSTER_ID} is required by "
                                 "the snapshot step but not set", variable=env.DB_CLUSTER_ID)
    previous = read_optional(doc, SnapshotResult)
    if previous is None:
        result = _create(doc, cluster, deps)
    else:
        # A later round (after SnapshotWait): the snapshot exists, read it back.
        state = deps.snapshots.describe(previous.snapshot_id)
        result = SnapshotResult(state.identifier, state.cluster or cluster, state.status,
                                previous.tables, previous.created_at)
    if not result.available and result.status not in IN_PROGRESS:
        raise SnapshotFailed(
            f"snapshot {result.snapshot_id} of cluster {result.cluster} is "
            f"{result.status or 'in no known state'}, not available; no migration ran",
            snapshot=_record_fields(result))
    return result


def _create(doc: Mapping[str, Any], cluster: str, deps: Deps) -> SnapshotResult:
    tables = pending_tables(doc)
    name = record.execution_name(doc) or ""
    identifier = deps.snapshots.identifier_for(name)
    state = deps.snapshots.create(cluster, identifier, snapshot_tags(name, tables))
    return SnapshotResult(state.identifier, state.cluster or cluster, state.status, tables,
                          iso(deps.now()))


def _record(targets: Sequence[DeployInput], execution_id: str, result: SnapshotResult,
            deps: Deps) -> None:
    for target in targets:
        deps.store.update_record(target.function_name, execution_id,
                                 {STEP: _record_fields(result)})
        if result.available:
            step = record.outcome(STEP, "succeeded", result.created_at, iso(deps.now()),
                                  result.to_dict())
            deps.store.append_step(target.function_name, execution_id, step, key=STEP)


def _record_failure(targets: Sequence[DeployInput], execution_id: str, started: str,
                    error: StackFlowError, deps: Deps) -> None:
    snapshot = error.details.get(STEP)
    step = record.outcome(STEP, "failed", started, iso(deps.now()), error.to_dict())
    for target in targets:
        # Best effort, each record on its own: the step's error is what the state
        # machine must see, not a second failure while writing it down.
        with contextlib.suppress(StackFlowError):
            if isinstance(snapshot, Mapping):
                deps.store.update_record(target.function_name, execution_id,
                                         {STEP: dict(snapshot)})
            deps.store.append_step(target.function_name, execution_id, step, key=None)


def _record_fields(result: SnapshotResult) -> dict[str, Any]:
    """What the deployment record keeps (``available`` is the status, said twice)."""
    return {key: value for key, value in result.to_dict().items() if key != "available"}
