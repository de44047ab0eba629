"""The typed patcher request, parsed from a Lambda event or CLI arguments.

Every malformed field is ``InvalidRequest`` naming it; nothing else escapes parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stackflow.errors import InvalidRequest
from stackflow.validation import (
    as_object,
    opt_bool,
    opt_int,
    opt_str,
    reject_unknown,
    req_str,
)

Action = Literal["migrate", "rollback", "status"]
ACTIONS: tuple[Action, ...] = ("migrate", "rollback", "status")
FIELDS = {"action", "dry_run", "target", "steps", "applied_by", "allow_out_of_order"}
MAX_APPLIED_BY = 200


@dataclass(frozen=True)
class PatcherRequest:
    """What to do. ``steps`` is rollback-only; ``target`` and ``steps`` exclude each other."""

    action: Action
    dry_run: bool = False
    target: int | None = None
    steps: int | None = None
    applied_by: str | None = None
    allow_out_of_order: bool = False

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidRequest("action", f"must be one of {list(ACTIONS)}, "
                                 f"got {self.action!r}")
        if self.steps is not None and self.action != "rollback":
            raise InvalidRequest("steps", "is only valid with action 'rollback'")
        if self.steps is not None and self.target is not None:
            raise InvalidRequest("steps", "give either steps or target, not both")
        if self.applied_by is not None and len(self.applied_by) > MAX_APPLIED_BY:
            raise InvalidRequest("applied_by", f"must be at most {MAX_APPLIED_BY} characters")


def parse_request(event: Any) -> PatcherRequest:
    """The request in a Lambda event: ``{"action": ..., "dry_run": ..., ...}``."""
    obj = as_object(event)
    reject_unknown(obj, FIELDS)
    action = req_str(obj, "action")
    if action not in ACTIONS:
        raise InvalidRequest("action", f"must be one of {list(ACTIONS)}, got {action!r}")
    return PatcherRequest(
        action=action,
        dry_run=opt_bool(obj, "dry_run", False),
        target=opt_int(obj, "target", minimum=0),
        steps=opt_int(obj, "steps", minimum=1),
        applied_by=opt_str(obj, "applied_by"),
        allow_out_of_order=opt_bool(obj, "allow_out_of_order", False),
    )
