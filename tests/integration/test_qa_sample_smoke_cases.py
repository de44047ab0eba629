"""The sample smoke cases pass against StackFlowAPI on a real database.

``events/deploy-execution.json`` is the execution input CI sends by default
(``STACKFLOW_RELEASE_INPUT``), and ``events/smoke/`` are the example API's own cases:
a healthy build must pass every one of them, or every release would roll back at Smoke.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from example_api import app
from stackflow.deploy.smoke_cases import SmokeCase, check, parse_case, parse_cases

from tests.support.events import EVENTS_DIR, load_event

REPO = Path(__file__).resolve().parents[2]


def sample_cases() -> list[SmokeCase]:
    cases = list(parse_cases(load_event("deploy-execution")["smoke"], "deploy-execution"))
    for path in sorted((EVENTS_DIR / "smoke").glob("*.json")):
        cases.append(parse_case(json.loads(path.read_text()), path.name, path.stem))
    return cases


@pytest.fixture
def api_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sample schema (every migration of migrations/) with one customer."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for path in sorted((REPO / "migrations").glob("*.up.sql")):
            conn.execute(path.read_text())
        conn.execute("INSERT INTO customers (email, name) VALUES ('ada@example.com', 'Ada')")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    return database_url


@pytest.mark.parametrize("index", range(len(sample_cases())))
def test_each_sample_smoke_case_passes_against_a_healthy_build(api_database: str,
                                                               index: int) -> None:
    # GIVEN a sample smoke case and StackFlowAPI over the migrated schema
    case = sample_cases()[index]
    # WHEN the function is invoked with the case's payload
    response = json.dumps(app.handler(case.payload, None)).encode()
    # THEN the smoke step's own check finds nothing wrong (latency is not measured here)
    assert check(case, response, None, latency_ms=0) == [], case.name
