"""The deployment input: parsed, checked and normalized (the ``Validate`` state).

``parse_input`` reads the execution input into a frozen :class:`DeployInput`;
``DeployInput.to_dict`` writes the normalized form with every optional field present.
Parsing a normalized document gives the same object back, so every later step re-reads
``$.input`` with the same function and gets the same field names in its errors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackflow.deploy.smoke_cases import SmokeCase, json_number, parse_cases
from stackflow.deploy.strategy import (
    DEFAULT_CHECK_INTERVAL_SECONDS,
    MAX_CHECK_INTERVAL_SECONDS,
    PlanStep,
    StrategySpec,
    parse_strategy,
    plan,
    spec_to_dict,
)
from stackflow.errors import InvalidRequest
from stackflow.validation import (
    as_object,
    opt_bool,
    opt_int,
    opt_list,
    opt_number,
    opt_object,
    opt_str,
    reject_unknown,
    req_str,
)

DEFAULT_ALIAS = "PROD"
INPUT_FIELDS = {"function_name", "alias", "artifact", "migrations", "smoke", "strategy",
                "alarms", "health", "approval", "ci"}
# A target of a multi-function release names these; the rest is shared (release.py).
TARGET_FIELDS = frozenset({"function_name", "alias", "artifact", "smoke", "alarms"})
HEALTH_FIELDS = {"error_threshold", "block_on_preexisting_alarm", "check_interval_seconds"}


@dataclass(frozen=True)
class Artifact:
    bucket: str
    key: str
    sha256: str
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id,
                "sha256": self.sha256}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str
    version_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id}


@dataclass(frozen=True)
class SmokeSource:
    """Where the smoke cases come from: inline, one S3 object, or a directory."""

    cases: tuple[SmokeCase, ...] = ()
    s3: S3Location | None = None
    dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.s3 is not None:
            return {"s3": self.s3.to_dict()}
        if self.dir is not None:
            return {"dir": self.dir}
        return {"cases": [case.to_dict() for case in self.cases]}


@dataclass(frozen=True)
class DeployInput:
    function_name: str
    alias: str
    artifact: Artifact
    preset: str | None
    strategy: StrategySpec
    migrations_enabled: bool = True
    migrations_target: int | None = None
    smoke: SmokeSource = field(default_factory=SmokeSource)
    alarms: tuple[str, ...] = ()
    error_threshold: float = 0.0
    block_on_preexisting_alarm: bool = False
    approval_required: bool = False
    ci: Mapping[str, Any] = field(default_factory=dict)
    check_interval_seconds: int = DEFAULT_CHECK_INTERVAL_SECONDS

    @property
    def plan(self) -> tuple[PlanStep, ...]:
        return plan(self.strategy, self.check_interval_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "alias": self.alias,
            "artifact": self.artifact.to_dict(),
            "migrations": {"enabled": self.migrations_enabled, "target": self.migrations_target},
            "smoke": self.smoke.to_dict(),
            "strategy": spec_to_dict(self.preset, self.strategy,
                                     self.check_interval_seconds),
            "alarms": list(self.alarms),
            "health": {"error_threshold": json_number(self.error_threshold),
                       "block_on_preexisting_alarm": self.block_on_preexisting_alarm,
                       "check_interval_seconds": self.check_interval_seconds},
            "approval": {"required": self.approval_required},
            "ci": dict(self.ci),
        }


def parse_input(value: Any, prefix: str = "input.") -> DeployInput:
    """Read and check an execution input; every error names its field."""
    obj = as_object(value, prefix.rstrip(".") or "input")
    reject_unknown(obj, INPUT_FIELDS, prefix)
    return DeployInput(**target_fields(obj, prefix), **shared_fields(obj, prefix))


def target_fields(obj: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """What names one target: function, alias, artifact, its smoke cases and alarms."""
    return {"function_name": req_str(obj, "function_name", prefix),
            "alias": _alias(obj, prefix), "artifact": _artifact(obj, prefix),
            "smoke": _smoke(obj.get("smoke"), prefix + "smoke"),
            "alarms": _alarms(obj, prefix)}


def shared_fields(obj: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """What a release shares between its targets: migrations, strategy, health, ..."""
    preset, spec = parse_strategy(obj.get("strategy"), prefix + "strategy")
    health = opt_object(obj, "health", prefix)
    reject_unknown(health, HEALTH_FIELDS, prefix + "health.")
    migrations = _migrations(obj, prefix)
    return {"preset": preset, "strategy": spec,
            "migrations_enabled": migrations[0], "migrations_target": migrations[1],
            "error_threshold": opt_number(health, "error_threshold", 0.0, minimum=0,
                                          prefix=prefix + "health.") or 0.0,
            "block_on_preexisting_alarm": opt_bool(health, "block_on_preexisting_alarm",
                                                   False, prefix + "health."),
            "approval_required": _approval(obj, prefix),
            "ci": opt_object(obj, "ci", prefix),
            "check_interval_seconds": _check_interval(health, prefix + "health.")}


def _check_interval(health: Mapping[str, Any], prefix: str) -> int:
    seconds = opt_int(health, "check_interval_seconds", minimum=1,
                      prefix=prefix) or DEFAULT_CHECK_INTERVAL_SECONDS
    if seconds > MAX_CHECK_INTERVAL_SECONDS:
        raise InvalidRequest(prefix + "check_interval_seconds",
                             f"must be <= {MAX_CHECK_INTERVAL_SECONDS}, got {seconds}")
    return seconds


def _alias(obj: Mapping[str, Any], prefix: str) -> str:
    alias = opt_str(obj, "alias", DEFAULT_ALIAS, prefix) or DEFAULT_ALIAS
    # A deployment moves an alias; a version number or $LATEST is not one.
    if alias == "$LATEST" or alias.isdigit():
        raise InvalidRequest(prefix + "alias", f"must name an alias, got {alias!r}")
    return alias


def _artifact(obj: Mapping[str, Any], prefix: str) -> Artifact:
    if obj.get("artifact") is None:
        raise InvalidRequest(prefix + "artifact", "is required")
    art = as_object(obj["artifact"], prefix + "artifact")
    p = prefix + "artifact."
    reject_unknown(art, {"bucket", "key", "version_id", "sha256"}, p)
    return Artifact(bucket=req_str(art, "bucket", p), key=req_str(art, "key", p),
                    sha256=_sha256(art, p), version_id=opt_str(art, "version_id", prefix=p))


def _sha256(art: Mapping[str, Any], prefix: str) -> str:
    value = req_str(art, "sha256", prefix)
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidRequest(prefix + "sha256", "must be base64 (as Lambda reports "
                                                "CodeSha256)") from e
    if len(digest) != 32:
        raise InvalidRequest(prefix + "sha256",
                             f"must encode 32 bytes (a SHA-256), got {len(digest)}")
    return value


def _migrations(obj: Mapping[str, Any], prefix: str) -> tuple[bool, int | None]:
    mig = opt_object(obj, "migrations", prefix)
    p = prefix + "migrations."
    reject_unknown(mig, {"enabled", "target"}, p)
    return opt_bool(mig, "enabled", True, p), opt_int(mig, "target", minimum=0, prefix=p)


def _smoke(value: Any, field: str) -> SmokeSource:
    if value is None:
        return SmokeSource()
    obj = as_object(value, field)
    p = field + "."
    if len(obj) != 1 or next(iter(obj)) not in ("cases", "s3", "dir"):
        raise InvalidRequest(field, 'must be exactly one of {"cases": [...]}, '
                                    '{"s3": {"bucket", "key"}} or {"dir": "..."}')
    if "s3" in obj:
        s3 = as_object(obj["s3"], p + "s3")
        reject_unknown(s3, {"bucket", "key", "version_id"}, p + "s3.")
        return SmokeSource(s3=S3Location(req_str(s3, "bucket", p + "s3."),
                                         req_str(s3, "key", p + "s3."),
                                         opt_str(s3, "version_id", prefix=p + "s3.")))
    if "dir" in obj:
        return SmokeSource(dir=req_str(obj, "dir", p))
    return SmokeSource(cases=parse_cases(obj["cases"], p + "cases"))


def _alarms(obj: Mapping[str, Any], prefix: str) -> tuple[str, ...]:
    alarms = opt_list(obj, "alarms", prefix)
    for i, name in enumerate(alarms):
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{prefix}alarms[{i}]", "must be a non-empty string")
    if len(set(alarms)) != len(alarms):
        raise InvalidRequest(prefix + "alarms", "names an alarm twice")
    return tuple(alarms)


def _approval(obj: Mapping[str, Any], prefix: str) -> bool:
    approval = opt_object(obj, "approval", prefix)
    reject_unknown(approval, {"required"}, prefix + "approval.")
    return opt_bool(approval, "required", False, prefix + "approval.")
