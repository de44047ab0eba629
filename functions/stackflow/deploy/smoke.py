"""Smoke test: invoke the new *version* (never the alias) with every case.

The alias still sends all traffic to the old version here, so invoking the version
number directly tests the new code without any user reaching it. Every case runs even
after one fails: the failure reports each case's outcome. Each case waits at most its
``timeout_seconds`` (and never past the step's own deadline): a case without an answer
fails with ``timeout``; the step goes on with the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackflow.deploy.deps import Deps
from stackflow.deploy.document import SmokeCaseResult, SmokeResult
from stackflow.deploy.model import DeployInput, SmokeSource
from stackflow.deploy.policy import check_case_count
from stackflow.deploy.smoke_cases import SmokeCase, check, parse_case, parse_cases, timed_out
from stackflow.errors import InvalidRequest, SmokeTestFailed

FIELD = "input.smoke"
# A case needs at least this long to mean anything; with less left it is not run.
MIN_CASE_SECONDS = 1.0


def smoke(inp: DeployInput, version: str, deps: Deps) -> SmokeResult:
    """Run every case against ``function:version``; raise SmokeTestFailed listing all."""
    cases = load_cases(inp.smoke, deps)
    check_case_count(len(cases), deps.settings.policy)
    results = [run_case(inp.function_name, version, case, deps) for case in cases]
    failed = [r for r in results if not r.passed]
    if failed:
        lines = "; ".join(_summary(r) for r in results)
        raise SmokeTestFailed(
            f"{len(failed)} of {len(results)} smoke cases failed against "
            f"{inp.function_name}:{version}: {lines}", cases=[r.to_dict() for r in results])
    return SmokeResult(version=version, cases=tuple(results))


def run_case(function_name: str, version: str, case: SmokeCase,
             deps: Deps) -> SmokeCaseResult:
    timeout = min(case.timeout_seconds, deps.seconds_to_spare())
    if timeout < MIN_CASE_SECONDS:
        return SmokeCaseResult(name=case.name, passed=False, latency_ms=0.0, failures=(
            "not run: the step's time ran out before this case (Lambda timeout)",))
    payload = json.dumps(case.payload).encode()
    started = deps.monotonic()
    response = deps.invoker(function_name, version, payload, timeout_seconds=timeout)
    latency_ms = (deps.monotonic() - started) * 1000
    failures = timed_out(case, timeout) if response.timed_out else \
        check(case, response.payload, response.function_error, latency_ms)
    return SmokeCaseResult(name=case.name, passed=not failures, failures=tuple(failures),
                           latency_ms=round(latency_ms, 1),
                           function_error=response.function_error)


def _summary(result: SmokeCaseResult) -> str:
    if result.passed:
        return f"{result.name}: passed"
    return f"{result.name}: " + ", ".join(result.failures)


def load_cases(source: SmokeSource, deps: Deps) -> tuple[SmokeCase, ...]:
    """The cases of an inline list, an S3 object, or a directory of JSON files."""
    if source.s3 is not None:
        s3 = source.s3
        raw = deps.read_object(s3.bucket, s3.key, s3.version_id)
        return parse_cases(_json(raw, f"{FIELD}.s3", f"s3://{s3.bucket}/{s3.key}"),
                           f"{FIELD}.s3")
    if source.dir is not None:
        return _dir_cases(source.dir, deps.settings.smoke_root)
    return source.cases


def _dir_cases(directory: str, root: Path | None) -> tuple[SmokeCase, ...]:
    path = Path(directory)
    if not path.is_absolute():
        path = (root or Path.cwd()) / path
    files = sorted(path.glob("*.json")) if path.is_dir() else []
    if not files:
        raise InvalidRequest(f"{FIELD}.dir", f"{path} holds no *.json smoke cases")
    cases: list[SmokeCase] = []
    for file in files:
        data = _json(file.read_bytes(), f"{FIELD}.dir", str(file))
        field = f"{FIELD}.dir[{file.name}]"
        if isinstance(data, dict) and "cases" not in data:
            cases.append(parse_case(data, field, default_name=file.stem))
        else:
            cases.extend(parse_cases(data, field))
    names = [case.name for case in cases]
    if len(set(names)) != len(names):
        raise InvalidRequest(f"{FIELD}.dir", f"two smoke cases share a name in {path}")
    return tuple(cases)


def _json(raw: bytes, field: str, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise InvalidRequest(field, f"{where} is not valid JSON: {e}") from e
