"""Building ``DriftDeps`` from settings: the edge where adapters are chosen.

A part whose settings are absent is simply not checked (no stacks configured: no stack
drift; no ``DEPLOY_TABLE``: no alias drift and no memory; no database or migration
source: no schema drift). Adapters are imported here, inside the functions, so the
handler's import stays cheap and boto3 / psycopg load only when a part needs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stackflow import env
from stackflow.drift.deployments import FunctionsAliasReader, StoreHistoryReader
from stackflow.drift.inspect import PatcherSchemaInspector
from stackflow.drift.pg_dump import dump_schema, find_pg_dump
from stackflow.drift.ports import Notifier, SchemaInspector
from stackflow.drift.service import DriftConfig, DriftDeps
from stackflow.drift.settings import DriftSettings
from stackflow.errors import ConfigurationError
from stackflow.migrations.compose import build_connect, build_source
from stackflow.migrations.settings import PatcherSettings


def build_config(settings: DriftSettings, *, read_only: bool = False) -> DriftConfig:
    return DriftConfig(stacks=settings.stacks, aliases=settings.aliases,
                       pending_max_age=settings.pending_max_age,
                       persist=not read_only, notify=not read_only)


def build_deps(settings: DriftSettings, patcher: PatcherSettings | None, *,
               sleep: Callable[[float], None] = time.sleep,
               now_epoch: Callable[[], int] = lambda: int(time.time())) -> DriftDeps:
    """Adapters for every configured part; nothing is connected yet."""
    from stackflow.adapters.cloudformation import CloudFormationDrift

    deps = DriftDeps(
        stacks=CloudFormationDrift(sleep=sleep, max_workers=settings.concurrency)
        if settings.stacks else None,
        schema=build_schema(settings, patcher),
        notifier=_topic(settings.topic_arn),
    )
    _refuse_nothing_to_check(settings, deps)
    if settings.table is None:
        return deps
    from stackflow.adapters.dynamodb import DriftStateTable, DynamoDeployStore
    from stackflow.adapters.lambda_ import LambdaFunctions

    return DriftDeps(
        stacks=deps.stacks, schema=deps.schema, notifier=deps.notifier,
        aliases=FunctionsAliasReader(LambdaFunctions()),
        history=StoreHistoryReader(DynamoDeployStore(settings.table), now_epoch=now_epoch),
        state=DriftStateTable(settings.table),
    )


def _refuse_nothing_to_check(settings: DriftSettings, deps: DriftDeps) -> None:
    if settings.aliases and settings.table is None:
        raise ConfigurationError(f"{env.DRIFT_MANAGED_ALIASES} needs {env.DEPLOY_TABLE} "
                                 "(the deployment records say where each alias belongs)",
                                 variable=env.DEPLOY_TABLE)
    if deps.stacks is None and deps.schema is None and not settings.aliases:
        raise ConfigurationError(
            f"nothing to check: set {env.DRIFT_STACKS}, {env.DRIFT_MANAGED_ALIASES} (with "
            f"{env.DEPLOY_TABLE}), or {env.DATABASE_URL} with {env.MIGRATIONS_DIR}",
            variable=env.DRIFT_STACKS)


def build_schema(settings: DriftSettings,
                 patcher: PatcherSettings | None) -> SchemaInspector | None:
    """The schema inspector, when a database and a migration source are configured."""
    if patcher is None or not (patcher.database_url or patcher.db_secret_arn) or not (
            patcher.migrations_dir or patcher.migrations_bucket):
        return None
    pg_dump = find_pg_dump(settings.pg_dump)

    def dump() -> str | None:
        return dump_schema(pg_dump, database_url(patcher)) if pg_dump else None

    # An S3 source reports each object's LastModified (a TimestampedSource); a
    # directory source is timed by its files' mtimes.
    return PatcherSchemaInspector(build_source(patcher), build_connect(patcher), dump=dump)


def database_url(patcher: PatcherSettings) -> str:
    if patcher.database_url:
        return patcher.database_url
    from stackflow.adapters.secrets import database_url as from_secret

    assert patcher.db_secret_arn is not None
    return from_secret(patcher.db_secret_arn)


def _topic(topic_arn: str | None) -> Notifier | None:
    if not topic_arn:
        return None
    from stackflow.adapters.sns import Topic

    return Topic(topic_arn)
