"""Adapters: one module per AWS service (plus PostgreSQL), each exposing only the calls
StackFlow uses.

Clients are injected (``client=None`` builds one lazily and reuses it for the life of
the process, never at import time). Every ``ClientError`` / psycopg error leaves an
adapter as a ``stackflow.errors`` class, ``raise ... from e``.

This module stays import-light: it never imports boto3 or botocore at module level.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from stackflow.errors import AwsCallFailed, AwsThrottled, ResourceNotFound, StackFlowError

_THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException",
    "RequestThrottled", "RequestThrottledException", "PriorRequestNotComplete",
    "ResourceConflictException", "ServiceUnavailable", "InternalFailure", "InternalError",
})
_NOT_FOUND_CODES = frozenset({
    "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound",
    "404", "ValidationError.NotFound",
})


@cache
def default_client(service: str) -> Any:
    """A boto3 client for ``service``, built on first use and kept for warm invocations."""
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


def error_code(e: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for anything else)."""
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def aws_error(e: Exception, what: str) -> StackFlowError:
    """Translate a botocore error raised while doing ``what`` into a StackFlow error."""
    code = error_code(e)
    message = str(getattr(e, "response", {}).get("Error", {}).get("Message", "")) or str(e)
    text = f"{what}: {code + ': ' if code else ''}{message}"
    if code in _THROTTLING_CODES or (not code and _is_connection_error(e)):
        return AwsThrottled(text, code=code)
    if code in _NOT_FOUND_CODES:
        return ResourceNotFound(text, code=code)
    return AwsCallFailed(text, code=code)


def _is_connection_error(e: Exception) -> bool:
    # botocore's EndpointConnectionError / ConnectTimeoutError / ReadTimeoutError are all
    # transient network trouble; matched by name so this module never imports botocore.
    names = {cls.__name__ for cls in type(e).__mro__}
    return bool(names & {"EndpointConnectionError", "ConnectionError", "ConnectTimeoutError",
                         "ReadTimeoutError", "ConnectionClosedError"})
