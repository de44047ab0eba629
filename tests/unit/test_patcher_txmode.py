"""Which scripts run outside a transaction: markers, detected statements, mixed scripts.

The detector reads keywords after the lexer has blanked literals and comments. A real
PostgreSQL parser, pglast (libpg_query, a dev dependency), checks it here statement by
statement; tests/integration/test_patcher_realworld.py checks the same corpus against
PostgreSQL itself (SQLSTATE 25001 inside BEGIN ... ROLLBACK).
"""

from __future__ import annotations

from typing import Any

import pytest
from stackflow.errors import SourceError
from stackflow.migrations.txmode import (
    ADD_VALUE_IN_TRANSACTION_SINCE,
    analyse,
    marker_of,
    script_mode,
)

from tests.support.sql_corpus import CORPUS, SUBSCRIPTIONS, detected


@pytest.mark.parametrize(("statement", "kind"), [*CORPUS.items(), *SUBSCRIPTIONS.items()])
def test_each_statement_is_detected_by_its_keywords(statement: str, kind: str | None) -> None:
    # GIVEN one statement WHEN it is analysed THEN it is named exactly when it blocks
    assert detected(statement) == kind


@pytest.mark.parametrize("statement", [*CORPUS, *SUBSCRIPTIONS])
def test_the_detector_agrees_with_the_postgresql_parser(statement: str) -> None:
    # GIVEN the statement as libpg_query (pglast) parses it
    # WHEN both decide whether it can run inside a transaction block
    # THEN they agree
    assert (detected(statement) is not None) == parser_says_outside(statement), statement


def test_alter_type_add_value_blocks_only_before_postgresql_12() -> None:
    statement = "ALTER TYPE mood ADD VALUE 'meh'"
    assert detected(statement, ADD_VALUE_IN_TRANSACTION_SINCE - 1) == (
        "ALTER TYPE ... ADD VALUE (before PostgreSQL 12)")
    assert detected(statement, ADD_VALUE_IN_TRANSACTION_SINCE) is None
    assert detected(statement) is None
    assert parser_says_outside(statement, ADD_VALUE_IN_TRANSACTION_SINCE - 1)


@pytest.mark.parametrize(("first_line", "marker"), [
    ("-- stackflow:no-transaction", "-- stackflow:no-transaction"),
    ("-- morph:nontransactional", "-- morph:nontransactional"),
    ("\ufeff--   MORPH:nontransactional  ", "-- morph:nontransactional"),
    ("-- migrate:up transaction:false", "-- migrate:up transaction:false"),
    ("-- migrate:down transaction:false", "-- migrate:down transaction:false"),
    ("-- migrate:up", None),
    ("-- morph:nontransactional please", None),
])
def test_markers_of_stackflow_morph_and_dbmate_on_the_first_line(
        first_line: str, marker: str | None) -> None:
    assert marker_of(f"{first_line}\r\nCREATE TABLE a (id int);") == marker


def test_a_marker_below_the_first_line_is_not_a_marker() -> None:
    assert marker_of("-- a comment\n-- morph:nontransactional\nSELECT 1;") is None


def test_marked_script_runs_outside_whatever_it_holds() -> None:
    # GIVEN a morph-marked script mixing an index build with an ordinary statement
    sql = ("-- morph:nontransactional\nCREATE TABLE a (id int);\n"
           "CREATE INDEX CONCURRENTLY i ON a (id);")
    # THEN it runs statement by statement, and the reason names the marker
    mode = script_mode(sql, "0001_a.up.sql")
    assert (mode.outside, mode.reason, mode.statements) == (
        True, "marker -- morph:nontransactional", 2)
    assert mode.label == "outside: marker -- morph:nontransactional"


def test_detected_script_runs_outside_and_says_why() -> None:
    # GIVEN an unmarked script of two concurrent index builds after a session setting
    sql = ("SET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY a ON t (x);\n"
           "DROP INDEX CONCURRENTLY b;\n")
    mode = script_mode(sql, "000012_idx.up.sql")
    # THEN it runs outside a transaction, and the reason names both kinds
    assert (mode.outside, mode.reason, mode.statements) == (
        True, "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY", 3)


def test_ordinary_script_runs_in_a_transaction() -> None:
    mode = script_mode("CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);", "0001_a.up.sql")
    assert (mode.outside, mode.reason, mode.statements, mode.label) == (
        False, None, 2, "transaction")


