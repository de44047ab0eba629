"""``rollback-alias``'s schema part: what reverting the release's migrations would destroy.

The alias goes back in one ``UpdateAlias``; the schema stays as it is (the runbook:
alias first, then assess). The assessment is the patcher's rollback dry run against the
baseline the release's SchemaBefore took (kept in its record as ``schema_baseline``),
invoked like any other Lambda call; its failure never undoes or fails the rollback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from stackflow.deploy.ports import InvokeResult
from stackflow.deploy.schema_impact import UNKNOWN, impact_request
from stackflow.errors import StackFlowError

from stackflow_tools.patcher_text import impact_lines


class Invoke(Protocol):
    def invoke(self, function_name: str, qualifier: str, payload: bytes) -> InvokeResult: ...


def rollback_impact(record: Mapping[str, Any] | None, patcher_function: str,
                    functions: Invoke) -> dict[str, Any] | None:
    """``{"verdict", "impact"}`` (or ``{"verdict", "impact_error"}``); None when the
    release recorded no baseline (migrations off, or an earlier StackFlow)."""
    request = impact_request(record) if record is not None else None
    if request is None:
        return None
    try:
        answer = functions.invoke(patcher_function, "$LATEST", json.dumps(request).encode())
        body = json.loads(answer.payload or b"null")
    except (StackFlowError, ValueError) as e:
        return _unknown(type(e).__name__, str(e))
    if answer.function_error or not isinstance(body, dict) or "impact" not in body:
        body = body if isinstance(body, dict) else {}
        return _unknown(str(body.get("errorType", "PatcherFailed")),
                        str(body.get("errorMessage", "no impact report")))
    return {"verdict": body["impact"]["verdict"], "impact": body["impact"]}


def _unknown(error_type: str, message: str) -> dict[str, Any]:
    return {"verdict": UNKNOWN, "impact_error": {"type": error_type, "message": message}}


def impact_text(impact: Mapping[str, Any]) -> list[str]:
    if "impact" in impact:
        return ["schema (not rolled back): " + impact_lines(impact["impact"])[0]
                .removeprefix("impact: "), *impact_lines(impact["impact"])[1:]]
    error = impact["impact_error"]
    return [f"schema (not rolled back): {impact['verdict']} ({error['type']}: "
            f"{error['message']})"]
