"""Publish: turn the uploaded $LATEST into an immutable, Active version.

``PublishVersion`` is guarded by the artifact's ``CodeSha256`` and the ``RevisionId``
Upload saw, so nothing uploaded in between can be published by mistake. A Publish that
Step Functions retries after it succeeded must not publish a second version: like
Lambda itself (which does not publish when nothing changed), it returns the newest
version when that one already holds the artifact's code.
"""

from __future__ import annotations

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import PublishResult, UploadResult
from stackflow.deploy.model import DeployInput
from stackflow.deploy.polling import poll_times
from stackflow.deploy.ports import FunctionConfig
from stackflow.errors import ArtifactMismatch, AwsThrottled, FunctionUpdateFailed

POLL_LIMIT_SECONDS = 300.0
DESCRIPTION_LIMIT = 256


def publish(inp: DeployInput, upload: UploadResult, execution_id: str,
            deps: Deps) -> PublishResult:
    """Publish (or find the already published) version of the artifact; wait for Active."""
    sha = inp.artifact.sha256
    if upload.code_sha256 != sha:
        raise ArtifactMismatch(f"upload.code_sha256 {upload.code_sha256} is not the "
                               f"artifact's {sha}", expected=sha, actual=upload.code_sha256)
    newest = deps.functions.latest_published_version(inp.function_name)
    if newest is not None and newest.code_sha256 == sha:
        version = newest
    else:
        version = deps.functions.publish_version(
            inp.function_name, code_sha256=sha, revision_id=upload.revision_id,
            description=describe(inp, execution_id))
    if version.code_sha256 != sha:
        raise ArtifactMismatch(f"version {version.version} holds {version.code_sha256}, "
                               f"not the artifact's {sha}", expected=sha,
                               actual=version.code_sha256)
    wait_active(inp.function_name, version.version, deps)
    return PublishResult(version=version.version, code_sha256=version.code_sha256)


def describe(inp: DeployInput, execution_id: str) -> str:
    """The version description an operator sees in the console: commit and execution."""
    commit = inp.ci.get("commit")
    text = f"StackFlow {execution_id.rsplit(':', 1)[-1]}"
    if commit:
        text += f" commit {commit}"
    return text[:DESCRIPTION_LIMIT]


def wait_active(function_name: str, version: str, deps: Deps) -> FunctionConfig:
    """Poll the version's ``State`` until ``Active``; ``Failed`` raises with the reason."""
    state, waited = "Pending", 0.0
    for waited in poll_times(deps.sleep, POLL_LIMIT_SECONDS,  # noqa: B007 (read after)
                             deps.seconds_to_spare):
        config = deps.functions.get_configuration(function_name, version)
        state = config.state or "Active"
        if state == "Active":
            return config
        if state == "Failed":
            raise FunctionUpdateFailed(f"{function_name}:{version} failed to become Active: "
                                       f"{config.state_reason}", reason=config.state_reason)
    raise AwsThrottled(f"{function_name}:{version} still {state} after {waited:.0f} s")
