"""What the deploy steps need from outside: settings, ports and time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stackflow import env
from stackflow.deploy.ports import (
    AlarmsPort,
    Clock,
    DeployStore,
    FunctionsPort,
    Invoker,
    Monotonic,
    ObjectReader,
    Sleep,
)
from stackflow.settings import env_int, env_required, env_str

DEFAULT_LOCK_TTL_SECONDS = 3600
DEFAULT_PATCHER_FUNCTION = "StackFlowPatcher"


@dataclass(frozen=True)
class DeploySettings:
    table: str
    lock_ttl_seconds: int = DEFAULT_LOCK_TTL_SECONDS
    # Relative ``smoke.dir`` paths resolve against this directory (default: the cwd).
    smoke_root: Path | None = None
    patcher_function: str = DEFAULT_PATCHER_FUNCTION


def load_settings(environ: Mapping[str, str] | None = None) -> DeploySettings:
    """Read the deploy-step settings; ``DEPLOY_TABLE`` is required."""
    smoke = env_str(env.SMOKE_DIR, environ)
    return DeploySettings(
        table=env_required(env.DEPLOY_TABLE, environ),
        lock_ttl_seconds=env_int(env.DEPLOY_LOCK_TTL_SECONDS, DEFAULT_LOCK_TTL_SECONDS, environ),
        smoke_root=Path(smoke) if smoke else None,
        patcher_function=env_str(env.PATCHER_FUNCTION, environ) or DEFAULT_PATCHER_FUNCTION,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    """Everything a step touches; tests and local mode build their own."""

    settings: DeploySettings
    functions: FunctionsPort
    invoker: Invoker
    store: DeployStore
    alarms: AlarmsPort
    read_object: ObjectReader
    now: Clock = field(default=utc_now)
    monotonic: Monotonic = field(default=time.monotonic)
    sleep: Sleep = field(default=time.sleep)
