"""Multi-function releases in ``history`` and ``rollback-alias --release``.

A release of several functions writes one deployment record per function (its steps,
its versions), each marked with ``release`` (the execution id), and one release record
(``stackflow.deploy.release_record``): the release's status and error, and every
function's alias, previous and new version, status, rollback outcome and steps.
``history`` shows the release as the function's row with the release's functions below
it, read from the release record; ``rollback-alias --release EXECUTION`` reads the
release record by execution name or ARN and puts every alias of that release back on
its previous version.

Records written before release records existed carry the summary itself in
``release``; they read the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from stackflow.deploy.document import iso
from stackflow.deploy.ports import DeployStore
from stackflow.errors import InvalidRequest, ResourceNotFound

Rollback = Callable[[str, str, str], dict[str, Any]]
Releases = Mapping[str, Mapping[str, Any]]


def release_pointer(record: Mapping[str, Any]) -> str | None:
    """The execution id of the release a deployment record is part of (None: single)."""
    pointer = record.get("release")
    return pointer if isinstance(pointer, str) and pointer else None


def releases_of(records: Iterable[Mapping[str, Any]], store: DeployStore) -> dict[str, Any]:
    """``{execution id: release record}`` for the records that are part of a release."""
    found: dict[str, Any] = {}
    for record in records:
        pointer = release_pointer(record)
        if pointer is not None and pointer not in found:
            found[pointer] = store.get_release(pointer)
    return {pointer: release for pointer, release in found.items() if release is not None}


def release_for(record: Mapping[str, Any], releases: Releases) -> Mapping[str, Any] | None:
    """The release ``record`` belongs to, from ``releases`` (or an older record's own)."""
    pointer = release_pointer(record)
    if pointer is not None:
        return releases.get(pointer)
    legacy = record.get("release")
    return legacy if isinstance(legacy, Mapping) else None


def release_functions(release: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The functions of a release record (empty for None)."""
    rows = (release or {}).get("functions")
    return [row for row in rows if isinstance(row, Mapping)] if isinstance(rows, list) else []


def release_lines(release: Mapping[str, Any] | None) -> list[str]:
    """``history``'s lines under a release's row: one per function, then interventions."""
    rows = release_functions(release)
    if release is None or not rows:
        return []
    status = f" ({release['status']})" if release.get("status") else ""
    lines = [f"release of {len(rows)} function{'' if len(rows) == 1 else 's'}{status}:"]
    for row in rows:
        versions = f"{row.get('previous_version') or '-'} -> {row.get('new_version') or '-'}"
        outcome = f" (rollback {row['rollback']})" if row.get("rollback") else ""
        lines.append(f"  {row.get('function')}:{row.get('alias')}  {versions}  "
                     f"{row.get('status') or '-'}{outcome}")
    for entry in release.get("interventions") or []:
        if isinstance(entry, Mapping):
            lines.append(f"{entry.get('action')} by {entry.get('by')} at {entry.get('at')}")
    return lines


def find_release(store: DeployStore, execution: str) -> Mapping[str, Any]:
    """The release record of ``execution``: an execution ARN, or its name."""
    if ":" in execution:  # an ARN: execution names cannot contain ":"
        found = store.get_release(execution)
        named = [found] if found is not None else []
    else:
        named = store.releases_named(execution)
    if len(named) > 1:
        raise InvalidRequest("--release", f"{len(named)} releases are named {execution}; "
                                          "pass the execution ARN")
    if not named:
        raise ResourceNotFound(f"no release {execution} is recorded (a multi-function "
                               "execution's name or ARN)", execution=execution)
    return named[0]


def check_function(release: Mapping[str, Any], function: str | None) -> None:
    """Refuse a FUNCTION argument that names no function of the release."""
    names = {str(row.get("function")) for row in release_functions(release)}
    if function is not None and function not in names:
        raise InvalidRequest("function", f"{function} is not a function of release "
                                         f"{release.get('execution_id')} "
                                         f"({', '.join(sorted(names))})")


def roll_back_release(release: Mapping[str, Any], rollback: Rollback, store: DeployStore,
                      *, by: str, at: datetime) -> list[dict[str, Any]]:
    """Every alias of the release back on its previous version; one result each.

    Each rollback is noted on the alias's deployment (as ``rollback-alias`` notes one),
    and all of them once on the release record.
    """
    from stackflow.deploy.operator import note_rollback

    results: list[dict[str, Any]] = []
    for row in release_functions(release):
        function, alias = str(row["function"]), str(row["alias"])
        if not row.get("previous_version"):
            results.append({"function": function, "alias": alias, "skipped":
                            "no previous version recorded"})
            continue
        result = rollback(function, alias, str(row["previous_version"]))
        noted = note_rollback(store, function, alias, store.list_records(function), result,
                              by=by, at=at)
        results.append({**result, "recorded_on": noted})
    note_release_rollback(store, release, results, by=by, at=at)
    return results


def note_release_rollback(store: DeployStore, release: Mapping[str, Any],
                          results: list[dict[str, Any]], *, by: str, at: datetime) -> bool:
    """Record ``rollback-alias --release`` on the release record (who, when, each alias)."""
    moved = [{"function": r["function"], "alias": r["alias"], "version": r["version"],
              "before": r["before"]} for r in results if "version" in r]
    return store.append_release_intervention(str(release["execution_id"]), {
        "action": "rollback-alias --release", "by": by, "at": iso(at), "functions": moved,
        "detail": f"{by} pointed {len(moved)} aliases back at their previous versions"})
