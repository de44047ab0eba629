"""The patcher core: versioned SQL migrations for PostgreSQL.

``model`` (plain data) -> ``source`` (files) -> ``planner`` (pure: a plan of frozen
steps) -> ``executor`` (runs or displays a plan) -> ``service.run`` (the one call the
handler, the CLI and the demo make). The database is reached only through the
``ports.MigrationDatabase`` protocol, so nothing here imports psycopg.
"""
