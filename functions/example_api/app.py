"""StackFlowAPI handler: an API Gateway HTTP API (payload format 2.0) over PostgreSQL.

Routes: ``GET /health``, ``GET /customers``, ``GET /customers/{id}``,
``GET /customers/{id}/orders`` and ``GET /orders``; they read the ``customers`` and
``orders`` tables the sample migrations create. The connection is opened on the first
request and reused while the execution environment lives, as a warm Lambda would.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from stackflow import env
from stackflow.errors import ConfigurationError
from stackflow.validation import as_object, opt_str

Response = dict[str, Any]
Route = Callable[[Mapping[str, str]], Response]
Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]

# One connection per database URL, reused across requests like a warm Lambda's.
_connections: dict[str, psycopg.Connection[dict[str, Any]]] = {}


def database_url() -> str:
    url = os.environ.get(env.DATABASE_URL, "").strip()
    if url:
        return url
    secret_arn = os.environ.get(env.DB_SECRET_ARN, "").strip()
    if not secret_arn:
        raise ConfigurationError(f"set {env.DATABASE_URL} or {env.DB_SECRET_ARN}",
                                 variable=env.DATABASE_URL)
    # The adapter percent-encodes every part (a password with '@', a socket directory).
    from stackflow.adapters.secrets import database_url as url_from_secret

    return url_from_secret(secret_arn)


def query(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run one read-only statement on the reused connection.

    A connection the server dropped while the function was idle (restart, failover)
    is replaced once; a failing statement is not retried.
    """
    try:
        return _run(_connection(), sql, params)
    except psycopg.OperationalError:
        _connections.pop(database_url(), None)
        return _run(_connection(), sql, params)


def _connection() -> psycopg.Connection[dict[str, Any]]:
    url = database_url()
    conn = _connections.get(url)
    if conn is None or conn.closed:
        # No server-side prepared statements: psycopg prepares a query after its fifth
        # run, and a prepared `SELECT *` fails ("cached plan must not change result
        # type") once a release's expand migration adds a column, while this version
        # still serves traffic.
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=5,
                               prepare_threshold=None)
        _connections[url] = conn
    return conn


def _run(conn: psycopg.Connection[dict[str, Any]], sql: str,
         params: Sequence[Any]) -> list[dict[str, Any]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def respond(status: int, body: Any) -> Response:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body, default=str)}


# --- routes ------------------------------------------------------------------------
def health(_: Mapping[str, str]) -> Response:
    query("SELECT 1")
    return respond(200, {"status": "ok"})


def list_customers(_: Mapping[str, str]) -> Response:
    return respond(200, {"customers": query("SELECT * FROM customers ORDER BY id LIMIT 100")})


def get_customer(params: Mapping[str, str]) -> Response:
    rows = query("SELECT * FROM customers WHERE id = %s", (int(params["id"]),))
    return respond(200, rows[0]) if rows else respond(404, {"message": "customer not found"})


def customer_orders(params: Mapping[str, str]) -> Response:
    rows = query("SELECT * FROM orders WHERE customer_id = %s ORDER BY id",
                 (int(params["id"]),))
    return respond(200, {"orders": rows})


def list_orders(_: Mapping[str, str]) -> Response:
    return respond(200, {"orders": query("SELECT * FROM orders ORDER BY id DESC LIMIT 100")})


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", r"/health"): health,
    ("GET", r"/customers"): list_customers,
    ("GET", r"/customers/(?P<id>\d+)"): get_customer,
    ("GET", r"/customers/(?P<id>\d+)/orders"): customer_orders,
    ("GET", r"/orders"): list_orders,
}


def dispatch(routes: Mapping[tuple[str, str], Route], event: Mapping[str, Any]) -> Response:
    """Route one HTTP API event; unknown paths are 404, wrong methods 405."""
    method, path = request_line(event)
    allowed = False
    for (route_method, pattern), route in routes.items():
        match = re.fullmatch(pattern, path)
        if match is None:
            continue
        if route_method == method:
            return route(match.groupdict())
        allowed = True
    return respond(405 if allowed else 404, {"message": f"no route for {method} {path}"})


def request_line(event: Any) -> tuple[str, str]:
    """(method, path) of an HTTP API event; a payload of another shape (a direct invoke
    with the wrong document) is ``InvalidRequest`` naming the field, not a TypeError."""
    obj = as_object(event)
    context = _part(obj, "requestContext", "requestContext")
    http = _part(context, "http", "requestContext.http")
    method = opt_str(http, "method", "GET", prefix="requestContext.http.") or "GET"
    path = (opt_str(obj, "rawPath") or opt_str(http, "path", prefix="requestContext.http.")
            or "/")
    return method.upper(), path


def _part(obj: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return {} if value is None else as_object(value, field)


def handler(event: Mapping[str, Any], context: Any) -> Response:
    """Lambda entry point (``example_api.app.handler``)."""
    return dispatch(ROUTES, event)
