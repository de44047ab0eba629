"""The drift check's settings, read once from the environment into a frozen object.

The schema part reuses the patcher's settings (``DATABASE_URL`` / ``DB_SECRET_ARN``,
``MIGRATIONS_DIR`` / ``MIGRATIONS_BUCKET``): drift reads the very database and source
the patcher migrates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from stackflow import env
from stackflow.drift.deployments import parse_alias_list
from stackflow.errors import ConfigurationError, InvalidRequest
from stackflow.settings import env_float, env_int, env_list, env_str

DEFAULT_PENDING_MAX_AGE_HOURS = 24.0
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class DriftSettings:
    stacks: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    pending_max_age_hours: float = DEFAULT_PENDING_MAX_AGE_HOURS
    topic_arn: str | None = None
    table: str | None = None
    pg_dump: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY

    @property
    def pending_max_age(self) -> timedelta:
        return timedelta(hours=self.pending_max_age_hours)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> DriftSettings:
        """Settings from the environment; explicit ``overrides`` (not None) win."""
        settings = cls(
            stacks=tuple(env_list(env.DRIFT_STACKS, environ)),
            aliases=_aliases(env_list(env.DRIFT_MANAGED_ALIASES, environ)),
            pending_max_age_hours=env_float(env.DRIFT_PENDING_MAX_AGE_HOURS,
                                            DEFAULT_PENDING_MAX_AGE_HOURS, environ),
            topic_arn=env_str(env.DRIFT_TOPIC_ARN, environ),
            table=env_str(env.DEPLOY_TABLE, environ),
            pg_dump=env_str(env.DRIFT_PG_DUMP, environ),
            concurrency=env_int(env.DRIFT_CONCURRENCY, DEFAULT_CONCURRENCY, environ),
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()
        return settings

    def check(self) -> None:
        if self.pending_max_age_hours < 0:
            raise ConfigurationError(f"environment variable {env.DRIFT_PENDING_MAX_AGE_HOURS} "
                                     f"must be >= 0, got {self.pending_max_age_hours}",
                                     variable=env.DRIFT_PENDING_MAX_AGE_HOURS)
        if self.concurrency < 1:
            raise ConfigurationError(f"environment variable {env.DRIFT_CONCURRENCY} must be "
                                     f">= 1, got {self.concurrency}",
                                     variable=env.DRIFT_CONCURRENCY)


def _aliases(values: list[str]) -> tuple[tuple[str, str], ...]:
    try:
        return parse_alias_list(values, env.DRIFT_MANAGED_ALIASES)
    except InvalidRequest as e:
        raise ConfigurationError(f"environment variable {e.message}",
                                 variable=env.DRIFT_MANAGED_ALIASES) from e
