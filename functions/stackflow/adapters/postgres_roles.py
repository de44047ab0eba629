"""Creating StackFlow's database roles (``stackflow.roles``) as the master user.

Idempotent: a role that exists keeps its identity and gets its password and attributes
set again, grants are repeated, and objects of the application schema that the master
user still owns (a database migrated before the roles existed) are handed to the
migrator. Runs in one transaction, so a failure changes nothing.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from stackflow.adapters.postgres import describe_url, redact, translate
from stackflow.errors import DatabaseUnavailable
from stackflow.roles import APPLICATION_SCHEMA, MIGRATOR_ROLE, READER_ROLE, RoleLogins

# Objects of the schema the connected (master) user owns, with the ALTER that moves one:
# relations (a table's identity sequences and indexes follow their table), standalone
# sequences, routines, and enum, domain and range types; never an extension's members.
_OWNED_BY_ME = """
WITH mine AS (
    SELECT 'TABLE' AS kind, format('%I.%I', n.nspname, c.relname) AS name,
           'pg_class'::regclass AS catalog, c.oid
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = {schema} AND c.relowner = current_user::regrole
      AND (c.relkind IN ('r', 'p', 'v', 'm', 'f')
           OR (c.relkind = 'S' AND NOT EXISTS (
               SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                 AND d.objid = c.oid AND d.deptype IN ('a', 'i'))))
    UNION ALL
    SELECT 'ROUTINE', p.oid::regprocedure::text, 'pg_proc'::regclass, p.oid
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = {schema} AND p.proowner = current_user::regrole
    UNION ALL
    SELECT 'TYPE', format('%I.%I', n.nspname, t.typname), 'pg_type'::regclass, t.oid
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = {schema} AND t.typowner = current_user::regrole
      AND t.typtype IN ('e', 'd', 'r') AND t.typelem = 0
)
SELECT kind, name FROM mine m
WHERE NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = m.catalog
                    AND d.objid = m.oid AND d.deptype = 'e')
ORDER BY kind, name
"""


def ensure_roles(admin_url: str, logins: RoleLogins, *, connect_timeout: int = 10) -> None:
    """Create or update the migrator and reader roles in ``admin_url``'s database."""
    target = describe_url(admin_url)
    try:
        conn = psycopg.connect(admin_url, connect_timeout=connect_timeout,
                               application_name="stackflow database roles")
    except psycopg.Error as e:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {target}: "
                                  f"{redact(str(e), admin_url)}", target=target) from e
    try:
        with conn.transaction():
            _apply(conn, logins)
    except psycopg.Error as e:
        raise translate(e, f"creating the database roles at {target}") from e
    finally:
        conn.close()


def _apply(conn: psycopg.Connection[Any], logins: RoleLogins) -> None:
    for role, password in ((MIGRATOR_ROLE, logins.migrator_password),
                           (READER_ROLE, logins.reader_password)):
        _login_role(conn, role, password)
    migrator, reader = sql.Identifier(MIGRATOR_ROLE), sql.Identifier(READER_ROLE)
    schema = sql.Identifier(APPLICATION_SCHEMA)
    conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on")
                 .format(reader))
    _become_member(conn, MIGRATOR_ROLE)
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
        sql.Identifier(_current_database(conn)), migrator, reader))
    conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(schema, migrator))
    _hand_over_objects(conn)
    # As the owner, so the grants are the owner's and outlive any change of the master.
    conn.execute(sql.SQL("SET LOCAL ROLE {}").format(migrator))
    for statement in (
        "GRANT USAGE ON SCHEMA {schema} TO {reader}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}",
        "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {reader}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {reader}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON SEQUENCES TO {reader}",
    ):
        conn.execute(sql.SQL(statement).format(schema=schema, reader=reader))
    conn.execute("RESET ROLE")


def _login_role(conn: psycopg.Connection[Any], role: str, password: str) -> None:
    # Utility statements take no bind parameters: the password is quoted client side
    # (sql.Literal) and never logged; server errors do not echo it.
    options = sql.SQL("{} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                      "PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        # In a savepoint: roles are cluster-wide, and a session on another database may
        # create the same role first (then it is altered like any existing one).
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {}").format(options))
            return
        except psycopg.errors.DuplicateObject:
            pass
    conn.execute(sql.SQL("ALTER ROLE {}").format(options))


def _become_member(conn: psycopg.Connection[Any], role: str) -> None:
    # Handing objects to a role (and SET ROLE) needs membership with SET (PostgreSQL
    # 16+) or plain membership before; a superuser has both already.
    option = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    row = conn.execute("SELECT pg_has_role(current_user, %s, %s)", (role, option)).fetchone()
    if not (row and row[0]):
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))


def _current_database(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _hand_over_objects(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(sql.SQL(_OWNED_BY_ME).format(
        schema=sql.Literal(APPLICATION_SCHEMA))).fetchall()
    for kind, name in rows:
        # `name` is already quoted (format %I, regprocedure): composed as SQL text.
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(
            sql.SQL(kind), sql.SQL(name), sql.Identifier(MIGRATOR_ROLE)))
