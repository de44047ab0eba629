"""Typed readers for the parts of the deployment document earlier steps wrote.

Each reader names the document path in its ``InvalidRequest`` (``lock.previous_version``,
``publish.version``...), so a state wired to the wrong ``ResultPath`` says which key
it missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stackflow.deploy.model import DeployInput, parse_input
from stackflow.errors import InvalidRequest
from stackflow.validation import (
    as_object,
    opt_bool,
    opt_int,
    opt_list,
    opt_number,
    opt_str,
    req_int,
    req_str,
)


@dataclass(frozen=True)
class LockResult:
    holder: str
    expires_at: str
    previous_version: str
    started_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"holder": self.holder, "expires_at": self.expires_at,
                "previous_version": self.previous_version, "started_at": self.started_at}


@dataclass(frozen=True)
class UploadResult:
    code_sha256: str
    revision_id: str | None
    last_modified: str | None


@dataclass(frozen=True)
class ShiftState:
    index: int
    weight: float
    wait_seconds: int
    done: bool
    started_at: str
    preexisting_alarms: tuple[str, ...]
    # When this step's weight was written (absent in documents of older releases).
    shifted_at: str | None = None
    # When each pre-existing alarm entered ALARM, as CloudWatch reported it then.
    preexisting_since: Mapping[str, str | None] = field(default_factory=dict)


def read_input(doc: Mapping[str, Any]) -> DeployInput:
    if doc.get("input") is None:
        raise InvalidRequest("input", "is required (the execution input, or Validate's result)")
    return parse_input(doc["input"])


def read_execution_id(doc: Mapping[str, Any]) -> str:
    return req_str(doc, "execution_id")


def read_lock(doc: Mapping[str, Any]) -> LockResult:
    lock = _part(doc, "lock")
    return LockResult(holder=req_str(lock, "holder", "lock."),
                      expires_at=req_str(lock, "expires_at", "lock."),
                      previous_version=version_number(lock, "previous_version", "lock."),
                      started_at=req_str(lock, "started_at", "lock."))


def read_upload(doc: Mapping[str, Any]) -> UploadResult:
    upload = _part(doc, "upload")
    return UploadResult(code_sha256=req_str(upload, "code_sha256", "upload."),
                        revision_id=opt_str(upload, "revision_id", prefix="upload."),
                        last_modified=opt_str(upload, "last_modified", prefix="upload."))


def read_published_version(doc: Mapping[str, Any]) -> str:
    return version_number(_part(doc, "publish"), "version", "publish.")


def read_shift(doc: Mapping[str, Any]) -> ShiftState | None:
    """The previous Shift's result, or None before the first shift."""
    if doc.get("shift") is None:
        return None
    shift = _part(doc, "shift")
    alarms = opt_list(shift, "preexisting_alarms", "shift.")
    if not all(isinstance(name, str) for name in alarms):
        raise InvalidRequest("shift.preexisting_alarms", "must be an array of alarm names")
    return ShiftState(index=req_int(shift, "index", minimum=0, prefix="shift."),
                      weight=opt_number(shift, "weight", 0.0, minimum=0, maximum=1,
                                        prefix="shift.") or 0.0,
                      wait_seconds=opt_int(shift, "wait_seconds", 0, minimum=0,
                                           prefix="shift.") or 0,
                      done=opt_bool(shift, "done", False, "shift."),
                      started_at=_timestamp(shift, "started_at"),
                      preexisting_alarms=tuple(alarms),
                      shifted_at=_timestamp(shift, "shifted_at") if "shifted_at" in shift
                      else None,
                      preexisting_since=_since(shift))


def _timestamp(shift: Mapping[str, Any], key: str) -> str:
    # Checked on read, so a bad value fails before any AWS call, naming its field.
    text = req_str(shift, key, "shift.")
    parse_iso(text, "shift." + key)
    return text


def _since(shift: Mapping[str, Any]) -> dict[str, str | None]:
    since = shift.get("preexisting_since")
    if since is None:
        return {}
    obj = as_object(since, "shift.preexisting_since")
    for name, value in obj.items():
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"shift.preexisting_since.{name}",
                                 "must be a timestamp string or null")
    return dict(obj)


def version_number(obj: Mapping[str, Any], key: str, prefix: str) -> str:
    """A published version number as Lambda writes it ("7"); never ``$LATEST``."""
    value = obj.get(key)
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise InvalidRequest(prefix + key, f"must be a published version number, got {value!r}")
    return text


def _part(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    if doc.get(key) is None:
        raise InvalidRequest(key, "is required (the result of an earlier step)")
    return as_object(doc[key], key)


def iso(moment: datetime) -> str:
    """UTC timestamp with seconds, as every record and result writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise InvalidRequest(field, f"must be a UTC timestamp like 2025-01-31T12:00:00Z, "
                                    f"got {text!r}") from e
