"""Small typed readers for JSON payloads: every failure is ``InvalidRequest(field)``.

Hand-written rather than pydantic: a handler's import is its cold start, and these
few functions cost nothing to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from stackflow.errors import InvalidRequest

T = TypeVar("T")


def as_object(value: Any, field: str = "event") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(field, f"must be a JSON object, got {type_name(value)}")
    return value


def reject_unknown(obj: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise InvalidRequest(prefix + unknown[0], f"unknown field (allowed: {sorted(allowed)})")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "array", dict: "object"}.get(type(value), type(value).__name__)


def req_str(obj: Mapping[str, Any], key: str, prefix: str = "") -> str:
    if key not in obj:
        raise InvalidRequest(prefix + key, "is required")
    return _str(obj[key], prefix + key)


def opt_str(obj: Mapping[str, Any], key: str, default: str | None = None,
            prefix: str = "") -> str | None:
    value = obj.get(key)
    return default if value is None else _str(value, prefix + key)


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(field, f"must be a non-empty string, got {type_name(value)}")
    return value


def opt_bool(obj: Mapping[str, Any], key: str, default: bool, prefix: str = "") -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(prefix + key, f"must be a boolean, got {type_name(value)}")
    return value


def opt_int(obj: Mapping[str, Any], key: str, default: int | None = None, *,
            minimum: int | None = None, prefix: str = "") -> int | None:
    value = obj.get(key)
    if value is None:
        return default
    return _int(value, prefix + key, minimum)


def req_int(obj: Mapping[str, Any], key: str, *, minimum: int | None = None,
            prefix: str = "") -> int:
    if key not in obj or obj[key] is None:
        raise InvalidRequest(prefix + key, "is required")
    return _int(obj[key], prefix + key, minimum)


def _int(value: Any, field: str, minimum: int | None) -> int:
    # bool is an int subclass in Python but never a valid JSON integer here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(field, f"must be an integer, got {type_name(value)}")
    if minimum is not None and value < minimum:
        raise InvalidRequest(field, f"must be >= {minimum}, got {value}")
    return value


def opt_number(obj: Mapping[str, Any], key: str, default: float | None = None, *,
               minimum: float | None = None, maximum: float | None = None,
               prefix: str = "") -> float | None:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(prefix + key, f"must be a number, got {type_name(value)}")
    if minimum is not None and value < minimum:
        raise InvalidRequest(prefix + key, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidRequest(prefix + key, f"must be <= {maximum}, got {value}")
    return float(value)


def opt_list(obj: Mapping[str, Any], key: str, prefix: str = "") -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(prefix + key, f"must be an array, got {type_name(value)}")
    return value


def opt_object(obj: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    return as_object(value, prefix + key)
