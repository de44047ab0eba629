"""The timeouts a migration runs under, per server version (no database needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from stackflow.adapters.postgres import PostgresDatabase
from stackflow.migrations.executor import Deadline, Executor
from stackflow.migrations.ports import Limits


def database(server_version: int) -> PostgresDatabase:
    db = PostgresDatabase.__new__(PostgresDatabase)  # only the SQL text is under test
    db.conn = SimpleNamespace(info=SimpleNamespace(server_version=server_version))  # type: ignore[assignment]
    return db


LIMITS = Limits(lock_timeout_ms=3000, statement_timeout_ms=2000, transaction_timeout_ms=2000)


def test_postgresql_17_bounds_the_whole_transactional_migration() -> None:
    sql = database(170005)._limits_sql(LIMITS, local=True)
    assert sql == ("SET LOCAL lock_timeout = 3000; SET LOCAL statement_timeout = 2000; "
                   "SET LOCAL transaction_timeout = 2000")


@pytest.mark.parametrize(("version", "local", "limits"), [
    (160004, True, LIMITS),                                   # no transaction_timeout yet
    (180000, False, LIMITS),                                  # one statement at a time
    (180000, True, Limits(3000, 2000)),                       # no deadline (the CLI)
])
def test_otherwise_statement_timeout_alone_as_before(version: int, local: bool,
                                                     limits: Limits) -> None:
    sql = database(version)._limits_sql(limits, local=local)
    assert "transaction_timeout" not in sql
    assert "statement_timeout = 2000" in sql


def test_the_executor_passes_the_deadline_as_the_transaction_bound() -> None:
    # GIVEN a Lambda with 20 s left and no configured statement timeout
    executor = Executor(db=None, applied_by="t", lock_timeout_ms=3000,  # type: ignore[arg-type]
                        statement_timeout_ms=0, lock_retries=0,
                        deadline=Deadline(lambda: 20_000))
    # THEN both timeouts end before Lambda would (20 s less the 3 s kept back)
    assert executor._limits() == Limits(3000, 17_000, transaction_timeout_ms=17_000)
    # AND without a deadline nothing bounds the transaction
    assert Executor(None, "t", 3000, 0, 0)._limits() == Limits(3000, 0)  # type: ignore[arg-type]
