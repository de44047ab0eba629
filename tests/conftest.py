"""Fixtures shared by every tier; markers come from the folder a test lives in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import admin_uri_from_env, fresh_database, start_embedded

TIERS = ("unit", "integration", "infra", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def pg_admin_uri() -> Iterator[str]:
    """URI of a PostgreSQL server the tests may create databases on.

    The data folder lives in its own ``mkdtemp`` folder rather than pytest's basetemp:
    pytest prunes old basetemp folders, which must never pull a running server's data
    away from under a concurrent test run.
    """
    existing = admin_uri_from_env()
    if existing:
        yield existing
        return
    uri, server = start_embedded()
    yield uri
    server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def database_url(pg_admin_uri: str) -> Iterator[str]:
    """A fresh, empty database for one test."""
    with fresh_database(pg_admin_uri) as uri:
        yield uri


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so nothing can reach a real account."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    os.environ.pop("AWS_PROFILE", None)
