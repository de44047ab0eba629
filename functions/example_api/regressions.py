"""Two builds of StackFlowAPI with the kind of bug a release pipeline must stop.

Local mode packages them as their own artifacts (different code, different
``CodeSha256``) so a demo or a test can deploy them and watch StackFlow react:

* ``orders_regression``: ``GET /orders`` reads a column the schema does not have. The
  health check still passes, so the build clears smoke tests and fails under canary
  traffic; the error alarm fires and the deployment rolls back.
* ``health_regression``: the health check queries a table that was never created, so
  the build fails its smoke test and never receives traffic.
* ``worker_regression``: the orders worker's summary reads a column the schema does not
  have: its health action passes smoke, every summary under canary traffic fails.
* ``health_hangs``: the health check waits on a lock nobody releases and never
  answers; its smoke case times out (and Lambda stops it at the function's timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from example_api import app


def _orders_by_amount(_: Mapping[str, str]) -> app.Response:
    rows = app.query("SELECT id, customer_id, amount_total FROM orders "
                     "ORDER BY amount_total DESC LIMIT 100")
    return app.respond(200, {"orders": rows})


def _health_with_cache_table(_: Mapping[str, str]) -> app.Response:
    app.query("SELECT count(*) FROM response_cache")
    return app.respond(200, {"status": "ok"})


def _health_that_hangs(_: Mapping[str, str]) -> app.Response:
    threading.Event().wait()  # nothing ever sets it: only the Lambda timeout ends this
    return app.respond(200, {"status": "ok"})


ORDERS_ROUTES = {**app.ROUTES, ("GET", r"/orders"): _orders_by_amount}
HEALTH_ROUTES = {**app.ROUTES, ("GET", r"/health"): _health_with_cache_table}
HANGING_ROUTES = {**app.ROUTES, ("GET", r"/health"): _health_that_hangs}


def orders_regression(event: Mapping[str, Any], context: Any) -> app.Response:
    return app.dispatch(ORDERS_ROUTES, event)


def health_regression(event: Mapping[str, Any], context: Any) -> app.Response:
    return app.dispatch(HEALTH_ROUTES, event)


def health_hangs(event: Mapping[str, Any], context: Any) -> app.Response:
    return app.dispatch(HANGING_ROUTES, event)


def _summary_by_amount() -> app.Response:
    rows = app.query("SELECT count(*) AS orders, sum(amount_total) AS total FROM orders")
    return app.respond(200, rows[0])


def worker_regression(event: Mapping[str, Any], context: Any) -> app.Response:
    from example_api import worker

    return worker.run({**worker.ACTIONS, "summarize": _summary_by_amount}, event)
