"""The drift Lambda's event: an EventBridge scheduled event, or a manual invoke.

Every field of a scheduled event is ignored. A manual ``aws lambda invoke`` may narrow
the run with ``{"stacks": [...]}`` or make it read-only (no state, no notification)
with ``{"read_only": true}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_bool, opt_list


@dataclass(frozen=True)
class DriftRequest:
    stacks: tuple[str, ...] | None = None
    read_only: bool = False


def parse_event(event: Any) -> DriftRequest:
    obj = as_object({} if event is None else event)
    stacks = None
    if obj.get("stacks") is not None:  # null: every configured stack, as when absent
        stacks = tuple(opt_list(obj, "stacks"))
        for i, name in enumerate(stacks):
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"stacks[{i}]", "must be a non-empty stack name")
    return DriftRequest(stacks=stacks, read_only=opt_bool(obj, "read_only", False))
