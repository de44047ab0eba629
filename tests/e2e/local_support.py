"""Reading final state back from a local environment (AWS and the database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
from stackflow_tools.local.runner import LocalMode, LocalOptions

from tests.support.postgres import fresh_database


@contextmanager
def module_session(cdk_out: Path, pg_admin_uri: str, workdir: Path, *,
                   check_interval_seconds: int | None = 150) -> Iterator[LocalMode]:
    """One local mode for a whole test module, on a fresh database of its own."""
    with fresh_database(pg_admin_uri) as database_url:
        options = LocalOptions(cdk_out=cdk_out, workdir=workdir, database_url=database_url,
                               time_scale=0.001,
                               check_interval_seconds=check_interval_seconds)
        with LocalMode(options) as mode:
            yield mode


def versions(mode: LocalMode) -> list[str]:
    lambda_ = mode.local_aws.client("lambda")
    listed = lambda_.list_versions_by_function(FunctionName=mode.function_name)["Versions"]
    return sorted(v["Version"] for v in listed if v["Version"] != "$LATEST")


def record(mode: LocalMode, execution_arn: str) -> dict[str, Any]:
    """The deployment record of one execution, as plain values."""
    ddb = mode.local_aws.client("dynamodb")
    item = ddb.get_item(TableName=mode.table_name(),
                        Key={"pk": {"S": f"DEPLOY#{mode.function_name}"},
                             "sk": {"S": f"EXEC#{execution_arn}"}}).get("Item")
    assert item is not None, f"no deployment record for {execution_arn}"
    from boto3.dynamodb.types import TypeDeserializer

    return {key: TypeDeserializer().deserialize(value) for key, value in item.items()}


def lock_held(mode: LocalMode) -> bool:
    ddb = mode.local_aws.client("dynamodb")
    item = ddb.get_item(TableName=mode.table_name(),
                        Key={"pk": {"S": f"LOCK#{mode.function_name}#{mode.alias}"},
                             "sk": {"S": "LOCK"}}).get("Item")
    return item is not None


def applied_migrations(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [int(row[0]) for row in rows.fetchall()]


def served_through_alias(mode: LocalMode, version: str) -> int:
    """How many requests through the alias the given version answered."""
    return sum(1 for call in mode.local_aws.invoker.history
               if call.function_name == mode.function_name and call.qualifier == mode.alias
               and call.executed_version == version)


def migration_rows(database_url: str) -> list[tuple[int, str]]:
    """``(version, applied_by)`` of every row of ``schema_migrations``."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT version, applied_by FROM schema_migrations ORDER BY version")
        return [(int(row[0]), str(row[1])) for row in rows.fetchall()]


def states_entered(mode: LocalMode, execution_arn: str) -> list[str]:
    return [str(event["stateEnteredEventDetails"]["name"]) for event in mode.history(execution_arn)
            if "stateEnteredEventDetails" in event]


@dataclass(frozen=True)
class AliasUpdate:
    """One ``UpdateAlias`` that reached (moto) Lambda."""

    function_name: str
    alias: str
    version: str | None  # None: the update changed the routing only
    weights: dict[str, float]


@contextmanager
def alias_updates() -> Iterator[list[AliasUpdate]]:
    """Every ``UpdateAlias`` Lambda receives meanwhile, whoever sends it.

    Recorded where moto applies it, so what the alias held at any moment of an
    execution can be told, not only where it ended.
    """
    from moto.awslambda.models import LambdaBackend

    seen: list[AliasUpdate] = []
    original = LambdaBackend.update_alias

    def spy(self: LambdaBackend, name: str, function_name: str,
            function_version: str | None, description: str, routing_config: Any) -> Any:
        weights = (routing_config or {}).get("AdditionalVersionWeights") or {}
        seen.append(AliasUpdate(function_name, name, function_version,
                                {str(k): float(v) for k, v in weights.items()}))
        return original(self, name, function_name, function_version,  # type: ignore[arg-type]
                        description, routing_config)

    with mock.patch.object(LambdaBackend, "update_alias", spy):
        yield seen
