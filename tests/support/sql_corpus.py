"""Statements that can or cannot run inside a transaction block, shared by the unit test
(checked against libpg_query's parse tree) and the integration test (checked against
PostgreSQL itself)."""

from __future__ import annotations

from stackflow.migrations.txmode import analyse

# statement -> the kind the detector names, or None for one that may run in a transaction
CORPUS: dict[str, str | None] = {
    "CREATE INDEX CONCURRENTLY i2 ON t (x)": "CREATE INDEX CONCURRENTLY",
    "create unique index concurrently if not exists i3 on t(x)": "CREATE INDEX CONCURRENTLY",
    "CREATE /* c */ INDEX -- note\n  CONCURRENTLY ON t (x)": "CREATE INDEX CONCURRENTLY",
    "CREATE INDEX concurrently_idx ON t (x)": None,
    'CREATE INDEX "concurrently" ON t (x)': None,
    "CREATE INDEX i4 ON t (x) WHERE x::text <> 'CONCURRENTLY'": None,
    "DROP INDEX CONCURRENTLY IF EXISTS i": "DROP INDEX CONCURRENTLY",
    "DROP INDEX IF EXISTS i": None,
    "REINDEX TABLE CONCURRENTLY t": "REINDEX TABLE CONCURRENTLY",
    "REINDEX (VERBOSE) INDEX CONCURRENTLY i": "REINDEX INDEX CONCURRENTLY",
    "REINDEX TABLE t": None,
    "REINDEX SCHEMA public": "REINDEX SCHEMA",
    "REINDEX SYSTEM": "REINDEX SYSTEM",
    "VACUUM": "VACUUM",
    "VACUUM ANALYZE t": "VACUUM",
    "vacuum (verbose, analyze) t": "VACUUM",
    "ANALYZE t": None,
    "CREATE DATABASE stackflow_never_created": "CREATE DATABASE",
    "DROP DATABASE IF EXISTS stackflow_never_created": "DROP DATABASE",
    "CREATE TABLESPACE ts LOCATION '/nonexistent'": "CREATE TABLESPACE",
    "DROP TABLESPACE IF EXISTS ts": "DROP TABLESPACE",
    "ALTER SYSTEM SET work_mem = '4MB'": "ALTER SYSTEM",
    "CLUSTER": "CLUSTER (every table)",
    "CLUSTER VERBOSE": "CLUSTER (every table)",
    "CLUSTER t USING i": None,
    "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY": "DETACH PARTITION ... CONCURRENTLY",
    "ALTER TABLE p DETACH PARTITION p1": None,
    "DISCARD ALL": "DISCARD ALL",
    "DISCARD PLANS": None,
    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv": None,
    "SELECT 'VACUUM; CREATE DATABASE x'": None,
    "SELECT E'it\\'s; VACUUM'": None,
    "COMMENT ON TABLE t IS 'run VACUUM later'": None,
    "CREATE FUNCTION vac() RETURNS int LANGUAGE sql AS $$ SELECT 1 /* VACUUM */ $$": None,
    "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'": None,
    "SET statement_timeout = 0": None,
}
# Not run against PostgreSQL (they need a live subscription or a publisher).
SUBSCRIPTIONS: dict[str, str | None] = {
    "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p": "CREATE SUBSCRIPTION",
    "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p WITH (connect = false)": None,
    "DROP SUBSCRIPTION IF EXISTS s": "DROP SUBSCRIPTION",
    "ALTER SUBSCRIPTION s REFRESH PUBLICATION": "ALTER SUBSCRIPTION ... REFRESH PUBLICATION",
    "ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)": None,
    "ALTER SUBSCRIPTION s DISABLE": None,
}


def detected(statement: str, server_version: int | None = None) -> str | None:
    kinds = [kind for _, kind in analyse(statement, server_version=server_version).blockers]
    assert len(kinds) <= 1
    return kinds[0] if kinds else None
