"""AWS Lambda: code updates, versions, aliases and invocations for the deploy steps.

:class:`LambdaFunctions` implements ``stackflow.deploy.ports.FunctionsPort``;
:class:`LambdaInvoker` is the smoke-test ``Invoker``. ``get_alias`` is also a module
function for readers outside a deployment (drift, the CLI).

Error codes become StackFlow errors: ``ResourceConflictException`` (an update in
progress) and throttling → ``AwsThrottled``; ``ResourceNotFoundException`` →
``ResourceNotFound``; ``PreconditionFailedException`` (a ``RevisionId`` guard) →
``RevisionConflict``; a ``CodeSha256`` guard refused by ``PublishVersion`` →
``ArtifactMismatch``; anything else → ``AwsCallFailed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, error_code
from stackflow.deploy.ports import AliasInfo, FunctionConfig, InvokeResult
from stackflow.errors import ArtifactMismatch, RevisionConflict, StackFlowError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def translate(e: Exception, what: str) -> StackFlowError:
    """The StackFlow error for a botocore error raised while doing ``what``."""
    code = error_code(e)
    if code == "PreconditionFailedException":
        return RevisionConflict(f"{what}: {_message(e)}", code=code)
    if code == "InvalidParameterValueException" and "CodeSHA256" in _message(e).replace(
            "CodeSha256", "CodeSHA256"):
        return ArtifactMismatch(f"{what}: {_message(e)}", code=code)
    return aws_error(e, what)


def _message(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(e)
    return str(e)


class LambdaFunctions:
    """The Lambda calls a deployment makes, over one (injected or lazy) client."""

    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> LambdaClient:
        if self._client is None:
            self._client = deploy_client()
        return self._client

    def get_configuration(self, function_name: str,
                          qualifier: str | None = None) -> FunctionConfig:
        extra: dict[str, Any] = {"Qualifier": qualifier} if qualifier else {}
        try:
            raw = self.client.get_function_configuration(FunctionName=function_name, **extra)
        except _aws_errors() as e:
            raise translate(e, f"reading {_name(function_name, qualifier)}") from e
        return function_config(raw)

    def update_code(self, function_name: str, *, bucket: str, key: str,
                    object_version: str | None) -> FunctionConfig:
        extra: dict[str, Any] = {"S3ObjectVersion": object_version} if object_version else {}
        try:
            raw = self.client.update_function_code(FunctionName=function_name, S3Bucket=bucket,
                                                   S3Key=key, **extra)
        except _aws_errors() as e:
            raise translate(e, f"updating the code of {function_name} from "
                               f"s3://{bucket}/{key}") from e
        return function_config(raw)

    def publish_version(self, function_name: str, *, code_sha256: str,
                        revision_id: str | None, description: str) -> FunctionConfig:
        extra: dict[str, Any] = {"RevisionId": revision_id} if revision_id else {}
        try:
            raw = self.client.publish_version(FunctionName=function_name,
                                              CodeSha256=code_sha256,
                                              Description=description, **extra)
        except _aws_errors() as e:
            raise translate(e, f"publishing a version of {function_name}") from e
        return function_config(raw)

    def latest_published_version(self, function_name: str) -> FunctionConfig | None:
        """The highest-numbered published version (None when only $LATEST exists)."""
        newest: Mapping[str, Any] | None = None
        try:
            pages = self.client.get_paginator("list_versions_by_function").paginate(
                FunctionName=function_name)
            for page in pages:
                for raw in page.get("Versions", []):
                    number = raw.get("Version", "")
                    if number.isdigit() and (newest is None
                                             or int(number) > int(newest["Version"])):
                        newest = raw
        except _aws_errors() as e:
            raise translate(e, f"listing the versions of {function_name}") from e
        return function_config(newest) if newest is not None else None

    def get_alias(self, function_name: str, alias: str) -> AliasInfo:
        try:
            raw = self.client.get_alias(FunctionName=function_name, Name=alias)
        except _aws_errors() as e:
            raise translate(e, f"reading alias {function_name}:{alias}") from e
        return alias_info(raw)

    def update_alias(self, function_name: str, alias: str, *, version: str,
                     weights: Mapping[str, float], revision_id: str | None) -> AliasInfo:
        extra: dict[str, Any] = {"RevisionId": revision_id} if revision_id else {}
        try:
            raw = self.client.update_alias(
                FunctionName=function_name, Name=alias, FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": dict(weights)}, **extra)
        except _aws_errors() as e:
            raise translate(e, f"updating alias {function_name}:{alias}") from e
        return alias_info(raw)

    def invoke(self, function_name: str, qualifier: str, payload: bytes) -> InvokeResult:
        """A synchronous invocation of ``function_name:qualifier``."""
        try:
            raw = self.client.invoke(FunctionName=function_name, Qualifier=qualifier,
                                     InvocationType="RequestResponse", Payload=payload)
            body = raw["Payload"].read() if "Payload" in raw else b""
        except _aws_errors() as e:
            raise translate(e, f"invoking {function_name}:{qualifier}") from e
        return InvokeResult(status_code=int(raw.get("StatusCode", 0)), payload=body,
                            function_error=raw.get("FunctionError"),
                            executed_version=raw.get("ExecutedVersion"))


class LambdaInvoker:
    """The smoke-test ``Invoker``: synchronous invocations, each with its own deadline.

    Each call waits at most ``timeout_seconds`` for the answer (the client's read
    timeout; one client per timeout, built on first use, for this invoker only) and
    reports a call that got none as ``timed_out`` instead of raising. No SDK retries: a
    retried invocation would run a case twice and report the second latency;
    throttling surfaces as ``AwsThrottled`` instead, which the state machine retries.
    A fresh client also picks up any botocore hooks set since the process started.
    """

    def __init__(self, client: LambdaClient | None = None) -> None:
        self._client = client
        self._clients: dict[float, LambdaClient] = {}

    def __call__(self, function_name: str, qualifier: str, payload: bytes, *,
                 timeout_seconds: float) -> InvokeResult:
        client = self._client or self._for_timeout(timeout_seconds)
        try:
            return LambdaFunctions(client).invoke(function_name, qualifier, payload)
        except StackFlowError as e:
            if _read_timed_out(e):
                return InvokeResult(status_code=0, payload=b"", timed_out=True)
            raise

    def _for_timeout(self, timeout_seconds: float) -> LambdaClient:
        key = round(timeout_seconds, 1)
        if key not in self._clients:
            self._clients[key] = _invoke_client(key)
        return self._clients[key]


def _read_timed_out(error: StackFlowError) -> bool:
    # The adapter keeps botocore's error as the cause (raise ... from e).
    return type(error.__cause__).__name__ == "ReadTimeoutError"


def _invoke_client(read_timeout: float) -> LambdaClient:
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=read_timeout, retries={"total_max_attempts": 1})
    return boto3.client("lambda", config=config)


@cache
def deploy_client() -> LambdaClient:
    """The process's Lambda client for deployments: no SDK retries.

    Every deploy step is idempotent and the state machine retries ``AwsThrottled``
    with backoff, so a throttled or conflicting call surfaces once, visibly in the
    execution history, instead of being replayed blindly inside the SDK (a replayed
    ``PublishVersion`` whose first response was lost is exactly what Publish's own
    check for an already published version is there to handle).
    """
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))


def get_alias(function_name: str, alias: str, *,
              client: LambdaClient | None = None) -> AliasInfo:
    """Where ``function_name:alias`` points: version, routing weights, RevisionId."""
    return LambdaFunctions(client).get_alias(function_name, alias)


def function_config(raw: Mapping[str, Any]) -> FunctionConfig:
    return FunctionConfig(
        function_name=str(raw.get("FunctionName", "")),
        version=str(raw.get("Version", "$LATEST")),
        code_sha256=str(raw.get("CodeSha256", "")),
        revision_id=raw.get("RevisionId"),
        last_modified=raw.get("LastModified"),
        state=raw.get("State"),
        state_reason=raw.get("StateReason"),
        last_update_status=raw.get("LastUpdateStatus"),
        last_update_status_reason=raw.get("LastUpdateStatusReason"),
        last_update_status_reason_code=raw.get("LastUpdateStatusReasonCode"),
    )


def alias_info(raw: Mapping[str, Any]) -> AliasInfo:
    routing = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasInfo(name=str(raw.get("Name", "")), version=str(raw.get("FunctionVersion", "")),
                     routing={str(v): float(w) for v, w in routing.items()},
                     revision_id=raw.get("RevisionId"), arn=raw.get("AliasArn"))


def _name(function_name: str, qualifier: str | None) -> str:
    return f"{function_name}:{qualifier}" if qualifier else function_name
