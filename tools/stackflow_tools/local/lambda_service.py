"""Lambda's ``Invoke``, answered by running the invoked version's code.

moto stores functions, versions and aliases; :class:`LocalLambdaService` answers what
moto cannot run without Docker, for every caller alike (it is hooked into moto's Lambda
backend by :mod:`.patches`, so the state machine, a deploy step's smoke test and the AWS
CLI in another shell all reach it):

* ``FunctionName`` (name, partial or full ARN, with or without a qualifier) and
  ``Qualifier`` resolve to one version; an alias with routing weights picks a version
  by its weights, deterministically (10 % is exactly every tenth request);
* a request over 6 MB is refused with ``RequestEntityTooLargeException`` (HTTP 413);
* the version's package runs in its warm worker (:mod:`.workers`), and the answer is
  Lambda's: the payload, ``X-Amz-Function-Error`` and ``X-Amz-Executed-Version``;
* an asynchronous invocation (``InvocationType: Event``, or an EventBridge rule's
  target) runs in the background and, like Lambda's, is retried twice when the
  function fails, a minute and then two minutes later (scaled like every local wait).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError

from stackflow_tools.local.workers import MAX_REQUEST_BYTES, FunctionVersion, WorkerPool


@dataclass(frozen=True)
class Invocation:
    """One finished invocation (kept so tests and the progress view can inspect traffic)."""

    function_name: str
    qualifier: str | None
    executed_version: str
    error_type: str | None
    duration_ms: float
    started_at: float


# Lambda retries a failed asynchronous invocation twice: about 1 and 2 minutes later.
ASYNC_RETRY_DELAYS = (60.0, 120.0)


@dataclass
class AsyncInvocation:
    """One asynchronous invocation and its attempts (answer, error kind) so far."""

    function_name: str
    payload: bytes
    attempts: list[tuple[bytes, str | None]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class RequestTooLarge(JsonRESTError):
    """Lambda's answer to a request payload over 6 MB."""

    code = 413

    def __init__(self, size: int) -> None:
        super().__init__("RequestEntityTooLargeException",
                         f"{size} byte payload is too large for the RequestResponse "
                         f"invocation type (limit {MAX_REQUEST_BYTES} bytes)")


