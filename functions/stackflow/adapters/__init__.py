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

from stackflow import env
from stackflow.errors import (
    AwsCallFailed,
    AwsThrottled,
    ConfigurationError,
    ResourceNotFound,
    StackFlowError,
)

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
    """A boto3 client for ``service``, built on first use and kept for warm invocations.

    Without a region (or with an unknown ``AWS_PROFILE``) boto3 cannot build one; that
    is the caller's setup, so it leaves as ``ConfigurationError`` saying what to set.
    """
    import boto3

    try:
        return boto3.client(service)  # type: ignore[call-overload]
    except Exception as e:
        setup = setup_error(e, f"creating the {service} client")
        if setup is None:
            raise
        raise setup from e


def error_code(e: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for anything else)."""
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def aws_error(e: Exception, what: str) -> StackFlowError:
    """Translate a botocore error raised while doing ``what`` into a StackFlow error."""
    if isinstance(e, ConfigurationError):
        # default_client's own error, raised inside the caller's try: still a setup problem.
        return ConfigurationError(f"{what}: {e.message}", **e.details)
    setup = setup_error(e, what)
    if setup is not None:
        return setup
    code = error_code(e)
    # botocore's network errors (ReadTimeoutError...) carry ``response = None``.
    response = getattr(e, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    message = str(error.get("Message", "")) or str(e)
    text = f"{what}: {code + ': ' if code else ''}{message}"
    if code in _THROTTLING_CODES or (not code and _is_connection_error(e)):
        return AwsThrottled(text, code=code)
    if code in _NOT_FOUND_CODES:
        return ResourceNotFound(text, code=code)
    return AwsCallFailed(text, code=code)


def check_aws_setup(what: str) -> None:
    """Fail fast when boto3 would find no region or no credentials.

    Reads only the local configuration (environment, profile files, the instance's
    role): no AWS API call. For commands that would otherwise report every part as
    failed, one error at a time.
    """
    import boto3

    try:
        session = boto3.Session()
        region, credentials = session.region_name, session.get_credentials()
    except Exception as e:
        setup = setup_error(e, what)
        if setup is None:
            raise
        raise setup from e
    if not region:
        raise no_region(what)
    if credentials is None:
        raise no_credentials(what)


def no_region(what: str) -> ConfigurationError:
    return ConfigurationError(
        f"{what}: no AWS region configured: set {env.AWS_DEFAULT_REGION} (or a region "
        f"in the profile {env.AWS_PROFILE} names)", variable=env.AWS_DEFAULT_REGION)


def no_credentials(what: str) -> ConfigurationError:
    return ConfigurationError(
        f"{what}: no AWS credentials found: set {env.AWS_PROFILE}, or "
        f"{env.AWS_ACCESS_KEY_ID} with {env.AWS_SECRET_ACCESS_KEY}, or run where a role "
        "provides them", variable=env.AWS_PROFILE)


def setup_error(e: Exception, what: str) -> ConfigurationError | None:
    """``ConfigurationError`` for botocore's missing region, credentials or profile."""
    # Matched by class name, like connection errors below: no botocore import here.
    names = {cls.__name__ for cls in type(e).__mro__}
    if "NoRegionError" in names:
        return no_region(what)
    if names & {"NoCredentialsError", "PartialCredentialsError"}:
        return no_credentials(what)
    if "ProfileNotFound" in names:
        return ConfigurationError(f"{what}: {e} (check {env.AWS_PROFILE})",
                                  variable=env.AWS_PROFILE)
    return None


def _is_connection_error(e: Exception) -> bool:
    # botocore's EndpointConnectionError / ConnectTimeoutError / ReadTimeoutError are all
    # transient network trouble; matched by name so this module never imports botocore.
    names = {cls.__name__ for cls in type(e).__mro__}
    return bool(names & {"EndpointConnectionError", "ConnectionError", "ConnectTimeoutError",
                         "ReadTimeoutError", "ConnectionClosedError"})
