"""What the deploy steps need from outside: settings, ports and time."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from stackflow import env
from stackflow.deploy.policy import SafetyPolicy, load_policy
from stackflow.deploy.ports import (
    AlarmsPort,
    Clock,
    DeployStore,
    ExecutionsPort,
    FunctionsPort,
    Invoker,
    Monotonic,
    ObjectReader,
    Sleep,
    SnapshotsPort,
    SnapshotState,
    TimeLeft,
)
from stackflow.settings import env_int, env_required, env_str

DEFAULT_LOCK_TTL_SECONDS = 3600
DEFAULT_PATCHER_FUNCTION = "StackFlowPatcher"
# A step's own waiting stops this long before the Lambda's timeout, leaving time to
# record the outcome and raise the typed (retryable) error the state machine expects.
DEADLINE_MARGIN_SECONDS = 20.0


@dataclass(frozen=True)
class DeploySettings:
    table: str
    lock_ttl_seconds: int = DEFAULT_LOCK_TTL_SECONDS
    # Relative ``smoke.dir`` paths resolve against this directory (default: the cwd).
    smoke_root: Path | None = None
    patcher_function: str = DEFAULT_PATCHER_FUNCTION
    policy: SafetyPolicy = field(default_factory=SafetyPolicy)
    # The Aurora cluster Snapshot snapshots (only that step's function is given one).
    db_cluster: str | None = None


def load_settings(environ: Mapping[str, str] | None = None) -> DeploySettings:
    """Read the deploy-step settings; ``DEPLOY_TABLE`` is required."""
    smoke = env_str(env.SMOKE_DIR, environ)
    return DeploySettings(
        table=env_required(env.DEPLOY_TABLE, environ),
        lock_ttl_seconds=env_int(env.DEPLOY_LOCK_TTL_SECONDS, DEFAULT_LOCK_TTL_SECONDS, environ),
        smoke_root=Path(smoke) if smoke else None,
        patcher_function=env_str(env.PATCHER_FUNCTION, environ) or DEFAULT_PATCHER_FUNCTION,
        policy=load_policy(environ),
        db_cluster=env_str(env.DB_CLUSTER_ID, environ),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def unlimited() -> float:
    """No deadline: outside Lambda (tests, the CLI) nothing cuts a step short."""
    return math.inf


class NoExecutions:
    """An ``ExecutionsPort`` that can tell nothing (every lookup fails as unknown)."""

    def status(self, execution_arn: str) -> str | None:
        from stackflow.errors import ConfigurationError

        raise ConfigurationError(f"no Step Functions access to look up {execution_arn}")


class NoSnapshots:
    """A ``SnapshotsPort`` without RDS access: every call fails, naming what is missing."""

    def identifier_for(self, execution_name: str) -> str:
        return self._refuse()

    def create(self, cluster: str, identifier: str,
               tags: Mapping[str, str]) -> SnapshotState:
        return self._refuse()

    def describe(self, identifier: str) -> SnapshotState:
        return self._refuse()

    @staticmethod
    def _refuse() -> NoReturn:
        from stackflow.errors import ConfigurationError

        raise ConfigurationError("no RDS access to take a cluster snapshot (only the "
                                 "snapshot step's function is given one)")


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
    # The handler sets the Lambda context's remaining time here.
    time_left: TimeLeft = field(default=unlimited)
    executions: ExecutionsPort = field(default_factory=NoExecutions)
    snapshots: SnapshotsPort = field(default_factory=NoSnapshots)

    def seconds_to_spare(self) -> float:
        """Time this step may still spend waiting before it must give up."""
        return self.time_left() - DEADLINE_MARGIN_SECONDS
