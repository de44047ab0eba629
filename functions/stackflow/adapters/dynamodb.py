"""Amazon DynamoDB: the deploy table (``DEPLOY_TABLE``), the one owner of its items.

Every item of the table is keyed and laid out here and nowhere else
(docs/architecture.md, "DynamoDB table" and "Drift state"):

===============  ===========================  ================  ===========================
item             pk                           sk                attributes
===============  ===========================  ================  ===========================
lock             ``LOCK#<function>#<alias>``  ``LOCK``          holder, expires_at, ttl, ...
record           ``DEPLOY#<function>``        ``EXEC#<id>``     function, alias, steps,
                                                                interventions, ...
release record   ``RELEASE#<name>``           ``EXEC#<id>``     status, functions, error,
                                                                interventions, ...
approval token   ``APPROVAL#<execution id>``  ``TOKEN``         task_token, requested_at...
drift state      ``DRIFT#STATE``              ``STATE``         data (JSON), updated_at
schema baseline  ``DRIFT#SCHEMA``             ``BASELINE``      data (JSON), updated_at
infra deploy     ``INFRA#<stack>``            ``DEPLOY#...``    outcome, status, backups, ...
===============  ===========================  ================  ===========================

(an infra deploy's sort key is ``DEPLOY#<started_at>#<change set name>``; a release
record's ``<name>`` is the execution's name, the last segment of its id, the ARN)

:class:`DynamoDeployStore` implements ``stackflow.deploy.ports.DeployStore`` and reads
approval tokens back for ``stackflow approve``; :class:`DriftStateTable` implements
``stackflow.drift.ports.StateStore``; :class:`InfraDeployRecords` keeps the outcomes
of ``stackflow infra deploy`` (the tooling writes them; no function does). The drift
check's two items and the infra outcomes are here, not in modules of their own, because
they live in the same table: a second module that builds keys of this table would be a
second truth about its key schema. They are separate classes only because each user
reaches the table through its own port.

Numbers go in as ``Decimal`` and come back as ``int``/``float``, so callers see plain
JSON values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client, error_code
from stackflow.deploy.ports import ApprovalToken, LockState
from stackflow.errors import DriftCheckFailed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stackflow.drift.schema import SchemaBaseline
    from stackflow.drift.state import DriftState

CONDITION_FAILED = "ConditionalCheckFailedException"
# Approval tokens outlive any approval window Step Functions allows for a task (1 year).
APPROVAL_TTL_SECONDS = 366 * 24 * 3600


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


# --- the key schema ------------------------------------------------------------------
def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def lock_key(function_name: str, alias: str) -> dict[str, Any]:
    return _key(f"LOCK#{function_name}#{alias}", "LOCK")


def records_partition(function_name: str) -> str:
    """The partition holding every deployment record of ``function_name``."""
    return f"DEPLOY#{function_name}"


def record_key(function_name: str, execution_id: str) -> dict[str, Any]:
    return _key(records_partition(function_name), f"EXEC#{execution_id}")


def releases_partition(execution_name: str) -> str:
    """The partition holding the release record of every execution named so.

    By name, not by ARN: an operator names a release by its execution name, and a
    partition per name finds it with one Query instead of a scan.
    """
    return f"RELEASE#{execution_name}"


def release_key(execution_id: str) -> dict[str, Any]:
    # Execution names cannot contain ":", so the ARN's last segment is the whole name.
    return _key(releases_partition(execution_id.rsplit(":", 1)[-1]), f"EXEC#{execution_id}")


def approval_key(execution_id: str) -> dict[str, Any]:
    return _key(f"APPROVAL#{execution_id}", "TOKEN")


def drift_state_key() -> dict[str, Any]:
    return _key("DRIFT#STATE", "STATE")


def schema_baseline_key() -> dict[str, Any]:
    return _key("DRIFT#SCHEMA", "BASELINE")


def infra_partition(stack: str) -> str:
    """The partition holding every ``stackflow infra deploy`` outcome of ``stack``."""
    return f"INFRA#{stack}"


def infra_deploy_key(stack: str, started_at: str, change_set: str) -> dict[str, Any]:
    # started_at (UTC, ISO 8601) first in the sort key: the newest deploy sorts last.
    return _key(infra_partition(stack), f"DEPLOY#{started_at}#{change_set}")


class _DeployTable:
    """One (injected or lazy) DynamoDB client on the deploy table, and its plumbing."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = default_client("dynamodb")
        return self._client

    def _get(self, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            raw = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        except _aws_errors() as e:
            raise aws_error(e, what) from e
        return deserialize(raw["Item"]) if "Item" in raw else None

    def _put(self, key: dict[str, Any], fields: Mapping[str, Any], what: str,
             **condition: Any) -> None:
        """PutItem; a false ``ConditionExpression`` raises ``_ConditionFailed``."""
        try:
            self.client.put_item(TableName=self.table, Item={**key, **serialize(fields)},
                                 **condition)
        except _aws_errors() as e:
            if error_code(e) == CONDITION_FAILED:
                raise _ConditionFailed from e
            raise aws_error(e, what) from e

    def _update(self, key: dict[str, Any], expression: str, names: dict[str, str] | None,
                values: dict[str, Any], condition: str | None, what: str) -> None:
        extra: dict[str, Any] = {}
        if names:
            extra["ExpressionAttributeNames"] = names
        if condition:
            extra["ConditionExpression"] = condition
        try:
            self.client.update_item(TableName=self.table, Key=key, UpdateExpression=expression,
                                    ExpressionAttributeValues=values, **extra)
        except _aws_errors() as e:
            if error_code(e) == CONDITION_FAILED:
                raise _ConditionFailed from e
            raise aws_error(e, what) from e


class _ConditionFailed(Exception):
    """A conditional write found its condition false (handled inside this module)."""


class DynamoDeployStore(_DeployTable):
    """Locks, deployment records, release records and approval tokens."""

    # --- lock ------------------------------------------------------------------------
    def acquire_lock(self, function_name: str, alias: str, lock: LockState,
                     *, now_epoch: int) -> LockState | None:
        try:
            # Free, ours (a retried Lock), or expired: DynamoDB deletes expired items
            # lazily, so the condition checks the TTL itself.
            self._put(lock_key(function_name, alias), _lock_fields(lock),
                      f"locking {function_name}:{alias}",
                      ConditionExpression="attribute_not_exists(pk) OR holder = :me "
                                          "OR #ttl < :now",
                      ExpressionAttributeNames={"#ttl": "ttl"},
                      ExpressionAttributeValues={":me": {"S": lock.holder},
                                                 ":now": {"N": str(now_epoch)}})
        except _ConditionFailed:
            return self.get_lock(function_name, alias) or LockState("unknown", "unknown", 0)
        return None

    def take_over_lock(self, function_name: str, alias: str, lock: LockState,
                       *, from_holder: str) -> bool:
        try:
            self._put(lock_key(function_name, alias), _lock_fields(lock),
                      f"taking over the lock of {function_name}:{alias}",
                      ConditionExpression="holder = :old",
                      ExpressionAttributeValues={":old": {"S": from_holder}})
        except _ConditionFailed:
            return False
        return True

    def get_lock(self, function_name: str, alias: str) -> LockState | None:
        raw = self._get(lock_key(function_name, alias), f"reading the lock of "
                                                        f"{function_name}:{alias}")
        if raw is None:
            return None
        return LockState(holder=str(raw.get("holder", "")),
                         expires_at=str(raw.get("expires_at", "")),
                         ttl=int(raw.get("ttl", 0)),
                         previous_version=raw.get("previous_version"),
                         started_at=raw.get("started_at"),
                         revision_id=raw.get("revision_id"))

    def release_lock(self, function_name: str, alias: str, holder: str) -> bool:
        try:
            self.client.delete_item(TableName=self.table, Key=lock_key(function_name, alias),
                                    ConditionExpression="holder = :me",
                                    ExpressionAttributeValues={":me": {"S": holder}})
        except _aws_errors() as e:
            if error_code(e) == CONDITION_FAILED:
                return False
            raise aws_error(e, f"unlocking {function_name}:{alias}") from e
        return True

    # --- deployment records ----------------------------------------------------------
    def update_record(self, function_name: str, execution_id: str,
                      fields: Mapping[str, Any]) -> None:
        self._set(record_key(function_name, execution_id), fields,
                  f"recording deployment {execution_id}")

    def append_step(self, function_name: str, execution_id: str, step: Mapping[str, Any],
                    *, key: str | None) -> bool:
        expression = "SET steps = list_append(if_not_exists(steps, :empty), :step)"
        values: dict[str, Any] = {":empty": [], ":step": [dict(step)]}
        condition = None
        if key is not None:
            # The key set makes a retried step's append a no-op instead of a duplicate.
            expression += " ADD step_keys :keys"
            values.update({":keys": {key}, ":key": key})
            condition = "attribute_not_exists(step_keys) OR NOT contains(step_keys, :key)"
        try:
            self._update(record_key(function_name, execution_id), expression, None,
                         serialize(values), condition, f"recording step {step.get('name')}")
        except _ConditionFailed:
            return False
        return True

    def append_intervention(self, function_name: str, execution_id: str,
                            entry: Mapping[str, Any]) -> bool:
        return self._append_intervention(record_key(function_name, execution_id), entry,
                                         f"deployment {execution_id}")

    def get_record(self, function_name: str, execution_id: str) -> dict[str, Any] | None:
        raw = self._get(record_key(function_name, execution_id),
                        f"reading deployment {execution_id}")
        return _public(raw) if raw is not None else None

    def list_records(self, function_name: str) -> list[dict[str, Any]]:
        """Every deployment record of ``function_name`` (unsorted)."""
        records: list[dict[str, Any]] = []
        try:
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": records_partition(function_name)}})
            for page in pages:
                records.extend(_public(deserialize(item)) for item in page.get("Items", []))
        except _aws_errors() as e:
            raise aws_error(e, f"listing the deployments of {function_name}") from e
        return records

    # --- release records (one per multi-function execution) -------------------------
    def update_release(self, execution_id: str, fields: Mapping[str, Any]) -> None:
        self._set(release_key(execution_id), fields, f"recording release {execution_id}")

    def get_release(self, execution_id: str) -> dict[str, Any] | None:
        raw = self._get(release_key(execution_id), f"reading release {execution_id}")
        return _public(raw) if raw is not None else None

    def releases_named(self, execution_name: str) -> list[dict[str, Any]]:
        """The release record of every execution named ``execution_name`` (unsorted)."""
        try:
            pages = self.client.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": releases_partition(execution_name)}})
            return [_public(deserialize(item)) for page in pages
                    for item in page.get("Items", [])]
        except _aws_errors() as e:
            raise aws_error(e, f"finding release {execution_name}") from e

    def append_release_intervention(self, execution_id: str,
                                    entry: Mapping[str, Any]) -> bool:
        return self._append_intervention(release_key(execution_id), entry,
                                         f"release {execution_id}")

    def _set(self, key: dict[str, Any], fields: Mapping[str, Any], what: str) -> None:
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self._update(key, f"SET {sets}", names, serialize(values), None, what)

    def _append_intervention(self, key: dict[str, Any], entry: Mapping[str, Any],
                             what: str) -> bool:
        try:
            # Only on an existing item: a lock of something that kept none gets none.
            self._update(key, "SET interventions = list_append(if_not_exists(interventions, "
                              ":empty), :entry)", None,
                         serialize({":empty": [], ":entry": [dict(entry)]}),
                         "attribute_exists(pk)", f"recording {entry.get('action')} on {what}")
        except _ConditionFailed:
            return False
        return True

    # --- approval tokens -------------------------------------------------------------
    def put_approval(self, approval: ApprovalToken) -> None:
        fields = {"task_token": approval.task_token, "requested_at": approval.requested_at,
                  "execution_id": approval.execution_id, "function": approval.function,
                  "alias": approval.alias, "version": approval.version,
                  "ttl": _epoch_after(APPROVAL_TTL_SECONDS)}
        self._put(approval_key(approval.execution_id), fields,
                  f"storing the approval token of {approval.execution_id}")

    def get_approval(self, execution_id: str) -> ApprovalToken | None:
        """The token an execution waits on; None when none is stored."""
        raw = self._get(approval_key(execution_id),
                        f"reading the approval token of {execution_id}")
        if raw is None or not raw.get("task_token"):
            return None
        return ApprovalToken(execution_id=execution_id, task_token=str(raw["task_token"]),
                             requested_at=str(raw.get("requested_at", "")),
                             function=str(raw.get("function", "")),
                             alias=str(raw.get("alias", "")), version=raw.get("version"))


class DriftStateTable(_DeployTable):
    """The drift check's memory between runs: the drift state and the schema baseline.

    Each item keeps its data as one JSON string attribute, so the layout can grow
    without a table migration.
    """

    def load_state(self) -> DriftState | None:
        from stackflow.drift.state import DriftState

        data = self._load(drift_state_key())
        if data is None:
            return None
        return DriftState(drift_keys=tuple(data.get("drift_keys", ())),
                          detections=dict(data.get("detections", {})),
                          carried_over=tuple(data.get("carried_over", ())),
                          updated_at=str(data.get("updated_at", "")),
                          notified_at=data.get("notified_at"))

    def save_state(self, state: DriftState) -> None:
        self._save(drift_state_key(), {"drift_keys": list(state.drift_keys),
                                       "fingerprint": state.fingerprint,
                                       "detections": dict(state.detections),
                                       "carried_over": list(state.carried_over),
                                       "updated_at": state.updated_at,
                                       "notified_at": state.notified_at}, state.updated_at)

    def load_baseline(self) -> SchemaBaseline | None:
        from stackflow.drift.schema import SchemaBaseline

        data = self._load(schema_baseline_key())
        if data is None:
            return None
        return SchemaBaseline(version=data.get("version"), fingerprint=str(data["fingerprint"]),
                              recorded_at=str(data.get("recorded_at", "")))

    def save_baseline(self, baseline: SchemaBaseline) -> None:
        self._save(schema_baseline_key(), {"version": baseline.version,
                                           "fingerprint": baseline.fingerprint,
                                           "recorded_at": baseline.recorded_at},
                   baseline.recorded_at)

    def _load(self, key: dict[str, Any]) -> dict[str, Any] | None:
        name = key["pk"]["S"]
        item = self._get(key, f"reading {name} from {self.table}")
        if item is None:
            return None
        try:
            data = json.loads(item["data"])
        except (KeyError, TypeError, ValueError) as e:
            raise DriftCheckFailed(f"unreadable {name} item in {self.table}",
                                   part="state") from e
        return data if isinstance(data, dict) else None

    def _save(self, key: dict[str, Any], data: dict[str, Any], updated_at: str) -> None:
        self._put(key, {"data": json.dumps(data, sort_keys=True), "updated_at": updated_at},
                  f"writing {key['pk']['S']} to {self.table}")


class InfraDeployRecords(_DeployTable):
    """Outcomes of ``stackflow infra deploy``: one item per executed change set."""

    def put_outcome(self, stack: str, started_at: str, change_set: str,
                    fields: Mapping[str, Any]) -> None:
        self._put(infra_deploy_key(stack, started_at, change_set),
                  {**fields, "stack": stack, "started_at": started_at,
                   "change_set": change_set},
                  f"recording the infrastructure deploy of {stack}")

    def latest(self, stack: str) -> dict[str, Any] | None:
        """The newest outcome recorded for ``stack``; None before its first deploy."""
        try:
            page = self.client.query(
                TableName=self.table, ScanIndexForward=False, Limit=1,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :deploy)",
                ExpressionAttributeValues={":pk": {"S": infra_partition(stack)},
                                           ":deploy": {"S": "DEPLOY#"}})
        except _aws_errors() as e:
            raise aws_error(e, f"reading the last infrastructure deploy of {stack}") from e
        items = page.get("Items", [])
        return _public(deserialize(items[0])) if items else None


def _lock_fields(lock: LockState) -> dict[str, Any]:
    fields: dict[str, Any] = {"holder": lock.holder, "expires_at": lock.expires_at,
                              "ttl": lock.ttl}
    if lock.previous_version is not None:
        fields["previous_version"] = lock.previous_version
    if lock.started_at is not None:
        fields["started_at"] = lock.started_at
    if lock.revision_id is not None:
        fields["revision_id"] = lock.revision_id
    return fields


def _public(item: dict[str, Any]) -> dict[str, Any]:
    # Keys and bookkeeping stay inside the adapter; callers see the record's fields.
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "step_keys")}


def _epoch_after(seconds: int) -> int:
    import time

    return int(time.time()) + seconds


def serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON values → DynamoDB attribute values (floats as Decimal)."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(_to_dynamo(v)) for k, v in values.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → plain JSON values (Decimal as int or float)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: _from_dynamo(deserializer.deserialize(v)) for k, v in item.items()}


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    return value
