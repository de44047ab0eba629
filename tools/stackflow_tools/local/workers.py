"""Execution environments: one warm worker process per function version.

A worker runs a version's code package, unpacked, under AWS's own runtime interface
client (``python -m awslambdaric HANDLER``) against a :class:`RuntimeApi` on loopback,
with the version's ``Handler``, ``Timeout``, ``MemorySize`` and environment and nothing
else. Like a Lambda execution environment it is started on the first invocation, kept
warm for the next, and replaced when it dies; a new version gets a new one.

* the handler's import fails -> ``Runtime.ImportModuleError`` (posted by the client);
* an invocation outlives ``Timeout`` -> the worker is killed, ``Sandbox.Timedout``;
* the process exits mid-invocation -> ``Runtime.ExitError``;
* a response over 6 MB -> ``Function.ResponseSizeTooLarge``.

The interpreter is the one the function's ``Runtime`` names (``python3.13``) when this
machine has it; otherwise the package is rebuilt for the local Python from its own
contents (same sources, same requirement versions; compiled wheels swapped for this
interpreter's) and that is said once, never silently replaced by the working tree.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stackflow_tools.local.runtime_api import Event, Outcome, RuntimeApi
from stackflow_tools.release import wheels

# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_REQUEST_BYTES = 6_291_456
MAX_RESPONSE_BYTES = 6_291_556
# Lambda allows 10 s of init; a loaded 2-core machine compiling a package's modules on
# their first import needs more, so local mode is more patient here (and says so).
INIT_LIMIT_SECONDS = 60.0
RUNTIME_CONSTRAINTS = Path(__file__).with_name("runtime-constraints.txt")
RUNTIME_CLIENT = ("awslambdaric",)
# What the Lambda Python runtime provides beside the client: boto3 and its dependencies
# (the same list the packager leaves out of the zips).
RUNTIME_PROVIDED_MODULES = tuple(
    module for modules in wheels.RUNTIME_PROVIDED.values() for module in modules)

BOOTSTRAP = """
import sys
task_root, runtime_dir, handler = sys.argv[1:4]
# /var/task first, then /var/runtime, then the standard library: Lambda's order.
sys.path[:] = [task_root, runtime_dir] + [p for p in sys.path if p not in ("", task_root)]
from awslambdaric.__main__ import main
main(["awslambdaric", handler])
"""


@dataclass(frozen=True)
class FunctionVersion:
    """One function version as Lambda stores it: configuration and code package."""

    function_name: str
    function_arn: str
    version: str
    handler: str
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, str]
    code_sha256: str
    code: bytes = field(repr=False)

    @property
    def key(self) -> str:
        """Identity of an execution environment: any change of code or config is new."""
        parts = [self.function_arn, self.version, self.handler, self.runtime,
                 str(self.timeout_seconds), str(self.memory_mb), self.code_sha256,
                 json.dumps(dict(self.environment), sort_keys=True)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")


@dataclass(frozen=True)
class Prepared:
    """Where a version runs: interpreter, unpacked package, runtime client folder."""

    python: str
    task_root: Path
    runtime_dir: Path


class CodeStore:
    """Unpacks code packages and runtime clients under ``root`` (reused across runs)."""

    def __init__(self, root: Path, wheel_cache: Path,
                 announce: Callable[[str], None] = print) -> None:
        # Absolute: a worker runs with its package as the working directory.
        self.root = root.resolve()
        self.wheel_cache = wheel_cache
        self.announce = announce
        self._announced: set[str] = set()
        self._lock = threading.Lock()
        self._pythons: dict[str, str | None] = {}

    def prepare(self, version: FunctionVersion) -> Prepared:
        with self._lock:
            python = self.interpreter(version.python_version)
            if python is not None:
                return Prepared(python, self._unpacked(version),
                                self._runtime_dir(version.python_version))
            local = f"{sys.version_info.major}.{sys.version_info.minor}"
            self._say_once(version.runtime, f"local mode: no {version.runtime} interpreter "
                           f"here; running {version.runtime} packages rebuilt for python"
                           f"{local} (same sources, same requirement versions)")
            return Prepared(sys.executable, self._rebuilt(version, local),
                            self._runtime_dir(local))

    def interpreter(self, python_version: str) -> str | None:
        """An interpreter of exactly ``python_version`` on this machine, if any."""
        if python_version not in self._pythons:
            self._pythons[python_version] = find_python(python_version)
        return self._pythons[python_version]

    def _say_once(self, key: str, message: str) -> None:
        if key not in self._announced:
            self._announced.add(key)
            self.announce(message)

    def _unpacked(self, version: FunctionVersion) -> Path:
        target = self.root / "code" / _safe(version.code_sha256)
        return _materialize(target, lambda tmp: _unzip(version.code, tmp))

    def _rebuilt(self, version: FunctionVersion, python_version: str) -> Path:
        target = self.root / "code" / f"{_safe(version.code_sha256)}-py{python_version}"
        host = wheels.host_target(python_version)
        return _materialize(target, lambda tmp: rebuild_for(version.code, tmp, host,
                                                            self.wheel_cache))

    def _runtime_dir(self, python_version: str) -> Path:
        host = wheels.host_target(python_version)
        target = self.root / "runtime" / host.label
        return _materialize(target, lambda tmp: self._install_runtime(tmp, host))

    def _install_runtime(self, folder: Path, host: wheels.Target) -> None:
        files = wheels.fetch_wheels(host, RUNTIME_CLIENT, RUNTIME_CONSTRAINTS, self.wheel_cache)
        for wheel in files:
            _extract(wheels.wheel_entries(wheel), folder)
        for module in RUNTIME_PROVIDED_MODULES:
            _link_module(module, folder)


def find_python(python_version: str) -> str | None:
    """``pythonX.Y`` from PATH or pyenv, checked by running it (a shim may not work)."""
    name = f"python{python_version}"
    candidates = [shutil.which(name)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{python_version}*/bin/"
                                                          f"{name}"), reverse=True)]
    candidates += [f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    for candidate in filter(None, candidates):
        if _reports_version(candidate, python_version):
            return candidate
    return None


def _reports_version(python: str, expected: str) -> bool:
    try:
        done = subprocess.run([python, "-S", "-c", "import sys; print('%d.%d' % "
                               "sys.version_info[:2])"], capture_output=True, text=True,
                              timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == expected


def rebuild_for(code: bytes, folder: Path, host: wheels.Target, cache: Path) -> None:
    """Unpack ``code`` into ``folder`` with each compiled distribution built for ``host``.

    A package keeps ``<name>.dist-info/METADATA`` and ``WHEEL`` (the packager keeps
    them), which say which distribution, which version and whether it is pure Python.
    """
    _unzip(code, folder)
    for dist_info in sorted(folder.glob("*.dist-info")):
        wheel_file = dist_info / "WHEEL"
        if not wheel_file.is_file() or "Root-Is-Purelib: true" in wheel_file.read_text():
            continue
        name, version = _name_version(dist_info / "METADATA")
        for path in _installed_by(dist_info, name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for wheel in wheels.fetch_wheels(host, [f"{name}=={version}"], None,
                                         cache):
            if wheels.distribution_name(wheel) == wheels.distribution_name(Path(name)):
                _extract(wheels.wheel_entries(wheel), folder)


def _name_version(metadata: Path) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in metadata.read_text().splitlines()
                  if line.startswith(("Name: ", "Version: ")))
    return fields["Name"].strip(), fields["Version"].strip()


def _installed_by(dist_info: Path, name: str) -> Iterator[Path]:
    """The folders and modules a distribution put at the top of the package."""
    top_level = dist_info / "top_level.txt"
    names = set(top_level.read_text().split()) if top_level.is_file() else set()
    names.add(name.replace("-", "_").lower())
    root = dist_info.parent
    for entry in root.iterdir():
        stem = entry.name.split(".")[0]
        if entry == dist_info or (stem in names and entry.name != "__pycache__"):
            yield entry


def _materialize(target: Path, build: Callable[[Path], None]) -> Path:
    """``target`` built once: into a temporary folder first, then renamed into place."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        tmp.rename(target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _unzip(code: bytes, folder: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        archive.extractall(folder)


