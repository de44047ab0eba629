"""Lambda workers: a version's package, its configuration and Lambda's runtime, no more."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from stackflow_tools.local import workers
from stackflow_tools.local.workers import (
    CodeStore,
    FunctionVersion,
    Platform,
    WorkerPool,
    XrayDaemonSink,
)
from stackflow_tools.release.package import WHEEL_CACHE

from tests.support.local_assets import handlers_package, zip_of

# What every Lambda execution environment has beside the function's own variables.
LAMBDA_RESERVED = {
    "_HANDLER", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "LANG", "PATH", "TZ", "_X_AMZN_TRACE_ID",
}
# The one value local mode substitutes for what Lambda reaches without a variable, and
# what CPython adds itself where LANG's locale is not installed (PEP 538 coercion).
LOCAL_ENDPOINT = {"AWS_ENDPOINT_URL"}
SET_BY_PYTHON = {"LC_CTYPE"}


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[WorkerPool]:
    sink = XrayDaemonSink()
    platform = Platform("us-east-1", "http://127.0.0.1:9", tmp_path / "logs", sink.address)
    pool = WorkerPool(CodeStore(tmp_path / "lambda", WHEEL_CACHE, lambda _: None), platform)
    yield pool
    pool.close()
    sink.close()


def _version(handler: str, code: bytes, *, version: str = "1", timeout: int = 10,
             variables: dict[str, str] | None = None,
             runtime: str = "python3.13") -> FunctionVersion:
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    return FunctionVersion("Probe", "arn:aws:lambda:us-east-1:123456789012:function:Probe",
                           version, handler, runtime, timeout, 256, variables or {}, sha, code)


def _call(pool: WorkerPool, version: FunctionVersion, event: object) -> tuple[str | None, object]:
    outcome = pool.invoke(version, json.dumps(event).encode(), "req-1",
                          "Root=1-00000000-000000000000000000000000;Sampled=0")
    return outcome.error_type, json.loads(outcome.payload)


def test_a_function_sees_its_variables_and_lambdas_own_nothing_more(pool: WorkerPool) -> None:
    # GIVEN a version whose configuration sets one variable
    version = _version("local_handlers.environment", zip_of(handlers_package()),
                       variables={"GREETING": "hi"})
    # WHEN it runs
    error, answer = _call(pool, version, {})
    assert error is None, answer
    assert isinstance(answer, dict)
    # THEN its environment is that variable plus what Lambda sets, nothing from this shell
    names = set(answer["variables"])
    assert names - LAMBDA_RESERVED - LOCAL_ENDPOINT - SET_BY_PYTHON == {"GREETING"}
    assert not {"DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "HOME"} & names
    # AND the context is the runtime's, from the configuration (the client reports the
    # memory as a string, as it does on Lambda)
    assert (answer["memory"], answer["version"]) == ("256", "1")


def test_a_warm_worker_is_reused_and_a_new_version_gets_a_new_one(pool: WorkerPool) -> None:
    # GIVEN a version invoked once
    code = zip_of(handlers_package())
    first = _call(pool, _version("local_handlers.environment", code), {})[1]
    # WHEN it is invoked again / THEN the same process answered (a warm environment)
    again = _call(pool, _version("local_handlers.environment", code), {})[1]
    assert isinstance(first, dict)
    assert isinstance(again, dict)
    assert again["pid"] == first["pid"]
    # WHEN another version of the same code is invoked / THEN a new environment runs it
    other = _call(pool, _version("local_handlers.environment", code, version="2"), {})[1]
    assert isinstance(other, dict)
    assert other["pid"] != first["pid"]


def test_a_missing_module_is_runtime_import_module_error(pool: WorkerPool) -> None:
    # GIVEN a package whose handler imports what the zip lacks (and this machine has)
    code = zip_of({"app.py": b"import psycopg\n\ndef handler(event, context):\n    return 1\n"})
    # WHEN it is invoked / THEN the runtime's own init error comes back
    error, body = _call(pool, _version("app.handler", code), {})
    assert error == "Unhandled"
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'psycopg'" in body["errorMessage"]


def test_a_response_over_six_megabytes_is_lambdas_size_error(pool: WorkerPool) -> None:
    # GIVEN a handler returning 7 MB / WHEN it runs / THEN Lambda's size error replaces it
    version = _version("local_handlers.big", zip_of(handlers_package()))
    error, body = _call(pool, version, {"bytes": 7 * 1024 * 1024})
    assert error == "Unhandled"
    assert isinstance(body, dict)
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_without_the_runtimes_python_the_package_is_rebuilt_for_this_one_and_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a machine without the function's Python, and the packaged functions zip
    said: list[str] = []
    monkeypatch.setattr(workers, "find_python", lambda _version: None)
    sink = XrayDaemonSink()
    platform = Platform("us-east-1", "http://127.0.0.1:9", tmp_path / "logs", sink.address)
    pool = WorkerPool(CodeStore(tmp_path / "lambda", WHEEL_CACHE, said.append), platform)
    code = _functions_zip()
    try:
        # WHEN the patcher runs with a malformed event (no database needed)
        error, body = _call(pool, _version("patcher.handler.handler", code),
                            {"action": "bogus"})
    finally:
        pool.close()
        sink.close()
    # THEN its own code answered (psycopg imported: the compiled wheel was swapped) ...
    assert error == "Unhandled"
    assert isinstance(body, dict)
    assert body["errorType"] == "InvalidRequest"
    # ... and local mode said once that it rebuilt the package for this interpreter
    assert len(said) == 1
    assert "rebuilt for python3." in said[0]


def _functions_zip() -> bytes:
    from stackflow_tools.release import package, wheels

    bundle = package.bundle_named("stackflow-functions")
    return package.ensure_built(bundle, wheels.lambda_target("3.13", "x86_64")).read_bytes()
