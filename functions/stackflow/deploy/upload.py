"""Upload: point $LATEST at the artifact CI built, and prove it is that artifact.

``UpdateFunctionCode`` from the S3 object version CI wrote; a conflicting update in
progress (``ResourceConflictException``) or throttling is retried here with backoff.
Then ``LastUpdateStatus`` is polled until ``Successful``, and the function's
``CodeSha256`` must equal the artifact's: what CI tested is exactly what runs. All of
this waiting stops before the Lambda's own timeout (``Deps.seconds_to_spare``) with
the retryable ``AwsThrottled``, so the state machine retries instead of timing out.
"""

from __future__ import annotations

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import UploadResult
from stackflow.deploy.model import DeployInput
from stackflow.deploy.polling import poll_times
from stackflow.deploy.ports import FunctionConfig
from stackflow.errors import ArtifactMismatch, AwsThrottled, FunctionUpdateFailed

CONFLICT_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)  # seconds between attempts
POLL_LIMIT_SECONDS = 600.0


def upload(inp: DeployInput, deps: Deps) -> UploadResult:
    """Update the code, wait for it to settle, and check its hash."""
    _update_code(inp, deps)
    config = wait_for_update(inp.function_name, deps)
    if config.code_sha256 != inp.artifact.sha256:
        raise ArtifactMismatch(
            f"{inp.function_name} runs CodeSha256 {config.code_sha256} after the update, "
            f"but the artifact s3://{inp.artifact.bucket}/{inp.artifact.key} "
            f"(version {inp.artifact.version_id}) was built as {inp.artifact.sha256}",
            expected=inp.artifact.sha256, actual=config.code_sha256)
    return UploadResult(code_sha256=config.code_sha256, revision_id=config.revision_id,
                        last_modified=config.last_modified)


def _update_code(inp: DeployInput, deps: Deps) -> FunctionConfig:
    art = inp.artifact
    for delay in (*CONFLICT_DELAYS, None):
        try:
            return deps.functions.update_code(inp.function_name, bucket=art.bucket,
                                              key=art.key, object_version=art.version_id)
        except AwsThrottled:
            # An update still in progress (or throttling) clears by itself; after the
            # last delay, or when the next would pass the deadline, the error goes to
            # the state machine, which retries it too.
            if delay is None or delay > deps.seconds_to_spare():
                raise
            deps.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def wait_for_update(function_name: str, deps: Deps) -> FunctionConfig:
    """Poll ``LastUpdateStatus`` until ``Successful``; ``Failed`` raises with the reason."""
    waited = 0.0
    for waited in poll_times(deps.sleep, POLL_LIMIT_SECONDS,  # noqa: B007 (read after)
                             deps.seconds_to_spare):
        config = deps.functions.get_configuration(function_name)
        status = config.last_update_status or "Successful"
        if status == "Successful":
            return config
        if status == "Failed":
            raise FunctionUpdateFailed(
                f"{function_name}: update failed: {config.last_update_status_reason_code}: "
                f"{config.last_update_status_reason}",
                reason=config.last_update_status_reason,
                reason_code=config.last_update_status_reason_code)
    raise AwsThrottled(f"{function_name}: update still InProgress after {waited:.0f} s")
