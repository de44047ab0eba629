"""The Lambda Runtime API, served on loopback for one execution environment.

AWS's runtime interface client (``awslambdaric``, the one inside every Python Lambda
runtime) talks to this API exactly as it talks to Lambda's:

* ``GET  /2018-06-01/runtime/invocation/next``: blocks until an event arrives, then
  answers it with the request id, deadline, function ARN and trace id headers;
* ``POST /2018-06-01/runtime/invocation/{id}/response`` or ``.../{id}/error``: the result;
* ``POST /2018-06-01/runtime/init/error``: the handler could not even be loaded.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class Event:
    """One invocation handed to the runtime on ``/next``."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Outcome:
    """What the runtime posted back: the payload, and the error type if it failed."""

    payload: bytes
    error_type: str | None


class RuntimeApi:
    """One execution environment's Runtime API: a queue of events, a future per event."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.results: dict[str, Future[Outcome]] = {}
        self.init_error: Future[Outcome] = Future()
        # Set when the runtime first asks for an event: its init (the handler's import) is done.
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="lambda-runtime-api")

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.events.put(None)  # frees a runtime blocked on /next
        self.server.shutdown()
        self.server.server_close()

    def submit(self, event: Event) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            self.results[event.request_id] = future
        self.events.put(event)
        return future

    def complete(self, request_id: str, outcome: Outcome) -> bool:
        with self._lock:
            future = self.results.pop(request_id, None)
        if future is None:
            return False
        future.set_result(outcome)
        return True

    def fail_init(self, outcome: Outcome) -> None:
        if not self.init_error.done():
            self.init_error.set_result(outcome)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime killed mid-request (timeout, shutdown) is expected; say nothing."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_class(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_RuntimeHandler):
        runtime = api

    return Handler


class _RuntimeHandler(BaseHTTPRequestHandler):
    runtime: RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """The runtime polls constantly; a line per request would drown the log."""

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404, {"errorMessage": f"no route {self.path}"})
            return
        self.runtime.ready.set()
        event = self.runtime.events.get()
        if event is None:  # shutting down: the runtime process is being killed too
            self.close_connection = True
            return
        self._send(200, event.payload, {
            "Lambda-Runtime-Aws-Request-Id": event.request_id,
            "Lambda-Runtime-Deadline-Ms": str(event.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": event.function_arn,
            "Lambda-Runtime-Trace-Id": event.trace_id,
            "Content-Type": "application/json",
        })

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(PREFIX).strip("/").split("/")
        if parts == ["init", "error"]:
            self.runtime.fail_init(Outcome(body, "Unhandled"))
            self._reply(202, {"status": "OK"})
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            error = "Unhandled" if parts[2] == "error" else None
            known = self.runtime.complete(parts[1], Outcome(body, error))
            self._reply(202 if known else 400, {"status": "OK" if known else "unknown id"})
        else:
            self._reply(404, {"errorMessage": f"no route {self.path}"})

    def _reply(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the runtime was killed (timeout, shutdown)