class LocalLambdaService:
    """Runs ``Invoke`` calls on warm workers and remembers what ran."""

    def __init__(self, pool: WorkerPool, time_scale: float = 1.0) -> None:
        self.pool = pool
        self.time_scale = time_scale
        self.history: list[Invocation] = []
        self.asynchronous: list[AsyncInvocation] = []
        self.listeners: list[Callable[[Invocation], None]] = []
        self._credits: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    def answer(self, backend: Any, function_name: str, qualifier: str | None, body: Any,
               headers: Any, response_headers: dict[str, str]) -> bytes | None:
        """moto's ``LambdaBackend.invoke``: the response payload of one call."""
        payload = _as_bytes(body)
        if len(payload) > MAX_REQUEST_BYTES:
            raise RequestTooLarge(len(payload))
        name, embedded = split_function_name(function_name)
        qualifier = qualifier or embedded
        function = backend.get_function(name, self._version(backend, name, qualifier))
        version = function_version(function)
        response_headers["x-amz-executed-version"] = version.version
        kind = _header(headers, "x-amz-invocation-type") or "RequestResponse"
        if kind == "DryRun":
            return b""
        if kind == "Event":
            self._in_background(version, payload, qualifier)
            return b""
        result, error = self.run(version, payload, qualifier)
        if error:
            response_headers["x-amz-function-error"] = error
        response_headers["Content-Length"] = str(len(result))
        return result

    def invoke_event(self, backend: Any, function_name: str, payload: bytes) -> None:
        """An asynchronous invocation from an EventBridge rule (its target ARN)."""
        name, qualifier = split_function_name(function_name)
        function = backend.get_function(name, self._version(backend, name, qualifier))
        self._in_background(function_version(function), payload, qualifier)

    def _in_background(self, version: FunctionVersion, payload: bytes,
                       qualifier: str | None) -> AsyncInvocation:
        call = AsyncInvocation(version.function_name, payload)
        with self._lock:
            self.asynchronous.append(call)

        def attempts() -> None:
            try:
                for delay in (0.0, *ASYNC_RETRY_DELAYS):
                    time.sleep(delay * self.time_scale)
                    result = self.run(version, payload, qualifier)
                    call.attempts.append(result)
                    if result[1] is None:
                        return
            finally:
                call.done.set()

        threading.Thread(target=attempts, daemon=True, name="lambda-async").start()
        return call

    def settle(self, timeout: float) -> bool:
        """Wait for every asynchronous invocation started so far; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            pending = list(self.asynchronous)
        return all(call.done.wait(max(0.0, deadline - time.monotonic())) for call in pending)

    def run(self, version: FunctionVersion, payload: bytes,
            qualifier: str | None = None) -> tuple[bytes, str | None]:
        """Run one invocation of ``version``; the response payload and the error kind."""
        started = time.time()
        clock = time.monotonic()
        outcome = self.pool.invoke(version, payload or b"{}", str(uuid.uuid4()),
                                   _trace_id(started))
        self._record(Invocation(version.function_name, qualifier, version.version,
                                _error_type(outcome.payload) if outcome.error_type else None,
                                (time.monotonic() - clock) * 1000, started))
        return outcome.payload, outcome.error_type

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self.history.append(invocation)
        for listener in self.listeners:
            listener(invocation)

    def _version(self, backend: Any, name: str, qualifier: str | None) -> str | None:
        if not qualifier or qualifier == "$LATEST" or qualifier.isdigit():
            return qualifier
        alias = backend.get_alias(qualifier, name)
        weights = (alias.routing_config or {}).get("AdditionalVersionWeights") or {}
        return self._pick(name, qualifier, str(alias.function_version), weights)

    def _pick(self, name: str, alias: str, primary: str, weights: dict[str, float]) -> str:
        """Route by the alias's weights, deterministically.

        Lambda draws at random; locally each extra version earns its weight in credit
        per request and serves the request that completes a whole credit, so 10% is
        exactly every tenth request and a demo or test never depends on luck.
        """
        with self._lock:
            credits = self._credits.setdefault((name, alias), {})
            for version, weight in weights.items():
                credits[version] = credits.get(version, 0.0) + float(weight)
            ready = [v for v in sorted(weights) if credits[v] >= 1 - 1e-9]
            if ready:
                credits[ready[0]] -= 1
                return ready[0]
        return primary


def function_version(function: Any) -> FunctionVersion:
    """What a worker needs of one of moto's ``LambdaFunction`` objects."""
    return FunctionVersion(
        function_name=str(function.function_name),
        function_arn=str(function.function_arn),
        version=str(function.version),
        handler=str(function.handler),
        runtime=str(function.run_time),
        timeout_seconds=int(function.timeout),
        memory_mb=int(function.memory_size),
        environment={str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        code_sha256=str(function.code_sha_256),
        code=bytes(function.code_bytes),
    )


def split_function_name(value: str) -> tuple[str, str | None]:
    """``name``, ``name:qualifier``, partial or full ARN -> (name, qualifier)."""
    parts = value.split(":")
    if value.startswith("arn:"):
        return parts[6], (parts[7] if len(parts) > 7 else None)
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:q]
        return parts[2], (parts[3] if len(parts) > 3 else None)
    if len(parts) == 2:
        return parts[0], parts[1]
    return value, None


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return str(body).encode()


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def _error_type(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("errorType") or "Unhandled")
    except (ValueError, AttributeError):
        return "Unhandled"


def _trace_id(started: float) -> str:
    # X-Ray's format: Root=1-<epoch seconds, hex>-<96 random bits, hex>.
    return f"Root=1-{int(started):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
