"""Statement splitting for no-transaction migrations, and the index names they create."""

from __future__ import annotations

from stackflow.migrations.executor import Deadline, leftover_indexes
from stackflow.migrations.sqltext import (
    concurrent_index_names,
    split_statements,
    transaction_control,
)


def test_split_respects_quotes_dollar_quotes_and_comments() -> None:
    # GIVEN semicolons hidden in every place PostgreSQL allows them
    sql = """
    -- stackflow:no-transaction; a comment;
    INSERT INTO t VALUES ('a;b', "x;y");
    /* block; /* nested; */ still; */
    CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;
    SELECT 'it''s; fine'
    """
    # WHEN it is split
    statements = split_statements(sql)
    # THEN only the real statement boundaries count
    assert len(statements) == 3
    assert statements[0].endswith("""INSERT INTO t VALUES ('a;b', "x;y")""")
    assert "$body$ BEGIN RETURN 1; END $body$" in statements[1]
    assert statements[2] == "SELECT 'it''s; fine'"


def test_comment_only_tail_is_not_a_statement() -> None:
    assert split_statements("SELECT 1;\n-- the end;\n") == ["SELECT 1"]


def test_transaction_control_is_found_but_plpgsql_begin_is_not() -> None:
    assert transaction_control("CREATE TABLE a (id int);\ncommit;") == "commit"
    assert transaction_control("START TRANSACTION; SELECT 1;") == "START TRANSACTION"
    assert transaction_control(
        "DO $$ BEGIN PERFORM 1; END $$; SAVEPOINT s; ROLLBACK TO SAVEPOINT s;") is None


def test_concurrent_index_names_as_written() -> None:
    sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_idx ON orders (c);\n"
           'create unique index concurrently "Odd Name" on public.t (x);\n'
           "-- CREATE INDEX CONCURRENTLY commented_out ON t (x);\n")
    assert concurrent_index_names(sql) == ["orders_customer_idx", '"Odd Name"']


def test_leftover_indexes_match_by_folded_name_and_schema() -> None:
    invalid = {"public.orders_customer_idx", "public.Odd Name", "other.unrelated"}
    assert leftover_indexes(invalid, ["ORDERS_CUSTOMER_IDX", '"Odd Name"']) == [
        "public.Odd Name", "public.orders_customer_idx"]
    assert leftover_indexes(invalid, ["other.orders_customer_idx"]) == []


def test_deadline_stops_inside_the_margin_and_caps_statement_time() -> None:
    # GIVEN 20 s left and a 10 s margin
    left = [20_000]
    deadline = Deadline(lambda: left[0], margin_ms=10_000)
    # THEN there is time; a statement may not outlive the Lambda
    assert not deadline.exhausted()
    assert deadline.cap_ms(0) == 17_000
    assert deadline.cap_ms(5_000) == 5_000
    # WHEN only 9 s remain THEN no new migration starts
    left[0] = 9_000
    assert deadline.exhausted()
    # AND without a deadline (the CLI) nothing is capped
    assert Deadline().cap_ms(0) == 0
    assert not Deadline().exhausted()
