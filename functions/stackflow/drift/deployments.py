"""Alias drift's inputs, read through the deploy steps' own ports.

``FunctionsPort.get_alias`` gives where an alias points; ``DeployStore`` gives the
deployment records and the live lock (docs/architecture.md, "DynamoDB table"). Reading
through those ports keeps one definition of the record layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stackflow.deploy.ports import DeployStore, FunctionsPort
from stackflow.drift.aliases import AliasHistory, DeployedAlias
from stackflow.drift.model import AliasState
from stackflow.errors import InvalidRequest, ResourceNotFound

SUCCEEDED = "SUCCEEDED"
# A release promoted with contract migrations pending serves its new version all the same.
SUCCEEDED_STATUSES = frozenset({SUCCEEDED, "SUCCEEDED_WITH_PENDING_CONTRACT"})


class FunctionsAliasReader:
    """Implements ``drift.ports.AliasReader``; a missing alias reads as None."""

    def __init__(self, functions: FunctionsPort) -> None:
        self.functions = functions

    def get_alias_state(self, function: str, alias: str) -> AliasState | None:
        try:
            info = self.functions.get_alias(function, alias)
        except ResourceNotFound:
            return None
        return AliasState(version=info.version, routing=dict(info.routing))


class StoreHistoryReader:
    """Implements ``drift.ports.HistoryReader`` over the deployment table."""

    def __init__(self, store: DeployStore, *, now_epoch: Callable[[], int]) -> None:
        self.store = store
        self.now_epoch = now_epoch

    def alias_history(self, function: str, alias: str) -> AliasHistory:
        records = [r for r in self.store.list_records(function) if r.get("alias") == alias]
        lock = self.store.get_lock(function, alias)
        live = lock is not None and int(lock.ttl) > self.now_epoch()
        return AliasHistory(last_succeeded=last_succeeded(records),
                            latest=latest(records),
                            active_execution=lock.holder if live and lock else None)


def last_succeeded(records: Sequence[Mapping[str, Any]]) -> DeployedAlias | None:
    done = [r for r in records
            if r.get("status") in SUCCEEDED_STATUSES and r.get("new_version")]
    if not done:
        return None
    newest = max(done, key=lambda r: (str(r.get("finished_at") or ""),
                                      str(r.get("started_at") or "")))
    return _deployed(newest)


def latest(records: Sequence[Mapping[str, Any]]) -> DeployedAlias | None:
    if not records:
        return None
    return _deployed(max(records, key=lambda r: str(r.get("started_at") or "")))


def _deployed(record: Mapping[str, Any]) -> DeployedAlias:
    return DeployedAlias(version=_version(record.get("new_version")),
                         execution_id=execution_id(record),
                         status=str(record.get("status") or "UNKNOWN"))


def _version(value: Any) -> str:
    # DynamoDB numbers come back as Decimal; Lambda versions are plain integers.
    return str(int(value)) if not isinstance(value, str) and value is not None else str(value)


def execution_id(record: Mapping[str, Any]) -> str:
    value = record.get("execution_id") or str(record.get("sk", "")).removeprefix("EXEC#")
    return str(value)


def parse_alias_list(values: Sequence[str], field: str) -> tuple[tuple[str, str], ...]:
    """``Function:Alias`` entries (DRIFT_MANAGED_ALIASES, ``--aliases``) as pairs."""
    pairs = []
    for value in values:
        function, sep, alias = value.partition(":")
        if not sep or not function or not alias or ":" in alias:
            raise InvalidRequest(field, f"expected FUNCTION:ALIAS entries, got {value!r}")
        pairs.append((function, alias))
    return tuple(pairs)
