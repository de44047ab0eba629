"""The database-roles custom resource (``database_roles.handler.handler``)."""
