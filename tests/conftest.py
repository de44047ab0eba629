"""Fixtures shared by every tier; markers come from the folder a test lives in."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import admin_uri_from_env, fresh_database, start_embedded

TIERS = ("unit", "integration", "infra", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` (``make test``): whole modules only where they need it.

    A module-scoped fixture (a local-mode session, a synthesis, a package build) is set
    up once per worker that runs any of the module's tests, so such a module goes to one
    worker; every other test is scheduled on its own, as with ``--dist load``.
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ModuleFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if _has_module_fixture(module) else nodeid

    return ModuleFixtureScheduling(config, log)


@functools.cache
def _has_module_fixture(module: str) -> bool:
    path = ROOT / module
    return path.is_file() and MODULE_FIXTURE in path.read_text()


ROOT = Path(__file__).resolve().parent.parent
MODULE_FIXTURE = '@pytest.fixture(scope="module")'


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
