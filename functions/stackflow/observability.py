"""Powertools Logger, Metrics and Tracer, built once per process.

Handlers take these from here so every function logs with the same service name and
request id and emits metrics to one namespace (``POWERTOOLS_*`` variables set by CDK).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stackflow import env

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

DEFAULT_NAMESPACE = "StackFlow"


@cache
def get_logger(service: str = "stackflow") -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=service)


@cache
def get_metrics(service: str = "stackflow") -> Metrics:
    from aws_lambda_powertools import Metrics

    namespace = os.environ.get(env.POWERTOOLS_METRICS_NAMESPACE) or DEFAULT_NAMESPACE
    return Metrics(namespace=namespace, service=service)


@cache
def get_tracer(service: str = "stackflow") -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)


def tracing_active(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule: trace in Lambda unless disabled or in a local emulator.

    The X-Ray SDK behind the Tracer costs about as much to import as boto3 and psycopg
    together, so it is loaded only where it would trace at all.
    """
    environ = os.environ if environ is None else environ
    disabled = environ.get(env.POWERTOOLS_TRACE_DISABLED, "").strip().lower()
    local = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get(env.LAMBDA_TASK_ROOT)) and not local and disabled not in (
        "1", "true", "yes", "on")


F = TypeVar("F", bound=Callable[..., Any])


def traced(service: str) -> Callable[[F], F]:
    """Decorate a handler with Tracer.capture_lambda_handler where tracing is active."""
    def decorate(fn: F) -> F:
        if not tracing_active():
            return fn
        return cast(F, get_tracer(service).capture_lambda_handler(fn))
    return decorate
