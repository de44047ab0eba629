"""Manual approval: store the task token of a ``.waitForTaskToken`` state.

The Approval state invokes ``approval_request`` with
``{"document.$": "$", "task_token.$": "$$.Task.Token"}``; whoever approves reads the
token from ``APPROVAL#<execution id>`` and calls ``SendTaskSuccess`` (or
``SendTaskFailure`` with ``ApprovalRejected``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import iso
from stackflow.deploy.model import DeployInput
from stackflow.deploy.ports import ApprovalToken
from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, req_str

MAX_TOKEN_LENGTH = 2048  # SendTaskSuccess accepts no longer token


def split_event(event: Any) -> tuple[Mapping[str, Any], str]:
    """(document, task token) from ``{"document", "task_token"}`` or a flat document."""
    obj = as_object(event)
    token = req_str(obj, "task_token")
    if "document" in obj:
        return as_object(obj["document"], "document"), token
    return {k: v for k, v in obj.items() if k != "task_token"}, token


def request_approval(inp: DeployInput, execution_id: str, version: str | None, token: str,
                     deps: Deps) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest("task_token", "is longer than a Step Functions task token")
    approval = ApprovalToken(execution_id=execution_id, task_token=token,
                             requested_at=iso(deps.now()), function=inp.function_name,
                             alias=inp.alias, version=version)
    deps.store.put_approval(approval)
    # The token itself stays out of the result: the record and the logs keep results.
    return {"requested_at": approval.requested_at, "execution_id": execution_id,
            "version": version}
