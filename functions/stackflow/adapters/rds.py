"""RDS: the Aurora cluster snapshot taken before a release's destructive migrations.

Two calls, nothing else: ``CreateDBClusterSnapshot`` (idempotent for a retried state:
a snapshot of that name already there is read back instead) and
``DescribeDBClusterSnapshots`` for the Wait loop that polls it until ``available``.
The client is typed ``Any``: the mypy-boto3 RDS stubs are not among the locked dev
dependencies yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackflow.adapters import aws_error, default_client, error_code
from stackflow.errors import ResourceNotFound

ALREADY_EXISTS = "DBClusterSnapshotAlreadyExistsFault"
NOT_FOUND = ("DBClusterSnapshotNotFoundFault", "DBClusterNotFoundFault")
MAX_IDENTIFIER = 255


@dataclass(frozen=True)
class ClusterSnapshot:
    identifier: str
    cluster: str
    status: str  # "creating", "available", ... as RDS says

    @property
    def available(self) -> bool:
        return self.status == "available"

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot_id": self.identifier, "cluster": self.cluster,
                "status": self.status}


def snapshot_identifier(execution_name: str) -> str:
    """``stackflow-<execution name>`` as RDS allows it: letters, digits and single
    hyphens, starting with a letter, not ending with a hyphen; in lower case, as RDS
    stores (and lists) it, so the record names it exactly as the console shows it."""
    text = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", f"stackflow-{execution_name}"))
    return text[:MAX_IDENTIFIER].rstrip("-").lower()


class ClusterSnapshots:
    """Create and read Aurora cluster snapshots; ``client=None`` builds one lazily."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client("rds")
        return self._client

    def identifier_for(self, execution_name: str) -> str:
        return snapshot_identifier(execution_name)

    def create(self, cluster: str, identifier: str,
               tags: Mapping[str, str]) -> ClusterSnapshot:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            raw = self.client.create_db_cluster_snapshot(
                DBClusterSnapshotIdentifier=identifier, DBClusterIdentifier=cluster,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])
        except (ClientError, BotoCoreError) as e:
            if error_code(e) == ALREADY_EXISTS:
                return self.describe(identifier)
            raise _translate(e, f"creating snapshot {identifier} of {cluster}") from e
        return _snapshot(raw["DBClusterSnapshot"])

    def describe(self, identifier: str) -> ClusterSnapshot:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            raw = self.client.describe_db_cluster_snapshots(
                DBClusterSnapshotIdentifier=identifier)
        except (ClientError, BotoCoreError) as e:
            raise _translate(e, f"reading snapshot {identifier}") from e
        found = raw.get("DBClusterSnapshots") or []
        if not found:
            raise ResourceNotFound(f"reading snapshot {identifier}: no such snapshot")
        return _snapshot(found[0])


def _snapshot(raw: dict[str, Any]) -> ClusterSnapshot:
    return ClusterSnapshot(str(raw["DBClusterSnapshotIdentifier"]),
                           str(raw.get("DBClusterIdentifier", "")), str(raw.get("Status", "")))


def _translate(e: Exception, what: str) -> Exception:
    if error_code(e) in NOT_FOUND:
        return ResourceNotFound(f"{what}: {error_code(e)}", code=error_code(e))
    return aws_error(e, what)
