"""The one exception tree of StackFlow.

A class name here is the ``errorType`` that ``aws lambda invoke`` and Step Functions
see when a handler raises it, so each is named for the operator who reads it. Adapters
translate ``ClientError`` codes and psycopg SQLSTATEs into these (``raise ... from e``);
the core never imports botocore or psycopg.

``retryable`` marks errors that the state machine retries with backoff; everything
else is a verdict (bad input, failed check) that a retry cannot change.
"""

from __future__ import annotations

from typing import Any, ClassVar


class StackFlowError(Exception):
    """Base of every error a StackFlow handler or CLI command may raise."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def error_type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message, **self.details}


# --- input -------------------------------------------------------------------------
class InvalidRequest(StackFlowError):
    """A malformed payload or argument; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field


class ConfigurationError(StackFlowError):
    """A missing or malformed setting (environment variable); names the variable."""


# --- patcher -----------------------------------------------------------------------
class SourceError(StackFlowError):
    """The migration source is unreadable or holds badly named files."""


class ChecksumMismatch(StackFlowError):
    """An applied migration's file changed since it was applied."""


class OutOfOrderMigration(StackFlowError):
    """A pending migration is numbered below the newest applied one."""


class MigrationFailed(StackFlowError):
    """A migration's SQL failed; nothing of that migration was kept."""


class MissingDownScript(StackFlowError):
    """A rollback would cross a migration that has no down script."""


class ForeignMigrationTable(StackFlowError):
    """StackFlow's migration table was written by another tool (golang-migrate); names
    the tool and the ``stackflow adopt`` command that takes its history over."""


class MigrationTableCorrupt(StackFlowError):
    """StackFlow's migration tables exist but do not have StackFlow's layout."""


class AdoptionRefused(StackFlowError):
    """``adopt`` cannot take over another tool's history (dirty, files missing, already
    adopted); nothing was changed."""


class LockTimeout(StackFlowError):
    """Another runner held the migration (or deployment) lock for too long."""

    retryable = True


class DatabaseUnavailable(StackFlowError):
    """The database could not be reached or refused the connection."""

    retryable = True


# --- deploy ------------------------------------------------------------------------
class DeploymentInProgress(StackFlowError):
    """Another deployment holds the lock for this function and alias."""


class ArtifactMismatch(StackFlowError):
    """The code Lambda runs is not the artifact CI built and tested."""


class FunctionUpdateFailed(StackFlowError):
    """Lambda reported ``LastUpdateStatus: Failed`` for a code update."""


class SmokeTestFailed(StackFlowError):
    """At least one smoke case failed against the new version."""


class CanaryUnhealthy(StackFlowError):
    """An alarm fired or the new version's errors crossed the threshold during a bake."""


class RevisionConflict(StackFlowError):
    """A guarded write lost a race: the function or alias changed since it was read
    (Lambda's ``PreconditionFailedException`` on a ``RevisionId`` guard)."""


class AliasChangedExternally(StackFlowError):
    """Someone other than this deployment changed the alias since it last wrote it
    (an operator's ``rollback-alias``, a hotfix): the deployment stops and writes
    nothing more to the alias."""


class ApprovalRejected(StackFlowError):
    """A person rejected the release at the manual approval gate."""


class ResourceNotFound(StackFlowError):
    """A function, version, alias, object or stack named in the input does not exist."""


class AwsThrottled(StackFlowError):
    """AWS throttled the call or a conflicting update is still in progress."""

    retryable = True


class AwsCallFailed(StackFlowError):
    """An AWS call failed for a reason a retry will not fix (permissions, validation)."""


class SnapshotFailed(StackFlowError):
    """The cluster snapshot taken before destructive migrations ended in a state other
    than ``available`` (RDS's status is named); no migration ran."""


class DriftCheckFailed(StackFlowError):
    """A drift detection could not complete."""


# --- release (make package, stackflow pipeline) -------------------------------------
class PackageBuildFailed(StackFlowError):
    """A deployment zip could not be built (wheel download, clashing files, missing import)."""


class ReleaseAlreadyStarted(StackFlowError):
    """An execution with this release's name exists already (the same artifact was started)."""


class ReleaseFailed(StackFlowError):
    """The deployment execution ended FAILED, TIMED_OUT or ABORTED; names its error and cause."""


# --- infrastructure changes (stackflow infra diff | deploy | status) ---------------------
class SynthesisFailed(StackFlowError):
    """The CDK app did not synthesize (or a git ref could not be exported to synthesize)."""


class ChangeSetFailed(StackFlowError):
    """CloudFormation could not create a change set, or the stack is in a state that
    cannot take one (names the stack and CloudFormation's reason)."""


class BackupFailed(StackFlowError):
    """A backup before an allowed destructive change could not be taken (S3 versioning
    off, a snapshot that failed); no change set was executed."""


ALL_ERROR_TYPES: tuple[type[StackFlowError], ...] = tuple(
    cls for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, StackFlowError)
)
RETRYABLE_ERROR_NAMES: tuple[str, ...] = tuple(
    cls.__name__ for cls in ALL_ERROR_TYPES if cls.retryable
)
