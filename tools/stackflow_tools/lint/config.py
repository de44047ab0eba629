"""``[tool.stackflow.lint]`` in ``pyproject.toml``: which rules are off, and squawk's
settings. StackFlow's defaults fit what StackFlow does: the patcher sets
``lock_timeout`` and ``statement_timeout`` for every migration, and its phase-aware
``destructive-outside-contract`` replaces squawk's ``ban-drop-column``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackflow.errors import ConfigurationError

DEFAULT_DISABLED = frozenset({"require-lock-timeout", "require-statement-timeout",
                              "ban-drop-column"})
DEFAULT_PG_VERSION = "17"  # Aurora PostgreSQL's version in the app


@dataclass(frozen=True)
class LintConfig:
    disabled: frozenset[str] = DEFAULT_DISABLED
    squawk: bool = True
    pg_version: str = DEFAULT_PG_VERSION


def load_config(pyproject: Path) -> LintConfig:
    """The settings in ``pyproject`` (defaults when the file or the table is absent).
    ``disable`` adds to the defaults; ``enable`` takes a default back."""
    if not pyproject.is_file():
        return LintConfig()
    try:
        table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("stackflow", {})
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigurationError(f"{pyproject}: {e}", variable="tool.stackflow.lint") from e
    lint = table.get("lint", {})
    disable, enable = _names(lint, "disable"), _names(lint, "enable")
    squawk, version = lint.get("squawk", True), lint.get("pg_version", DEFAULT_PG_VERSION)
    if not isinstance(squawk, bool) or not isinstance(version, str):
        raise ConfigurationError("tool.stackflow.lint: squawk must be true/false and "
                                 "pg_version a string", variable="tool.stackflow.lint")
    return LintConfig((DEFAULT_DISABLED | disable) - enable, squawk, version)


def _names(lint: dict[str, Any], key: str) -> frozenset[str]:
    value = lint.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"tool.stackflow.lint.{key} must be a list of rule names",
                                 variable=f"tool.stackflow.lint.{key}")
    return frozenset(v.lower() for v in value)
