"""The patcher's settings, read once from the environment into a frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stackflow import env
from stackflow.errors import ConfigurationError
from stackflow.migrations.tables import DEFAULT_TABLE, Tables, valid_table_name
from stackflow.settings import env_float, env_int, env_str


@dataclass(frozen=True)
class PatcherSettings:
    """Where the database and the migrations are, and the guard rails.

    ``lock_wait_seconds``: how long a second runner waits for the advisory lock.
    ``lock_timeout_ms``: PostgreSQL ``lock_timeout`` per migration, so a migration queued
    behind a long transaction fails fast instead of stalling traffic behind it.
    ``lock_retries``: how often a migration that hit ``lock_timeout`` is retried.
    ``statement_timeout_ms``: PostgreSQL ``statement_timeout`` per migration (0 = none).
    ``deadline_margin_ms``: in Lambda, no migration starts with less time left than this.
    ``migrations_table``: StackFlow's table (its run history is ``<name>_runs``), for a
    database that keeps another tool's ``schema_migrations`` beside StackFlow's.
    """

    database_url: str | None = None
    db_secret_arn: str | None = None
    migrations_dir: str | None = None
    migrations_bucket: str | None = None
    migrations_prefix: str = ""
    lock_wait_seconds: float = 60.0
    lock_timeout_ms: int = 3000
    lock_retries: int = 3
    statement_timeout_ms: int = 0
    deadline_margin_ms: int = 10_000
    migrations_table: str = DEFAULT_TABLE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> PatcherSettings:
        """Settings from the environment; explicit ``overrides`` (not None) win."""
        settings = cls(
            database_url=env_str(env.DATABASE_URL, environ),
            db_secret_arn=env_str(env.DB_SECRET_ARN, environ),
            migrations_dir=env_str(env.MIGRATIONS_DIR, environ),
            migrations_bucket=env_str(env.MIGRATIONS_BUCKET, environ),
            migrations_prefix=env_str(env.MIGRATIONS_PREFIX, environ) or "",
            lock_wait_seconds=env_float(env.MIGRATION_LOCK_WAIT_SECONDS, 60.0, environ),
            lock_timeout_ms=env_int(env.MIGRATION_LOCK_TIMEOUT_MS, 3000, environ),
            lock_retries=env_int(env.MIGRATION_LOCK_RETRIES, 3, environ),
            statement_timeout_ms=env_int(env.MIGRATION_STATEMENT_TIMEOUT_MS, 0, environ),
            deadline_margin_ms=env_int(env.MIGRATION_DEADLINE_MARGIN_MS, 10_000, environ),
            migrations_table=env_str(env.MIGRATIONS_TABLE, environ) or DEFAULT_TABLE,
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()
        return settings

    @property
    def tables(self) -> Tables:
        return Tables(self.migrations_table)

    def check(self) -> None:
        """Fail fast, naming the variable, on a negative guard-rail value or a table
        name that is not a plain lower-case identifier."""
        if not valid_table_name(self.migrations_table):
            raise ConfigurationError(
                f"environment variable {env.MIGRATIONS_TABLE} must be a lower-case name "
                f"(letters, digits, _; optionally schema.name; at most 58 characters), got "
                f"{self.migrations_table!r}", variable=env.MIGRATIONS_TABLE)
        for name, value in (
            (env.MIGRATION_LOCK_WAIT_SECONDS, self.lock_wait_seconds),
            (env.MIGRATION_LOCK_TIMEOUT_MS, self.lock_timeout_ms),
            (env.MIGRATION_LOCK_RETRIES, self.lock_retries),
            (env.MIGRATION_STATEMENT_TIMEOUT_MS, self.statement_timeout_ms),
            (env.MIGRATION_DEADLINE_MARGIN_MS, self.deadline_margin_ms),
        ):
            if value < 0:
                raise ConfigurationError(f"environment variable {name} must be >= 0, "
                                         f"got {value}", variable=name)
