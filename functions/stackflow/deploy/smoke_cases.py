"""Smoke cases and their expectations, as pure data and pure checks.

A case is ``{"name", "payload", "expect": {"status_code", "json_subset",
"max_latency_ms"}, "timeout_seconds"}``. Every case also expects no ``FunctionError``,
and an answer within ``timeout_seconds`` (default 30): a case that gets none fails
with ``timeout``. ``status_code`` is
the ``statusCode`` the function returned (an HTTP API response), not Lambda's invoke
status. ``json_subset`` must be contained in the decoded response; a string ``body``
that holds JSON (API Gateway responses) is decoded first, so
``{"body": {"status": "ok"}}`` matches ``{"statusCode": 200, "body": "{\\"status\\": \\"ok\\"}"}``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_number, opt_str, reject_unknown

_ABSENT: Any = object()
DEFAULT_CASE_TIMEOUT_SECONDS = 30.0
# Lambda runs a function for at most 900 s: no answer can take longer.
MAX_CASE_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Expect:
    status_code: int | None = None
    json_subset: Any = _ABSENT
    max_latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status_code is not None:
            out["status_code"] = self.status_code
        if self.json_subset is not _ABSENT:
            out["json_subset"] = self.json_subset
        if self.max_latency_ms is not None:
            out["max_latency_ms"] = json_number(self.max_latency_ms)
        return out


@dataclass(frozen=True)
class SmokeCase:
    name: str
    payload: Any
    expect: Expect
    timeout_seconds: float = DEFAULT_CASE_TIMEOUT_SECONDS

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "payload": self.payload, "expect": self.expect.to_dict(),
                "timeout_seconds": json_number(self.timeout_seconds)}


def json_number(value: float) -> float | int:
    """``3000`` rather than ``3000.0`` in normalized JSON: the number the user wrote."""
    return int(value) if float(value).is_integer() else value


def parse_cases(value: Any, field: str) -> tuple[SmokeCase, ...]:
    """A JSON array of cases (or ``{"cases": [...]}``); names must be unique."""
    if isinstance(value, Mapping) and set(value) == {"cases"}:
        value, field = value["cases"], field + ".cases"
    if not isinstance(value, list):
        raise InvalidRequest(field, "must be an array of smoke cases")
    cases = tuple(parse_case(item, f"{field}[{i}]") for i, item in enumerate(value))
    _unique_names(cases, field)
    return cases


def _unique_names(cases: tuple[SmokeCase, ...], field: str) -> None:
    seen: set[str] = set()
    for i, case in enumerate(cases):
        if case.name in seen:
            raise InvalidRequest(f"{field}[{i}].name", f"duplicate case name {case.name!r}")
        seen.add(case.name)


def parse_case(value: Any, field: str, default_name: str | None = None) -> SmokeCase:
    obj = as_object(value, field)
    reject_unknown(obj, {"name", "payload", "expect", "timeout_seconds"}, field + ".")
    name = opt_str(obj, "name", default_name, prefix=field + ".")
    if name is None:
        raise InvalidRequest(field + ".name", "is required")
    timeout = opt_number(obj, "timeout_seconds", DEFAULT_CASE_TIMEOUT_SECONDS,
                         maximum=MAX_CASE_TIMEOUT_SECONDS, prefix=field + ".")
    if timeout is None or timeout <= 0:
        raise InvalidRequest(field + ".timeout_seconds", f"must be above 0, got {timeout!r}")
    return SmokeCase(name=name, payload=obj.get("payload", {}),
                     expect=_expect(obj.get("expect"), field + ".expect"),
                     timeout_seconds=timeout)


def _expect(value: Any, field: str) -> Expect:
    obj = as_object(value, field) if value is not None else {}
    p = field + "."
    reject_unknown(obj, {"status_code", "json_subset", "max_latency_ms"}, p)
    status = obj.get("status_code")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                               or not 100 <= status <= 599):
        raise InvalidRequest(p + "status_code", f"must be an HTTP status (100-599), got {status!r}")
    return Expect(status_code=status, json_subset=obj.get("json_subset", _ABSENT),
                  max_latency_ms=opt_number(obj, "max_latency_ms", minimum=0, prefix=p))


def timed_out(case: SmokeCase, waited_seconds: float) -> list[str]:
    """The one failure of a case that got no answer in time."""
    return [f"timeout: no answer within {waited_seconds:g} s "
            f"(timeout_seconds {case.timeout_seconds:g})"]


def check(case: SmokeCase, payload: bytes, function_error: str | None,
          latency_ms: float) -> list[str]:
    """Every way the response missed the case's expectations (empty when it passed)."""
    failures: list[str] = []
    decoded = decode_response(payload)
    if function_error:
        failures.append(f"FunctionError {function_error}: {_error_summary(decoded)}")
    expect = case.expect
    if expect.status_code is not None:
        actual = decoded.get("statusCode") if isinstance(decoded, Mapping) else None
        if actual != expect.status_code:
            failures.append(f"status_code {actual!r} != expected {expect.status_code}")
    if expect.json_subset is not _ABSENT:
        mismatch = subset_mismatch(expect.json_subset, decoded, "$")
        if mismatch:
            failures.append(f"json_subset: {mismatch}")
    if expect.max_latency_ms is not None and latency_ms > expect.max_latency_ms:
        failures.append(f"latency {latency_ms:.0f} ms > max {expect.max_latency_ms:g} ms")
    return failures


def decode_response(payload: bytes) -> Any:
    """The response as JSON, with a JSON string ``body`` decoded in place."""
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        return payload.decode("utf-8", "replace")
    if isinstance(decoded, dict) and isinstance(decoded.get("body"), str):
        with contextlib.suppress(ValueError):  # a plain-text body stays a string
            decoded = {**decoded, "body": json.loads(decoded["body"])}
    return decoded


def subset_mismatch(expected: Any, actual: Any, path: str) -> str | None:
    """Where ``expected`` is not contained in ``actual`` (None when it is)."""
    if isinstance(expected, Mapping):
        return _object_mismatch(expected, actual, path)
    if isinstance(expected, list):
        return _array_mismatch(expected, actual, path)
    # True == 1 in Python, but not in a JSON response.
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return f"{path} is {_short(actual)}, expected {_short(expected)}"
    return None


def _object_mismatch(expected: Mapping[str, Any], actual: Any, path: str) -> str | None:
    if not isinstance(actual, Mapping):
        return f"{path} is {_short(actual)}, expected an object"
    for key, value in expected.items():
        if key not in actual:
            return f"{path}.{key} is missing"
        found = subset_mismatch(value, actual[key], f"{path}.{key}")
        if found:
            return found
    return None


def _array_mismatch(expected: list[Any], actual: Any, path: str) -> str | None:
    # Arrays match element by element: order in a response is meaningful.
    if not isinstance(actual, list) or len(actual) != len(expected):
        return f"{path} is {_short(actual)}, expected {_short(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
        found = subset_mismatch(e, a, f"{path}[{i}]")
        if found:
            return found
    return None


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_summary(decoded: Any) -> str:
    if isinstance(decoded, Mapping):
        return f"{decoded.get('errorType', '?')}: {decoded.get('errorMessage', '')}"
    return _short(decoded)