def _extract(entries: Iterator[tuple[str, bytes]], folder: Path) -> None:
    for arcname, data in entries:
        path = folder / arcname
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _link_module(module: str, folder: Path) -> None:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return
    origin = Path(spec.origin)
    source = origin.parent if origin.name == "__init__.py" else origin
    (folder / source.name).symlink_to(source)


def _safe(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex() if code_sha256 else "unknown"


class XrayDaemonSink:
    """A UDP socket where the X-Ray SDK sends its segments; they are dropped.

    Lambda runs an X-Ray daemon beside each traced function; locally there is none, and
    its address is the one value local mode replaces for tracing.
    """

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        threading.Thread(target=self._drain, daemon=True, name="xray-sink").start()

    def _drain(self) -> None:
        while True:
            try:
                self.socket.recv(65536)
            except OSError:
                return

    def close(self) -> None:
        self.socket.close()


@dataclass(frozen=True)
class Platform:
    """What every execution environment shares: the region, the endpoint, the logs."""

    region: str
    endpoint: str
    log_dir: Path
    xray_address: str


def lambda_environment(version: FunctionVersion, platform: Platform, runtime_api: str,
                       prepared: Prepared) -> dict[str, str]:
    """The process environment Lambda gives a function, plus the endpoint it replaces.

    The function's own variables are exactly its configuration's. The rest are the
    variables every Lambda execution environment has, with local values; the endpoint
    stands in for the regional one Lambda would reach.
    """
    reserved = {
        "_HANDLER": version.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{version.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": version.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": version.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(version.memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{version.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{version.version}]{uuid.uuid4().hex}",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_REGION": platform.region,
        "AWS_DEFAULT_REGION": platform.region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": platform.xray_address,
        "LAMBDA_TASK_ROOT": str(prepared.task_root),
        "LAMBDA_RUNTIME_DIR": str(prepared.runtime_dir),
        "LANG": "en_US.UTF-8",
        # Lambda's own bin folders only: this machine's tools (a pg_dump in /usr/bin, say)
        # are not in a Lambda runtime, so a function must not find them here either.
        "PATH": "/var/lang/bin:/opt/bin",
        "TZ": ":UTC",
        "AWS_ENDPOINT_URL": platform.endpoint,
    }
    return {**dict(version.environment), **reserved}


class Worker:
    """One execution environment: a runtime process and its Runtime API."""

    def __init__(self, version: FunctionVersion, prepared: Prepared,
                 platform: Platform) -> None:
        self.version = version
        self.prepared = prepared
        self.platform = platform
        self.lock = threading.Lock()
        self.api: RuntimeApi | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def invoke(self, payload: bytes, request_id: str, trace_id: str) -> Outcome:
        """Run one event; one at a time, like a single execution environment."""
        with self.lock:
            failed_init = self._ensure_started()
            if failed_init is not None:
                return failed_init
            return self._run(payload, request_id, trace_id)

    def _ensure_started(self) -> Outcome | None:
        if self.process is not None and self.process.poll() is None:
            return None
        self.stop()
        api = self.api = RuntimeApi().start()
        self.process = self._spawn(api.address)
        return self._await_init(api)

    def _spawn(self, runtime_api: str) -> subprocess.Popen[bytes]:
        environment = lambda_environment(self.version, self.platform, runtime_api,
                                         self.prepared)
        self.platform.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.platform.log_dir / f"{self.version.function_name}.log").open("ab")
        with log:
            return subprocess.Popen(
                [self.prepared.python, "-S", "-c", BOOTSTRAP, str(self.prepared.task_root),
                 str(self.prepared.runtime_dir), self.version.handler],
                cwd=self.prepared.task_root, env=environment, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _await_init(self, api: RuntimeApi) -> Outcome | None:
        deadline = time.monotonic() + INIT_LIMIT_SECONDS
        while time.monotonic() < deadline:
            if api.ready.wait(0.01):
                return None
            if api.init_error.done():
                outcome = api.init_error.result()
                self.stop()
                return outcome
            if self.process is None or self.process.poll() is not None:
                return self._exited("")
        self.stop()
        return _error("Runtime.Unknown", "the runtime did not become ready within "
                      f"{INIT_LIMIT_SECONDS:.0f} s (init)")

    def _run(self, payload: bytes, request_id: str, trace_id: str) -> Outcome:
        assert self.api is not None
        timeout = self.version.timeout_seconds
        deadline = time.time() + timeout
        future = self.api.submit(Event(request_id, payload, int(deadline * 1000),
                                       self.version.function_arn, trace_id))
        outcome = self._wait(future, deadline, request_id)
        if outcome.error_type is None and len(outcome.payload) > MAX_RESPONSE_BYTES:
            return _error("Function.ResponseSizeTooLarge",
                          f"Response payload size exceeded maximum allowed payload size "
                          f"({MAX_RESPONSE_BYTES} bytes).")
        return outcome

    def _wait(self, future: Future[Outcome], deadline: float, request_id: str) -> Outcome:
        while time.time() < deadline:
            try:
                return future.result(timeout=0.02)
            except TimeoutError:
                if self.process is None or self.process.poll() is not None:
                    return self._exited(request_id)
        self.stop()
        return _error("Sandbox.Timedout", f"RequestId: {request_id} Error: Task timed out "
                      f"after {self.version.timeout_seconds:.2f} seconds")

    def _exited(self, request_id: str) -> Outcome:
        code = self.process.returncode if self.process is not None else None
        api = self.api
        self.stop()
        if api is not None and api.init_error.done():
            return api.init_error.result()
        return _error("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited "
                      f"with error: exit status {code}")

    def stop(self) -> None:
        process, api = self.process, self.api
        self.process, self.api = None, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if api is not None:
            api.stop()


def _error(error_type: str, message: str) -> Outcome:
    body = {"errorType": error_type, "errorMessage": message}
    return Outcome(json.dumps(body).encode(), "Unhandled")


class WorkerPool:
    """The warm execution environments, one per function version (by its :attr:`key`)."""

    def __init__(self, store: CodeStore, platform: Platform) -> None:
        self.store = store
        self.platform = platform
        self._workers: dict[str, Worker] = {}
        self._lock = threading.Lock()

    def invoke(self, version: FunctionVersion, payload: bytes,
               request_id: str, trace_id: str) -> Outcome:
        return self._worker(version).invoke(payload, request_id, trace_id)

    def _worker(self, version: FunctionVersion) -> Worker:
        with self._lock:
            worker = self._workers.get(version.key)
        if worker is None:
            prepared = self.store.prepare(version)
            with self._lock:
                worker = self._workers.setdefault(
                    version.key, Worker(version, prepared, self.platform))
        return worker

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        # Each Runtime API's shutdown waits out its server's poll interval (0.5 s): all
        # at once, a session with 15 warm versions stops in one interval, not fifteen.
        with ThreadPoolExecutor(max_workers=max(len(workers), 1),
                                thread_name_prefix="worker-stop") as stopping:
            list(stopping.map(Worker.stop, workers))
