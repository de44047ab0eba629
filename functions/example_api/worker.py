"""StackFlowOrdersWorker: the example's second function, a worker over the same schema.

What a schedule or a queue would invoke: ``{"action": "summarize"}`` reads the
``orders`` table (the same migrations, the same read-only role as StackFlowAPI) and
answers ``{"statusCode": 200, "body": {"orders": n, "total_cents": sum}}``;
``{"action": "health"}`` checks the connection. The answer keeps the HTTP API
response's envelope, so the deployer's smoke cases read it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_str

from example_api import app

Action = Callable[[], app.Response]


def health() -> app.Response:
    app.query("SELECT 1")
    return app.respond(200, {"status": "ok"})


def summarize() -> app.Response:
    rows = app.query("SELECT count(*) AS orders, coalesce(sum(total_cents), 0)::bigint "
                     "AS total_cents FROM orders")
    return app.respond(200, rows[0])


ACTIONS: dict[str, Action] = {"health": health, "summarize": summarize}


def run(actions: Mapping[str, Action], event: Any) -> app.Response:
    """One invocation: the event's ``action`` (default ``summarize``)."""
    action = opt_str(as_object(event), "action", "summarize") or "summarize"
    if action not in actions:
        raise InvalidRequest("action", f"unknown action {action!r} (known: {sorted(actions)})")
    return actions[action]()


def handler(event: Mapping[str, Any], context: Any) -> app.Response:
    """Lambda entry point (``example_api.worker.handler``)."""
    return run(ACTIONS, event)
