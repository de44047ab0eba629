"""The PostgreSQL roles StackFlow's functions log in as, by name.

The cluster's master user (``stackflow_admin``) only creates these two roles; no
function connects as it. ``stackflow_migrator`` owns the application schema
(``public``) and everything in it: the patcher applies migrations and writes
``schema_migrations`` as that owner, with no superuser, role or database privilege.
``stackflow_reader`` may read that schema and nothing else (every transaction it opens
is read-only): the drift check and StackFlowAPI connect as it. The CDK app names the
roles in each one's Secrets Manager secret, and ``stackflow.adapters.postgres_roles``
creates them (the database-roles custom resource in AWS, local mode on its server).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MASTER_USER = "stackflow_admin"
MIGRATOR_ROLE = "stackflow_migrator"
READER_ROLE = "stackflow_reader"
APPLICATION_SCHEMA = "public"


@dataclass(frozen=True)
class RoleLogins:
    """The passwords the two roles log in with (their secrets' current values)."""

    migrator_password: str = field(repr=False)
    reader_password: str = field(repr=False)