def test_mixed_script_is_refused_naming_the_statements() -> None:
    # GIVEN an unmarked script that creates a table and then indexes it concurrently
    sql = ("CREATE TABLE orders (id int, customer int);\n"
           "INSERT INTO orders VALUES (1, 2);\n"
           "CREATE INDEX CONCURRENTLY orders_customer ON orders (customer);\n")
    # WHEN its mode is decided THEN it is refused, naming the file and every statement
    with pytest.raises(SourceError) as caught:
        script_mode(sql, "000007_orders.up.sql")
    message = caught.value.message
    assert message.startswith("000007_orders.up.sql: mixes statements that cannot run inside "
                              "a transaction (statement 3: CREATE INDEX CONCURRENTLY) with "
                              "statements that must run in one (statement 1: CREATE TABLE "
                              "orders (id int, customer int); statement 2: INSERT INTO "
                              "orders VALUES (1, 2))")
    assert "split it into two migrations" in message
    assert "-- stackflow:no-transaction" in message
    assert caught.value.details["blockers"] == ["CREATE INDEX CONCURRENTLY"]


def test_mixed_refusal_lists_three_statements_and_counts_the_rest() -> None:
    sql = "VACUUM;\n" + "".join(f"CREATE TABLE t{n} (id int);\n" for n in range(5))
    with pytest.raises(SourceError, match=r"statement 4: CREATE TABLE t2 \(id int\); and 2 more"):
        script_mode(sql, "0001_x.up.sql")


def test_transaction_control_in_an_unmarked_script_is_refused() -> None:
    with pytest.raises(SourceError, match=r"0001_x.up.sql: contains 'COMMIT'"):
        script_mode("CREATE TABLE a (id int);\ncommit;", "0001_x.up.sql")


def test_trigger_words_in_comments_or_nowhere_find_nothing() -> None:
    # GIVEN a script whose only trigger word is in a comment (the quick prefilter sees it,
    # the statement-by-statement check does not), and one without any
    # THEN neither holds a statement that blocks
    assert analyse("-- rebuilt concurrently later\nCREATE TABLE a (id int);").blockers == ()
    assert analyse("CREATE TABLE a (id int);").blockers == ()


# --- the oracle: libpg_query's parse tree -------------------------------------------
def parser_says_outside(statement: str, server_version: int | None = None) -> bool:
    """Whether PostgreSQL's own grammar makes ``statement`` one that cannot run in a
    transaction block (the rules of PreventInTransactionBlock's callers). Skipped, and
    reported by ``-ra``, where the dev set lacks pglast: PostgreSQL itself stays the
    judge in tests/integration/test_patcher_realworld.py."""
    pglast = pytest.importorskip("pglast", reason="pglast (dev dependency) not installed")
    (raw,) = pglast.parse_sql(statement)
    return _outside(raw.stmt, server_version)


def _outside(stmt: Any, server_version: int | None) -> bool:
    from pglast import ast

    checks: list[tuple[type[Any], Any]] = [
        (ast.IndexStmt, lambda s: s.concurrent),
        (ast.DropStmt, lambda s: s.concurrent),
        (ast.ReindexStmt, _reindex_outside),
        (ast.VacuumStmt, lambda s: s.is_vacuumcmd),
        (ast.CreatedbStmt, lambda s: True), (ast.DropdbStmt, lambda s: True),
        (ast.AlterDatabaseStmt, lambda s: _options(s.options).keys() == {"tablespace"}),
        (ast.CreateTableSpaceStmt, lambda s: True), (ast.DropTableSpaceStmt, lambda s: True),
        (ast.AlterSystemStmt, lambda s: True),
        (ast.ClusterStmt, lambda s: s.relation is None),
        (ast.AlterTableStmt, lambda s: any(getattr(c.def_, "concurrent", False)
                                           for c in s.cmds)),
        (ast.CreateSubscriptionStmt, lambda s: not _off(s.options, "connect", "create_slot")),
        (ast.DropSubscriptionStmt, lambda s: True),
        (ast.AlterSubscriptionStmt, _alter_subscription_outside),
        (ast.DiscardStmt, lambda s: s.target.name == "DISCARD_ALL"),
        (ast.AlterEnumStmt, lambda s: s.oldVal is None and server_version is not None
         and server_version < ADD_VALUE_IN_TRANSACTION_SINCE),
    ]
    return any(isinstance(stmt, kind) and bool(check(stmt)) for kind, check in checks)


def _reindex_outside(stmt: Any) -> bool:
    concurrently = "concurrently" in _options(stmt.params)
    return concurrently or stmt.kind.name in ("REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_SYSTEM",
                                              "REINDEX_OBJECT_DATABASE")


def _alter_subscription_outside(stmt: Any) -> bool:
    refreshing = stmt.kind.name in ("ALTER_SUBSCRIPTION_REFRESH",
                                    "ALTER_SUBSCRIPTION_SET_PUBLICATION",
                                    "ALTER_SUBSCRIPTION_ADD_PUBLICATION",
                                    "ALTER_SUBSCRIPTION_DROP_PUBLICATION")
    return refreshing and not _off(stmt.options, "refresh")


def _options(options: Any) -> dict[str, Any]:
    return {o.defname: o.arg for o in options or ()}


def _off(options: Any, *names: str) -> bool:
    values = _options(options)
    return any(str(getattr(values.get(n), "sval", getattr(values.get(n), "boolval", "")))
               .lower() in ("false", "off", "0") for n in names if n in values)
