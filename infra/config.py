"""Per-stage settings and the context values an operator may pass with ``-c``.

Everything that differs between ``dev``, ``staging`` and ``prod`` lives in one frozen
``StageConfig``; everything that differs between installations (GitHub repository,
an existing database, an existing OIDC provider) is a CDK context value read once into
``Settings``. Constructs receive these objects, never the raw context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
STAGES = ("dev", "staging", "prod")
# Until an installation names its repository, the roles trust this one, which no GitHub
# repository can be: an owner name never contains a dot (GitHub allows letters, digits
# and hyphens; managed users add an underscore). `make deploy` refuses to run with it.
UNCONFIGURED_GITHUB_REPO = "unconfigured.invalid/set-github_repo"
# The placeholder earlier versions shipped in cdk.json: a real account could own it.
RETIRED_PLACEHOLDERS = frozenset({"ORG/REPO"})
# owner/name as GitHub spells them (owners: letters, digits, '-' and, for managed users,
# '_'; names: also '.'). Only the shape is checked; GitHub decides whether it exists.
GITHUB_REPO_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}/[A-Za-z0-9._-]{1,100}")
# A `sub` claim of GitHub's OIDC token: `repo:<owner>/<name>:<what ran>`.
SUBJECT_PATTERN = re.compile(r"repo:(?P<repo>[^:]+):(?P<rest>.+)")
PULL_REQUEST_SUBJECT = "pull_request"
# The longest session the CI and diff roles grant (IAM's minimum maximum, 1 h): CI stops
# following a release before it ends (.github/workflows/deploy.yml, --timeout).
CI_MAX_SESSION_SECONDS = 3600
# `-c snapshot_before_destructive=true|false`: the stage's snapshot setting, overridden.
SNAPSHOT_CONTEXT_KEY = "snapshot_before_destructive"


class ContextError(ValueError):
    """A CDK context value StackFlow cannot accept; the message names the key."""


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
    # Safety switches an execution input may turn off (stackflow.deploy.policy): no
    # alarms, no smoke cases, AllAtOnce. Validate refuses what the stage does not allow.
    allow_no_alarms: bool = True
    allow_no_smoke: bool = True
    allow_all_at_once: bool = True
    # An Aurora cluster snapshot before a release's destructive migrations (the Snapshot
    # states and their function exist only then); `-c snapshot_before_destructive=...`
    # turns it on or off, except off where it is required (prod).
    snapshot_before_destructive: bool = False
    snapshot_required: bool = False

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
        # staging rehearses prod: an input prod would refuse fails here first
        allow_no_alarms=False, allow_no_smoke=False, allow_all_at_once=False,
        snapshot_before_destructive=True,
    ),
    "prod": StageConfig(
        name="prod", approval_required=True, approval_timeout_hours=24,
        api_error_threshold=1, api_alarm_period_minutes=1, api_alarm_evaluation_periods=1,
        drift_rate_hours=1, log_retention_days=365, retain_data=True,
        db_min_acu=0.5, db_max_acu=16, db_reader=True, nat_gateways=2,
        execution_timeout_hours=30,
        allow_no_alarms=False, allow_no_smoke=False, allow_all_at_once=False,
        snapshot_before_destructive=True, snapshot_required=True,
    ),
}


@dataclass(frozen=True)
class ImportedDatabase:
    """An existing Aurora cluster, its secret and network, given as context values."""

    cluster_identifier: str
    secret_arn: str  # the migrator role's secret (never the master user's)
    security_group_id: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    availability_zones: tuple[str, ...]
    port: int = 5432
    reader_secret_arn: str | None = None  # the read-only role's; the migrator's if unset


@dataclass(frozen=True)
class Settings:
    """Installation-specific values from CDK context (``cdk.json`` or ``-c key=value``)."""

    stage: StageConfig
    github_repo: str = UNCONFIGURED_GITHUB_REPO
    github_subjects: tuple[str, ...] = ()
    github_diff_subjects: tuple[str, ...] = ()
    github_oidc_provider_arn: str | None = None
    database: ImportedDatabase | None = None
    name_suffix: str = ""
    target_functions: tuple[str, ...] = ()  # deployable besides the example StackFlowAPI
    managed_aliases: tuple[str, ...] = ()  # FUNCTION:ALIAS drift watches besides StackFlowAPI
    account: str | None = None
    region: str | None = None

    @property
    def ci_trust_configured(self) -> bool:
        """True once the CI role trusts a real repository (``make deploy`` checks it)."""
        return bool(self.github_subjects) or self.github_repo != UNCONFIGURED_GITHUB_REPO

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


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` of cdk.json (feature flags, GitHub repository).

    The CDK CLI passes it in already; ``make synth``, ``make deploy``'s preflight and the
    tests run without the CLI, so they read it here. Values from ``-c`` win over these.
    """
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return dict(context) if isinstance(context, dict) else {}


