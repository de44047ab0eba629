"""Powertools Logger, Metrics and Tracer, built once per process.

Handlers take these from here so every function logs with the same service name and
request id and emits metrics to one namespace (``POWERTOOLS_*`` variables set by CDK).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

DEFAULT_NAMESPACE = "StackFlow"


@cache
def get_logger(service: str = "stackflow") -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=service)


@cache
def get_metrics(service: str = "stackflow") -> Metrics:
    import os

    from aws_lambda_powertools import Metrics

    from stackflow import env

    namespace = os.environ.get(env.POWERTOOLS_METRICS_NAMESPACE) or DEFAULT_NAMESPACE
    return Metrics(namespace=namespace, service=service)


@cache
def get_tracer(service: str = "stackflow") -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)
