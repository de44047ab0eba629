"""The typed patcher request, parsed from a Lambda event or CLI arguments.

Every malformed field is ``InvalidRequest`` naming it; nothing else escapes parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stackflow.errors import InvalidRequest
from stackflow.migrations.impact import Baseline, parse_baseline
from stackflow.migrations.markers import RUN_PHASES, RunPhase
from stackflow.migrations.model import MAX_VERSION
from stackflow.validation import (
    as_object,
    opt_bool,
    opt_int,
    opt_str,
    req_str,
)

Action = Literal["migrate", "rollback", "status", "adopt"]
ACTIONS: tuple[Action, ...] = ("migrate", "rollback", "status", "adopt")
FIELDS = {"action", "dry_run", "target", "steps", "applied_by", "allow_out_of_order", "from",
          "baseline", "phase"}
# The tools whose history ``adopt`` can take over.
ADOPT_FROM: tuple[str, ...] = ("golang-migrate",)
MAX_APPLIED_BY = 200
# The run history stores target as bigint and steps as integer; larger values are
# refused here, naming the field, instead of failing as SQL when the run is recorded.
MAX_TARGET = MAX_VERSION
MAX_STEPS = 2**31 - 1


@dataclass(frozen=True)
class PatcherRequest:
    """What to do. ``steps`` is rollback-only; ``target`` and ``steps`` exclude each other;
    ``adopt_from`` (the event's ``from``) is the tool ``adopt`` takes over from."""

    action: Action
    dry_run: bool = False
    target: int | None = None
    steps: int | None = None
    applied_by: str | None = None
    allow_out_of_order: bool = False
    adopt_from: str | None = None
    # status: True takes a baseline of the tables pending down scripts touch; a rollback
    # dry run: the baseline (SchemaBefore's) its impact report compares against.
    baseline: bool | Baseline | None = None
    # migrate only: which pending migrations this run applies (markers.in_phase).
    phase: RunPhase = "all"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidRequest("action", f"must be one of {list(ACTIONS)}, "
                                 f"got {self.action!r}")
        _check_adopt(self)
        if self.steps is not None and self.action != "rollback":
            raise InvalidRequest("steps", "is only valid with action 'rollback'")
        if self.steps is not None and self.target is not None:
            raise InvalidRequest("steps", "give either steps or target, not both")
        _check_range("target", self.target, MAX_TARGET)
        _check_range("steps", self.steps, MAX_STEPS)
        if self.applied_by is not None:
            _check_applied_by(self.applied_by)
        _check_baseline(self)
        _check_phase(self)


def _check_phase(request: PatcherRequest) -> None:
    if request.phase not in RUN_PHASES:
        raise InvalidRequest("phase", f"must be one of {list(RUN_PHASES)}, "
                             f"got {request.phase!r}")
    if request.phase != "all" and request.action != "migrate":
        raise InvalidRequest("phase", "is only valid with action 'migrate'")


def _check_baseline(request: PatcherRequest) -> None:
    if request.baseline is None or request.baseline is False:
        return
    if request.baseline is True and request.action != "status":
        raise InvalidRequest("baseline", "true (take a baseline) is only valid with "
                             "action 'status'")
    if isinstance(request.baseline, Baseline) and not (
            request.action == "rollback" and request.dry_run):
        raise InvalidRequest("baseline", "an object is only valid with a rollback dry run")


def _check_adopt(request: PatcherRequest) -> None:
    if request.action != "adopt":
        if request.adopt_from is not None:
            raise InvalidRequest("from", "is only valid with action 'adopt'")
        return
    if request.adopt_from not in ADOPT_FROM:
        raise InvalidRequest("from", f"must be one of {list(ADOPT_FROM)}, "
                             f"got {request.adopt_from!r}")
    for field, value in (("target", request.target), ("steps", request.steps)):
        if value is not None:
            raise InvalidRequest(field, "is not valid with action 'adopt'")
    if request.allow_out_of_order:
        raise InvalidRequest("allow_out_of_order", "is not valid with action 'adopt'")


def _check_range(field: str, value: int | None, maximum: int) -> None:
    if value is not None and value > maximum:
        raise InvalidRequest(field, f"must be <= {maximum}")


def _check_applied_by(applied_by: str) -> None:
    if len(applied_by) > MAX_APPLIED_BY:
        raise InvalidRequest("applied_by", f"must be at most {MAX_APPLIED_BY} characters")
    # The name is stored as text (no NUL), put into the session's application_name (how
    # a waiting runner names the holder) and logged (UTF-8: no lone surrogates).
    if not applied_by.isprintable():
        raise InvalidRequest("applied_by", "must be printable text (no control characters, "
                             "line breaks or lone surrogates)")


def _reject_unknown(obj: Mapping[str, Any]) -> None:
    """``reject_unknown``, with an unprintable name quoted: the message must stay one
    line, and a lone surrogate cannot be written to a UTF-8 log."""
    unknown = sorted(str(k) for k in obj if k not in FIELDS)
    if unknown:
        name = unknown[0] if unknown[0].isprintable() else repr(unknown[0])
        raise InvalidRequest(name, f"unknown field (allowed: {sorted(FIELDS)})")


def parse_request(event: Any) -> PatcherRequest:
    """The request in a Lambda event: ``{"action": ..., "dry_run": ..., ...}``."""
    obj = as_object(event)
    _reject_unknown(obj)
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
        adopt_from=opt_str(obj, "from"),
        baseline=_read_baseline(obj.get("baseline")),
        phase=_read_phase(obj),
    )


def _read_phase(obj: Mapping[str, Any]) -> RunPhase:
    phase = opt_str(obj, "phase") or "all"
    for known in RUN_PHASES:
        if phase == known:
            return known
    raise InvalidRequest("phase", f"must be one of {list(RUN_PHASES)}, got {phase!r}")


def _read_baseline(value: Any) -> bool | Baseline | None:
    if value is None or isinstance(value, bool):
        return value
    return parse_baseline(value)
