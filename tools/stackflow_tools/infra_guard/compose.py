"""Wire the guard's use cases to boto3 (clients built lazily, on first use)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from stackflow.adapters.cloudformation import CloudFormationDrift
from stackflow.adapters.dynamodb import InfraDeployRecords

from stackflow_tools.infra_guard.backups import Backups
from stackflow_tools.infra_guard.changesets import ChangeSets
from stackflow_tools.infra_guard.publish import AssetPublisher, caller
from stackflow_tools.infra_guard.schemas import DEFAULT_REGION, lookup
from stackflow_tools.infra_guard.service import GuardDeps

DRIFT_TIMEOUT_SECONDS = 600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_deps(*, out: Callable[[str], None], confirm: Callable[[str], bool],
               schema_region: str = DEFAULT_REGION) -> GuardDeps:
    """The real adapters; nothing talks to AWS until a use case calls it."""
    change_sets = ChangeSets()
    return GuardDeps(
        change_sets=change_sets, publisher=AssetPublisher(),
        backups=Backups(clock=utc_now), records=InfraDeployRecords, caller=caller,
        schemas=lookup(schema_region), clock=utc_now, out=out, confirm=confirm,
        drift=lambda stacks: detect_drift(change_sets, stacks))


def detect_drift(change_sets: ChangeSets, stacks: Sequence[str]) -> Mapping[str, str]:
    """Stack -> drift, from a new detection run by the drift check's own adapter."""
    deadline = time.monotonic() + DRIFT_TIMEOUT_SECONDS
    check = CloudFormationDrift(change_sets.client).check_stacks(
        stacks, known_detections={}, time_left=lambda: deadline - time.monotonic())
    found = {r.stack: f"{r.status} ({len(r.drifted_resources)} resource(s) drifted)"
             if r.drifted_resources else r.status for r in check.results}
    found |= {c.stack: f"not checked: {c.reason}" for c in check.carried_over}
    return found
