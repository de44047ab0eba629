"""Per-stage settings and the context values an operator may pass with ``-c``.

Everything that differs between ``dev``, ``staging`` and ``prod`` lives in one frozen
``StageConfig``; everything that differs between installations (GitHub repository,
an existing database, an existing OIDC provider) is a CDK context value read once into
``Settings``. Constructs receive these objects, never the raw context.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STAGES = ("dev", "staging", "prod")
DEFAULT_GITHUB_REPO = "ORG/REPO"
# The context key CDK's own synthesizer reads: the diff role trusts the same bootstrap
# roles `cdk diff` will look for.
BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
DEFAULT_BOOTSTRAP_QUALIFIER = "hnb659fds"
# The CDK bootstrap template's own constraint on its Qualifier parameter.
BOOTSTRAP_QUALIFIER_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,10}")


@dataclass(frozen=True)
class StageConfig:
    """How strict one stage is: alarms, approvals, retention, schedules."""

    name: str
    approval_required: bool  # prod: the definition itself holds the gate, input cannot skip it
    approval_timeout_hours: int
    api_error_threshold: int  # StackFlowAPI errors per period that fire the alarm
    api_alarm_period_minutes: int
    api_alarm_evaluation_periods: int
    drift_rate_hours: int
    log_retention_days: int
    retain_data: bool  # RETAIN buckets, tables, clusters instead of destroying them
    db_min_acu: float
    db_max_acu: float
    db_reader: bool
    nat_gateways: int
    execution_timeout_hours: int

    def stack_name(self, suffix: str = "") -> str:
        return f"stackflow-{self.name}{suffix}"


STAGE_CONFIGS: Mapping[str, StageConfig] = {
    "dev": StageConfig(
        name="dev", approval_required=False, approval_timeout_hours=1,
        api_error_threshold=5, api_alarm_period_minutes=5, api_alarm_evaluation_periods=1,
        drift_rate_hours=24, log_retention_days=7, retain_data=False,
        db_min_acu=0.5, db_max_acu=2, db_reader=False, nat_gateways=1,
        execution_timeout_hours=3,
    ),
    "staging": StageConfig(
        name="staging", approval_required=False, approval_timeout_hours=8,
        api_error_threshold=3, api_alarm_period_minutes=5, api_alarm_evaluation_periods=1,
        drift_rate_hours=6, log_retention_days=30, retain_data=False,
        db_min_acu=0.5, db_max_acu=4, db_reader=False, nat_gateways=1,
        execution_timeout_hours=6,
    ),
    "prod": StageConfig(
        name="prod", approval_required=True, approval_timeout_hours=24,
        api_error_threshold=1, api_alarm_period_minutes=1, api_alarm_evaluation_periods=1,
        drift_rate_hours=1, log_retention_days=365, retain_data=True,
        db_min_acu=0.5, db_max_acu=16, db_reader=True, nat_gateways=2,
        execution_timeout_hours=30,
    ),
}


@dataclass(frozen=True)
class ImportedDatabase:
    """An existing Aurora cluster, its secret and network, given as context values."""

    cluster_identifier: str
    secret_arn: str
    security_group_id: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    availability_zones: tuple[str, ...]
    port: int = 5432


@dataclass(frozen=True)
class Settings:
    """Installation-specific values from CDK context (``cdk.json`` or ``-c key=value``)."""

    stage: StageConfig
    github_repo: str = DEFAULT_GITHUB_REPO
    github_subjects: tuple[str, ...] = ()
    github_diff_subjects: tuple[str, ...] = ()
    bootstrap_qualifier: str = DEFAULT_BOOTSTRAP_QUALIFIER
    github_oidc_provider_arn: str | None = None
    database: ImportedDatabase | None = None
    name_suffix: str = ""
    target_functions: tuple[str, ...] = ()  # deployable besides the example StackFlowAPI
    managed_aliases: tuple[str, ...] = ()  # FUNCTION:ALIAS drift watches besides StackFlowAPI
    account: str | None = None
    region: str | None = None

    @property
    def oidc_subjects(self) -> tuple[str, ...]:
        """``sub`` claims CI may assume the role with; main branch of the repo by default."""
        return self.github_subjects or (f"repo:{self.github_repo}:ref:refs/heads/main",)

    @property
    def diff_subjects(self) -> tuple[str, ...]:
        """``sub`` claims the read-only diff role trusts: the repo's pull requests."""
        return self.github_diff_subjects or (f"repo:{self.github_repo}:pull_request",)

    def physical_name(self, base: str) -> str:
        """Function and alarm names; a suffix lets several stages share one account."""
        return f"{base}{self.name_suffix}"


ContextReader = Callable[[str], Any]


def settings_from_context(stage_name: str, context: ContextReader) -> Settings:
    """Read every StackFlow context value; unknown stages fail with the allowed names."""
    if stage_name not in STAGE_CONFIGS:
        raise ValueError(f"STAGE must be one of {', '.join(STAGES)}, got {stage_name!r}")
    return Settings(
        stage=STAGE_CONFIGS[stage_name],
        github_repo=_text(context("github_repo")) or DEFAULT_GITHUB_REPO,
        github_subjects=_items(context("github_subjects")),
        github_diff_subjects=_items(context("github_diff_subjects")),
        bootstrap_qualifier=_qualifier(context(BOOTSTRAP_QUALIFIER_CONTEXT)),
        github_oidc_provider_arn=_text(context("github_oidc_provider_arn")),
        database=_imported_database(context),
        name_suffix=_text(context("name_suffix")) or "",
        target_functions=_items(context("target_functions")),
        managed_aliases=_items(context("managed_aliases")),
        account=_text(context("account")),
        region=_text(context("region")),
    )


def _imported_database(context: ContextReader) -> ImportedDatabase | None:
    cluster = _text(context("db_cluster_identifier"))
    if cluster is None:
        return None
    required = ("db_secret_arn", "db_security_group_id", "db_vpc_id")
    missing = [key for key in required if _text(context(key)) is None]
    subnets, zones = _items(context("db_subnet_ids")), _items(context("db_availability_zones"))
    if not subnets:
        missing.append("db_subnet_ids")
    if len(zones) != len(subnets):
        missing.append("db_availability_zones (one per subnet)")
    if missing:
        raise ValueError("db_cluster_identifier is set, so these context values are "
                         f"required too: {', '.join(missing)}")
    return ImportedDatabase(
        cluster_identifier=cluster,
        secret_arn=str(context("db_secret_arn")),
        security_group_id=str(context("db_security_group_id")),
        vpc_id=str(context("db_vpc_id")),
        subnet_ids=subnets,
        availability_zones=zones,
        port=int(context("db_port") or 5432),
    )


def _qualifier(value: Any) -> str:
    qualifier = _text(value) or DEFAULT_BOOTSTRAP_QUALIFIER
    if not BOOTSTRAP_QUALIFIER_PATTERN.fullmatch(qualifier):
        raise ValueError(f"{BOOTSTRAP_QUALIFIER_CONTEXT} must be 1-10 letters, digits, "
                         f"'-' or '_' (as for `cdk bootstrap --qualifier`), got {qualifier!r}")
    return qualifier


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _items(value: Any) -> tuple[str, ...]:
    # Context arrives as a JSON list from cdk.json or a comma-separated string from -c.
    if value is None:
        return ()
    parts = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(part).strip() for part in parts if str(part).strip())
