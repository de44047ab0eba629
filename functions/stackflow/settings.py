"""Reading settings at the edge: environment variables into frozen objects.

An explicit argument beats the environment; a missing required variable fails fast
with ``ConfigurationError`` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stackflow.errors import ConfigurationError


def env_str(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def env_required(name: str, environ: Mapping[str, str] | None = None) -> str:
    value = env_str(name, environ)
    if value is None:
        raise ConfigurationError(f"environment variable {name} is required but not set",
                                 variable=name)
    return value


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    raw = env_str(name, environ)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {raw!r}",
                                 variable=name) from e


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, environ)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as e:
        raise ConfigurationError(f"environment variable {name} must be a number, got {raw!r}",
                                 variable=name) from e


_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, environ)
    if raw is None:
        return default
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise ConfigurationError(f"environment variable {name} must be true or false, got {raw!r}",
                             variable=name)


def env_list(name: str, environ: Mapping[str, str] | None = None) -> list[str]:
    raw = env_str(name, environ)
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []
