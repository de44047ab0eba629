"""Lambda, in process: run the project's handlers for ``lambda:Invoke`` calls.

A botocore ``before-call.lambda.Invoke`` hook answers every ``Invoke`` made by any
boto3 client created after :meth:`LocalLambda.install` (moto's Step Functions engine
builds a fresh client per task, and the smoke step builds its own), so the state
machine and the deploy steps call the real handlers without Docker.

What the hook does is what the Lambda service does:

* resolve ``FunctionName`` + ``Qualifier`` (alias routing weights included) to one
  published version and read that version's configuration from (moto) Lambda;
* pick the code: a version whose ``CodeSha256`` was registered in the
  :class:`CodeCatalog` runs that build's handler; any other runs its ``Handler``;
* run it with the version's environment variables overlaid and a context whose
  remaining time counts down from the function's ``Timeout``;
* answer ``StatusCode: 200`` with the payload, or with ``FunctionError: Unhandled``
  and ``{"errorType", "errorMessage", "stackTrace"}`` (the exception class name is
  the ``errorType`` Step Functions matches in ``Retry``/``Catch``).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.handlers import BUILTIN_HANDLERS
from botocore.response import StreamingBody

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

Handler = Callable[[Any, Any], Any]
_CAPTURE_EVENT = "before-parameter-build.lambda.Invoke"
_CALL_EVENT = "before-call.lambda.Invoke"
_PARAMS_KEY = "stackflow_local_invoke"
_RUNTIME_VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")


@dataclass(frozen=True)
class VersionConfig:
    """The configuration of one function version, as ``GetFunctionConfiguration`` says."""

    function_name: str
    function_arn: str
    version: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    code_sha256: str


@dataclass(frozen=True)
class Invocation:
    """One finished invocation (kept so tests and the progress view can inspect traffic)."""

    function_name: str
    qualifier: str | None
    executed_version: str
    error_type: str | None
    duration_ms: float
    started_at: float


@dataclass
class CodeCatalog:
    """Which handler to run for a code package, by its base64 SHA-256 (``CodeSha256``)."""

    handlers: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def register(self, code_sha256: str, handler: str, label: str) -> None:
        self.handlers[code_sha256] = handler
        self.labels[code_sha256] = label

    def handler_for(self, config: VersionConfig) -> str:
        return self.handlers.get(config.code_sha256, config.handler)

    def label_for(self, code_sha256: str) -> str | None:
        return self.labels.get(code_sha256)


class LocalLambdaContext:
    """The Lambda context object, with a real clock behind the remaining time."""

    def __init__(self, config: VersionConfig, request_id: str,
                 clock: Callable[[], float]) -> None:
        self.function_name = config.function_name
        self.function_version = config.version
        self.invoked_function_arn = config.function_arn
        self.memory_limit_in_mb = config.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{config.function_name}"
        self.log_stream_name = f"local/{request_id}"
        self._clock = clock
        self._deadline = clock() + config.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


class _ThreadStreams(io.TextIOBase):
    """``sys.stdout`` stand-in sending a thread's output where that thread asked."""

    def __init__(self, default: IO[str]) -> None:
        self.default = default
        self.local = threading.local()

    def target(self) -> IO[str]:
        return getattr(self.local, "target", None) or self.default

    def write(self, text: str) -> int:
        return self.target().write(text)

    def flush(self) -> None:
        self.target().flush()


class LocalLambda:
    """Answers ``lambda:Invoke`` in process with the project's handlers."""

    def __init__(self, client_factory: Callable[[], LambdaClient], *,
                 catalog: CodeCatalog | None = None,
                 base_environ: Mapping[str, str] | None = None,
                 log_stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.catalog = catalog or CodeCatalog()
        self.history: list[Invocation] = []
        self.listeners: list[Callable[[Invocation], None]] = []
        self._client_factory = client_factory
        self._client: LambdaClient | None = None
        self._base_environ = dict(base_environ or {})
        self._log_stream = log_stream
        # Public so a test can drive a context's remaining time with its own clock.
        self.clock = clock
        self._credits: dict[tuple[str, str], dict[str, float]] = {}
        # One invocation at a time, like a reserved concurrency of 1; re-entrant
        # because the smoke step invokes the target function from inside a handler.
        self._lock = threading.RLock()
        self._installed = False
        self._streams: _ThreadStreams | None = None
        self._reserved: set[str] = set()

    # --- botocore hook ---------------------------------------------------------------
    def install(self) -> None:
        """Answer ``Invoke`` for every boto3/botocore session created from now on.

        The hooks stay registered for the life of the process and answer for whichever
        local Lambda is installed: a client a handler cached during an earlier local
        session must reach this one, not the one it was built under.
        """
        global _active
        if self._installed:
            return
        for entry in _HOOKS:
            if entry not in BUILTIN_HANDLERS:
                BUILTIN_HANDLERS.append(entry)
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            events: Any = boto3.DEFAULT_SESSION.events  # stubs expect None-returning hooks
            for event, hook in _HOOKS:
                events.register(event, hook)
        if self._log_stream is not None:
            self._streams = _ThreadStreams(sys.stdout)
            sys.stdout = self._streams
        _active = self
        self._installed = True

    def uninstall(self) -> None:
        global _active
        if not self._installed:
            return
        if _active is self:
            _active = None
        if self._streams is not None and sys.stdout is self._streams:
            sys.stdout = self._streams.default
        self._installed = False

    def answer(self, params: Mapping[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        """The response to one ``Invoke`` call with these API parameters."""
        try:
            config = self.resolve(str(params["FunctionName"]), params.get("Qualifier"))
        except ClientError as e:  # ResourceNotFoundException, as Lambda answers it
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 404))
            http: Any = {}
            return AWSResponse("local://lambda", status, http, None), dict(e.response)
        invocation_type = params.get("InvocationType", "RequestResponse")
        payload, error = self.run(config, _payload_bytes(params.get("Payload")),
                                  qualifier=params.get("Qualifier"))
        return _response(config.version, payload, error, invocation_type)

    # --- resolution ------------------------------------------------------------------
    @property
    def client(self) -> LambdaClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def resolve(self, function_name: str, qualifier: str | None) -> VersionConfig:
        """The version an invocation of ``function_name:qualifier`` runs."""
        name, embedded = split_function_name(function_name)
        qualifier = qualifier or embedded
        version = qualifier or "$LATEST"
        if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
            version = self._pick_alias_version(name, qualifier)
        return self.configuration(name, version)

    def configuration(self, name: str, version: str) -> VersionConfig:
        raw = self.client.get_function_configuration(FunctionName=name, Qualifier=version)
        return VersionConfig(
            function_name=raw["FunctionName"],
            function_arn=raw["FunctionArn"],
            version=raw.get("Version", version),
            handler=raw.get("Handler", ""),
            environment=dict(raw.get("Environment", {}).get("Variables", {})),
            timeout_seconds=int(raw.get("Timeout", 3)),
            memory_mb=int(raw.get("MemorySize", 128)),
            code_sha256=raw.get("CodeSha256", ""),
        )

    def _pick_alias_version(self, name: str, alias: str) -> str:
        """Route by the alias's weights, deterministically.

        Lambda draws at random; locally each extra version earns its weight in credit
        per request and serves the request that completes a whole credit, so 10% is
        exactly every tenth request and a demo or test never depends on luck.
        """
        raw = self.client.get_alias(FunctionName=name, Name=alias)
        weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        credits = self._credits.setdefault((name, alias), {})
        for version, weight in weights.items():
            credits[version] = credits.get(version, 0.0) + weight
        ready = [v for v in sorted(weights) if credits[v] >= 1 - 1e-9]
        if ready:
            credits[ready[0]] -= 1
            return ready[0]
        return raw["FunctionVersion"]

    # --- running ---------------------------------------------------------------------
    def run(self, config: VersionConfig, payload: bytes, *,
            qualifier: str | None = None) -> tuple[bytes, str | None]:
        """Run one invocation; return the response payload and the error type, if any."""
        request_id = str(uuid.uuid4())
        clock = self.clock
        started = clock()
        with self._lock, self._environment(config), self._output():
            context = LocalLambdaContext(config, request_id, clock)
            body, error = _execute(self.catalog.handler_for(config), payload, context)
        elapsed = clock() - started
        if error is None and elapsed > config.timeout_seconds:
            body, error = _timeout_payload(request_id, config.timeout_seconds)
        self._record(Invocation(config.function_name, qualifier, config.version, error,
                                elapsed * 1000, started))
        return body, error

    def _record(self, invocation: Invocation) -> None:
        self.history.append(invocation)
        for listener in self.listeners:
            listener(invocation)

    def reserve(self, names: Iterable[str]) -> None:
        """Create every variable a function may set, empty, before any handler runs.

        Other threads (moto's engine, the caller polling) iterate ``os.environ`` when
        they build clients; adding or deleting a key meanwhile breaks that iteration.
        With every name present up front, an invocation only changes values, and an
        empty value reads as unset (``stackflow.settings.env_str``).
        """
        for name in {*names, *_RUNTIME_VARIABLES, *self._base_environ}:
            if name not in os.environ:
                self._reserved.add(name)
                os.environ[name] = ""

    def release(self) -> None:
        """Remove the variables :meth:`reserve` created."""
        for name in self._reserved:
            os.environ.pop(name, None)
        self._reserved.clear()

    @contextmanager
    def _environment(self, config: VersionConfig) -> Iterator[None]:
        """The version's variables over the base environment, restored afterwards."""
        before = dict(os.environ)
        target = {**before, **self._base_environ, **config.environment,
                  "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
                  "AWS_LAMBDA_FUNCTION_VERSION": config.version,
                  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb)}
        self._set_environ(target)
        try:
            yield
        finally:
            self._set_environ(before)

    def _set_environ(self, target: Mapping[str, str]) -> None:
        for key in [k for k in os.environ if k not in target]:
            if key in self._reserved:
                os.environ[key] = ""
            else:
                del os.environ[key]
        for key, value in target.items():
            if os.environ.get(key) != value:
                os.environ[key] = value

    @contextmanager
    def _output(self) -> Iterator[None]:
        """Send what a handler prints (its logs) to the log stream, like CloudWatch Logs."""
        streams = self._streams
        if streams is None:
            yield
            return
        previous = getattr(streams.local, "target", None)
        streams.local.target = self._log_stream
        try:
            yield
        finally:
            streams.local.target = previous


_active: LocalLambda | None = None


def _capture_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # before-call sees only the serialized request; keep the API parameters for it.
    if _active is not None:
        context[_PARAMS_KEY] = dict(params)


def _before_call(context: dict[str, Any],
                 **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
    params = context.get(_PARAMS_KEY)
    invoker = _active
    if params is None or invoker is None:
        return None
    return invoker.answer(params)


_HOOKS = ((_CAPTURE_EVENT, _capture_params), (_CALL_EVENT, _before_call))


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


def load_handler(path: str) -> Handler:
    module_name, _, attribute = path.rpartition(".")
    module = importlib.import_module(module_name)
    handler: Handler = getattr(module, attribute)
    return handler


def _execute(handler_path: str, payload: bytes,
             context: LocalLambdaContext) -> tuple[bytes, str | None]:
    try:
        handler = load_handler(handler_path)
    except ImportError as e:
        return _runtime_error("Runtime.ImportModuleError",
                              f"Unable to import module '{handler_path}': {e}", context)
    except (AttributeError, ValueError):
        return _runtime_error("Runtime.HandlerNotFound",
                              f"Handler '{handler_path}' missing on module", context)
    try:
        event = json.loads(payload) if payload.strip() else {}
    except ValueError as e:
        return _runtime_error("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}",
                              context)
    try:
        result = handler(event, context)
    except Exception as e:  # the runtime reports every exception the handler raises
        return error_payload(e, context.aws_request_id), "Unhandled"
    try:
        return json.dumps(result).encode(), None
    except (TypeError, ValueError) as e:
        return _runtime_error("Runtime.MarshalError", f"Unable to marshal response: {e}",
                              context)


def error_payload(error: BaseException, request_id: str) -> bytes:
    """The JSON the Python runtime returns for an unhandled exception."""
    # The first frame is this runtime calling the handler; Lambda shows none of its own.
    trace = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
    return json.dumps({
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": trace,
    }).encode()


def _runtime_error(error_type: str, message: str,
                   context: LocalLambdaContext) -> tuple[bytes, str | None]:
    body = {"errorMessage": message, "errorType": error_type,
            "requestId": context.aws_request_id, "stackTrace": []}
    return json.dumps(body).encode(), "Unhandled"


def _timeout_payload(request_id: str, timeout_seconds: int) -> tuple[bytes, str | None]:
    body = {"errorMessage": f"Task timed out after {timeout_seconds:.2f} seconds",
            "errorType": "Sandbox.Timedout", "requestId": request_id}
    return json.dumps(body).encode(), "Unhandled"


def _payload_bytes(payload: Any) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    read = getattr(payload, "read", None)
    return bytes(read()) if read is not None else json.dumps(payload).encode()


def _response(version: str, payload: bytes, error: str | None,
              invocation_type: str) -> tuple[AWSResponse, dict[str, Any]]:
    status = {"Event": 202, "DryRun": 204}.get(invocation_type, 200)
    headers = {"x-amz-executed-version": version, "content-type": "application/json"}
    if error:
        headers["x-amz-function-error"] = error
    parsed: dict[str, Any] = {
        "StatusCode": status,
        "ExecutedVersion": version,
        "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status,
                             "HTTPHeaders": headers, "RetryAttempts": 0},
    }
    body = payload if status == 200 else b""
    parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
    if error and status == 200:
        parsed["FunctionError"] = error
    http: Any = headers  # botocore wraps the mapping in its own HTTPHeaders
    return AWSResponse("local://lambda", status, http, None), parsed
