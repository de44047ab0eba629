"""StackFlowAPI, the example application, against a real PostgreSQL with the sample schema."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from example_api import app, regressions
from stackflow_tools.local.runner import REPO_ROOT
from stackflow_tools.local.traffic import http_event


@pytest.fixture
def schema(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for path in sorted((REPO_ROOT / "migrations").glob("*.up.sql")):
            conn.execute(path.read_text())
        conn.execute("INSERT INTO customers (email, name) VALUES ('ada@example.com', 'Ada')")
        conn.execute("INSERT INTO orders (customer_id, total_cents) VALUES (1, 4200)")
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_health_and_reads_answer_from_the_database(schema: str) -> None:
    # GIVEN the sample schema with one customer and one order
    # WHEN the routes are called THEN they answer with the rows
    assert app.handler(http_event("/health"), None)["statusCode"] == 200
    assert _body(app.handler(http_event("/health"), None)) == {"status": "ok"}
    customers = _body(app.handler(http_event("/customers"), None))["customers"]
    assert [c["email"] for c in customers] == ["ada@example.com"]
    orders = _body(app.handler(http_event("/customers/1/orders"), None))["orders"]
    assert [(o["total_cents"], o["status"]) for o in orders] == [(4200, "pending")]
    assert app.handler(http_event("/customers/99"), None)["statusCode"] == 404


def test_unknown_route_and_wrong_method(schema: str) -> None:
    # GIVEN the API WHEN an unknown path or a wrong method is called THEN 404 / 405
    assert app.handler(http_event("/nope"), None)["statusCode"] == 404
    assert app.handler(http_event("/orders", "DELETE"), None)["statusCode"] == 405


def test_orders_regression_passes_health_but_fails_orders(schema: str) -> None:
    # GIVEN the regressed build WHEN health and orders are called
    # THEN health is fine and GET /orders raises the database's error (a Lambda error)
    assert regressions.orders_regression(http_event("/health"), None)["statusCode"] == 200
    with pytest.raises(psycopg.errors.UndefinedColumn):
        regressions.orders_regression(http_event("/orders"), None)


def test_health_regression_fails_health(schema: str) -> None:
    # GIVEN the build whose health check reads a missing table WHEN /health is called
    # THEN it raises, so the smoke test sees a FunctionError
    with pytest.raises(psycopg.errors.UndefinedTable):
        regressions.health_regression(http_event("/health"), None)


def test_the_orders_worker_summarizes_and_its_regression_fails_only_the_summary(
        schema: str) -> None:
    from example_api import worker
    from stackflow.errors import InvalidRequest

    # GIVEN the sample schema with one order of 42.00
    # WHEN the worker is invoked THEN it summarizes the orders and answers its health
    assert _body(worker.handler({"action": "summarize"}, None)) == {"orders": 1,
                                                                     "total_cents": 4200}
    assert _body(worker.handler({"action": "health"}, None)) == {"status": "ok"}
    with pytest.raises(InvalidRequest):
        worker.handler({"action": "nope"}, None)
    # AND the regressed build passes its health (the smoke case) but fails every summary
    assert regressions.worker_regression({"action": "health"}, None)["statusCode"] == 200
    with pytest.raises(psycopg.errors.UndefinedColumn):
        regressions.worker_regression({"action": "summarize"}, None)
