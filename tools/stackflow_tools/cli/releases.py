"""Multi-function releases in ``history`` and ``rollback-alias --release``.

A release of several functions writes one deployment record per function (its steps,
its versions) and the same ``release`` summary on each: every function's alias,
previous and new version, status and rollback outcome. ``history`` shows the release
as the function's row with the release's functions below it; ``rollback-alias
--release EXECUTION`` puts every alias of that release back on its previous version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from stackflow.deploy.ports import DeployStore
from stackflow.errors import ResourceNotFound

Rollback = Callable[[str, str, str], dict[str, Any]]


def release_functions(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The functions of the record's release (empty for a single-function deployment)."""
    release = record.get("release")
    if not isinstance(release, Mapping):
        return []
    rows = release.get("functions")
    return [row for row in rows if isinstance(row, Mapping)] if isinstance(rows, list) else []


def release_lines(record: Mapping[str, Any]) -> list[str]:
    """``history``'s lines under a release's row: one per function."""
    rows = release_functions(record)
    if not rows:
        return []
    lines = [f"release of {len(rows)} functions:"]
    for row in rows:
        versions = f"{row.get('previous_version') or '-'} -> {row.get('new_version') or '-'}"
        outcome = f" (rollback {row['rollback']})" if row.get("rollback") else ""
        lines.append(f"  {row.get('function')}:{row.get('alias')}  {versions}  "
                     f"{row.get('status') or '-'}{outcome}")
    return lines


def find_release(records: Sequence[Mapping[str, Any]], execution: str) -> Mapping[str, Any]:
    """The record of ``execution`` (name or ARN) that carries a release summary."""
    for record in records:
        execution_id = str(record.get("execution_id", ""))
        if execution in (execution_id, execution_id.rsplit(":", 1)[-1]) and \
                release_functions(record):
            return record
    raise ResourceNotFound(f"no release {execution} is recorded for this function; name a "
                           "function of the release and its execution name or ARN",
                           execution=execution)


def roll_back_release(record: Mapping[str, Any], rollback: Rollback, store: DeployStore,
                      *, by: str, at: datetime) -> list[dict[str, Any]]:
    """Every alias of the release back on its previous version; one result each."""
    from stackflow.deploy.operator import note_rollback

    results: list[dict[str, Any]] = []
    for row in release_functions(record):
        function, alias = str(row["function"]), str(row["alias"])
        if not row.get("previous_version"):
            results.append({"function": function, "alias": alias, "skipped":
                            "no previous version recorded"})
            continue
        result = rollback(function, alias, str(row["previous_version"]))
        noted = note_rollback(store, function, alias, store.list_records(function), result,
                              by=by, at=at)
        results.append({**result, "recorded_on": noted})
    return results
