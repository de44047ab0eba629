"""CloudFormation custom resources: the request a Lambda-backed resource receives, and
the response it must send back to CloudFormation's pre-signed URL.

The response is an HTTP PUT of a JSON document to ``ResponseURL`` (an S3 pre-signed
URL), not an AWS API call, so it needs no client and no permission. A resource that
never answers holds its stack for an hour, which is why a handler answers every request,
failures included.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stackflow.errors import AwsCallFailed
from stackflow.validation import as_object, req_str

SUCCESS, FAILED = "SUCCESS", "FAILED"
REASON_MAX = 1000  # CloudFormation shows the reason in the stack's events
Opener = Callable[..., Any]


@dataclass(frozen=True)
class CustomResourceRequest:
    """The parts of a custom-resource event a handler needs to act and to answer."""

    request_type: str  # Create | Update | Delete
    response_url: str
    stack_id: str
    request_id: str
    logical_resource_id: str
    physical_resource_id: str | None = None


def parse_request(event: Any) -> CustomResourceRequest:
    """The request, or ``InvalidRequest`` naming the missing field."""
    obj = as_object(event)
    physical = obj.get("PhysicalResourceId")
    return CustomResourceRequest(
        request_type=req_str(obj, "RequestType"),
        response_url=req_str(obj, "ResponseURL"),
        stack_id=req_str(obj, "StackId"),
        request_id=req_str(obj, "RequestId"),
        logical_resource_id=req_str(obj, "LogicalResourceId"),
        physical_resource_id=physical if isinstance(physical, str) else None,
    )


def response_body(request: CustomResourceRequest, *, status: str, reason: str,
                  physical_resource_id: str) -> dict[str, Any]:
    """The document CloudFormation expects at ``ResponseURL``."""
    return {"Status": status, "Reason": reason[:REASON_MAX],
            "PhysicalResourceId": physical_resource_id, "StackId": request.stack_id,
            "RequestId": request.request_id,
            "LogicalResourceId": request.logical_resource_id, "Data": {}}


def send_response(url: str, body: Mapping[str, Any], *,
                  opener: Opener = urllib.request.urlopen, timeout: float = 30) -> None:
    """PUT ``body`` to the pre-signed ``url`` (its signature has no content type)."""
    if not url.startswith("https://"):
        raise AwsCallFailed(f"refusing to answer CloudFormation at a non-HTTPS URL "
                            f"({url.split('?', 1)[0]})")
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (https only, checked above)
        url, data=data, method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(data))})
    try:
        with opener(request, timeout=timeout) as answer:
            answer.read()
    except OSError as e:
        raise AwsCallFailed(f"could not answer CloudFormation: {e}") from e
