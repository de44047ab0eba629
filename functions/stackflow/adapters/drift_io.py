"""The drift check's own AWS reads and writes that no other adapter offers.

``DriftStateTable``: the check's memory between runs, in the deployment table
(``DEPLOY_TABLE``); two items (docs/architecture.md, "Drift state"). ``DRIFT#STATE`` /
``STATE`` holds the last drift set, in-flight detection ids and carried-over stacks;
``DRIFT#SCHEMA`` / ``BASELINE`` the live-schema fingerprint recorded after the last
migration. Each keeps its data as one JSON string attribute, so the layout can grow
without a table migration.

``S3TimestampedSource``: the patcher's S3 migration source plus each object's
``LastModified``, which schema drift uses as a pending migration's age.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.drift.schema import SchemaBaseline
from stackflow.drift.state import DriftState
from stackflow.errors import DriftCheckFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from stackflow.adapters.s3 import S3MigrationSource

STATE_KEY = {"pk": {"S": "DRIFT#STATE"}, "sk": {"S": "STATE"}}
BASELINE_KEY = {"pk": {"S": "DRIFT#SCHEMA"}, "sk": {"S": "BASELINE"}}


class DriftStateTable:
    """Implements ``drift.ports.StateStore`` on one DynamoDB table."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = default_client("dynamodb")
        return self._client

    def load_state(self) -> DriftState | None:
        data = self._get(STATE_KEY)
        if data is None:
            return None
        return DriftState(drift_keys=tuple(data.get("drift_keys", ())),
                          detections=dict(data.get("detections", {})),
                          carried_over=tuple(data.get("carried_over", ())),
                          updated_at=str(data.get("updated_at", "")),
                          notified_at=data.get("notified_at"))

    def save_state(self, state: DriftState) -> None:
        self._put(STATE_KEY, {"drift_keys": list(state.drift_keys),
                              "fingerprint": state.fingerprint,
                              "detections": dict(state.detections),
                              "carried_over": list(state.carried_over),
                              "updated_at": state.updated_at,
                              "notified_at": state.notified_at}, state.updated_at)

    def load_baseline(self) -> SchemaBaseline | None:
        data = self._get(BASELINE_KEY)
        if data is None:
            return None
        return SchemaBaseline(version=data.get("version"), fingerprint=str(data["fingerprint"]),
                              recorded_at=str(data.get("recorded_at", "")))

    def save_baseline(self, baseline: SchemaBaseline) -> None:
        self._put(BASELINE_KEY, {"version": baseline.version,
                                 "fingerprint": baseline.fingerprint,
                                 "recorded_at": baseline.recorded_at}, baseline.recorded_at)

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            item = self.client.get_item(TableName=self.table_name, Key=key,
                                        ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as e:
            raise aws_error(e, f"GetItem {key['pk']['S']} from {self.table_name}") from e
        if item is None:
            return None
        try:
            data = json.loads(item["data"]["S"])
        except (KeyError, ValueError) as e:
            raise DriftCheckFailed(f"unreadable {key['pk']['S']} item in {self.table_name}",
                                   part="state") from e
        return data if isinstance(data, dict) else None

    def _put(self, key: dict[str, Any], data: dict[str, Any], updated_at: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        item = {**key, "data": {"S": json.dumps(data, sort_keys=True)},
                "updated_at": {"S": updated_at}}
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except (ClientError, BotoCoreError) as e:
            raise aws_error(e, f"PutItem {key['pk']['S']} to {self.table_name}") from e


class S3TimestampedSource:
    """An ``S3MigrationSource`` that also reports ``LastModified`` per file name
    (implements ``drift.inspect.TimestampedSource``)."""

    def __init__(self, source: S3MigrationSource, client: S3Client | None = None) -> None:
        self.source = source
        self._client = client

    def describe(self) -> str:
        return self.source.describe()

    def list_files(self) -> list[str]:
        return self.source.list_files()

    def read_files(self, names: Sequence[str]) -> dict[str, str]:
        return self.source.read_files(names)

    def modified_times(self) -> Mapping[str, datetime]:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client or default_client("s3")
        bucket, prefix = self.source.bucket, self.source.prefix
        times: dict[str, datetime] = {}
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    times[obj["Key"][len(prefix):]] = obj["LastModified"]
        except (ClientError, BotoCoreError) as e:
            raise aws_error(e, f"listing s3://{bucket}/{prefix}") from e
        return times