def settings_from_context(stage_name: str, context: ContextReader) -> Settings:
    """Read every StackFlow context value; unknown stages fail with the allowed names."""
    if stage_name not in STAGE_CONFIGS:
        raise ValueError(f"STAGE must be one of {', '.join(STAGES)}, got {stage_name!r}")
    return Settings(
        stage=_stage(STAGE_CONFIGS[stage_name], context),
        github_repo=_github_repo(context("github_repo")),
        github_subjects=checked_subjects("github_subjects", _items(context("github_subjects")),
                                         pull_requests=False),
        github_diff_subjects=checked_subjects("github_diff_subjects",
                                              _items(context("github_diff_subjects")),
                                              pull_requests=True),
        github_oidc_provider_arn=_text(context("github_oidc_provider_arn")),
        database=_imported_database(context),
        name_suffix=_text(context("name_suffix")) or "",
        target_functions=_items(context("target_functions")),
        managed_aliases=_items(context("managed_aliases")),
        account=_text(context("account")),
        region=_text(context("region")),
    )


def _stage(stage: StageConfig, context: ContextReader) -> StageConfig:
    """The stage's settings with the snapshot switch as the context sets it."""
    wanted = _switch(SNAPSHOT_CONTEXT_KEY, context(SNAPSHOT_CONTEXT_KEY))
    if wanted is None:
        return stage
    if stage.snapshot_required and not wanted:
        raise ContextError(f"{SNAPSHOT_CONTEXT_KEY}=false is refused for {stage.name}: its "
                           "releases always snapshot the cluster before destructive "
                           "migrations; remove the context value")
    return replace(stage, snapshot_before_destructive=wanted)


def _switch(key: str, value: Any) -> bool | None:
    # A JSON boolean from cdk.json, or the string `-c key=value` passes.
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ContextError(f"{key} must be true or false, got {value!r}")


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
        reader_secret_arn=_text(context("db_reader_secret_arn")),
    )


def _github_repo(value: Any) -> str:
    repo = _text(value)
    if repo is None:
        return UNCONFIGURED_GITHUB_REPO
    if repo in RETIRED_PLACEHOLDERS:
        raise ValueError(f"github_repo is the placeholder {repo!r}, which a real GitHub "
                         "account could own; set it to your repository (owner/name) or "
                         "remove it from cdk.json")
    if not GITHUB_REPO_PATTERN.fullmatch(repo):
        raise ValueError(f"github_repo must be <owner>/<name> as GitHub spells them, "
                         f"got {repo!r}")
    return repo


def checked_subjects(key: str, subjects: tuple[str, ...], *,
                     pull_requests: bool) -> tuple[str, ...]:
    """``sub`` claims as given, or ValueError naming the context key and the subject.

    Each must be ``repo:<owner>/<name>:<what ran>`` with a well-formed repository and no
    wildcard (the trust policy matches exactly); the deploy role's never name a pull
    request, whose code nobody has reviewed yet.
    """
    for subject in subjects:
        match = SUBJECT_PATTERN.fullmatch(subject)
        if match is None or not GITHUB_REPO_PATTERN.fullmatch(match["repo"]):
            raise ValueError(f"{key}: {subject!r} must start with repo:<owner>/<name>:")
        if "*" in subject or "?" in subject:
            raise ValueError(f"{key}: {subject!r} has a wildcard; list each subject "
                             "exactly (the trust policy compares with StringEquals)")
        if not pull_requests and match["rest"] == PULL_REQUEST_SUBJECT:
            raise ValueError(f"{key}: {subject!r} would let any pull request assume the "
                             "deploy role; trust main, a tag or an environment instead")
    return subjects


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _items(value: Any) -> tuple[str, ...]:
    # Context arrives as a JSON list from cdk.json or a comma-separated string from -c.
    if value is None:
        return ()
    parts = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(part).strip() for part in parts if str(part).strip())
