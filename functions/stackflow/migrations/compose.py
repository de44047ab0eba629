"""Building a ``PatcherDeps`` from settings: the edge where adapters are chosen.

Adapters are imported inside the functions, so a handler pays for boto3 only when its
configuration needs S3 or Secrets Manager, and for psycopg only when it connects.
"""

from __future__ import annotations

from collections.abc import Callable

from stackflow import env
from stackflow.errors import ConfigurationError, DatabaseUnavailable
from stackflow.migrations.ports import MigrationDatabase
from stackflow.migrations.service import Connect, PatcherDeps
from stackflow.migrations.settings import PatcherSettings
from stackflow.migrations.source import DirectorySource, MigrationSource


def build_deps(settings: PatcherSettings, *, applied_by: str,
               remaining_ms: Callable[[], int] | None = None) -> PatcherDeps:
    """Deps for one call: the configured source and a connector (nothing opened yet)."""
    return PatcherDeps(source=build_source(settings), connect=build_connect(settings),
                       settings=settings, applied_by=applied_by, remaining_ms=remaining_ms)


def build_source(settings: PatcherSettings) -> MigrationSource:
    """An S3 prefix (``MIGRATIONS_BUCKET``) or a folder (``MIGRATIONS_DIR``)."""
    if settings.migrations_bucket:
        from stackflow.adapters.s3 import S3MigrationSource

        return S3MigrationSource(settings.migrations_bucket, settings.migrations_prefix)
    if settings.migrations_dir:
        return DirectorySource(settings.migrations_dir)
    raise ConfigurationError(f"set {env.MIGRATIONS_DIR} or {env.MIGRATIONS_BUCKET} "
                             "to say where the migrations are", variable=env.MIGRATIONS_DIR)


def build_connect(settings: PatcherSettings) -> Connect:
    """A connector for ``DATABASE_URL``, or the ``DB_SECRET_ARN`` secret."""
    if not (settings.database_url or settings.db_secret_arn):
        raise ConfigurationError(f"set {env.DATABASE_URL} or {env.DB_SECRET_ARN}",
                                 variable=env.DATABASE_URL)

    def connect(*, read_only: bool, application_name: str) -> MigrationDatabase:
        from stackflow.adapters import postgres

        try:
            return postgres.connect(_url(settings, refresh=False), read_only=read_only,
                                    application_name=application_name,
                                    tables=settings.tables)
        except DatabaseUnavailable:
            if not settings.db_secret_arn or settings.database_url:
                raise
            # The password may have been rotated since the secret was cached.
            return postgres.connect(_url(settings, refresh=True), read_only=read_only,
                                    application_name=application_name,
                                    tables=settings.tables)

    return connect


def _url(settings: PatcherSettings, *, refresh: bool) -> str:
    if settings.database_url:
        return settings.database_url
    from stackflow.adapters.secrets import database_url

    assert settings.db_secret_arn is not None
    return database_url(settings.db_secret_arn, refresh=refresh)
