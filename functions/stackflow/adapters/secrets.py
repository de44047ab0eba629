"""AWS Secrets Manager: the database secret (RDS format) as a libpq URI.

The secret is kept for the life of the process (warm Lambda invocations reuse it);
``refresh=True`` re-reads it, which a caller does once after an authentication
failure, so a rotated password is picked up without a cold start.

The URI requires TLS (``sslmode=require``): without it libpq's default, ``prefer``,
silently falls back to plain text. libpq ignores ``sslmode`` on a Unix socket, which
is how local mode reaches its embedded server (a socket directory as the host), so the
same URI serves both. (``verify-full`` needs the RDS CA bundle in the zip; see
docs/infra.md, "Security model".)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackflow import env
from stackflow.adapters import aws_error, default_client
from stackflow.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

_REQUIRED = ("host", "username", "password")
# Encrypt, or refuse to connect. (Certificate checks need the RDS CA bundle shipped.)
SSLMODE = "require"
_cache: dict[str, str] = {}


def _client(client: SecretsManagerClient | None) -> SecretsManagerClient:
    if client is not None:
        return client
    return default_client("secretsmanager")  # type: ignore[no-any-return]


def get_secret_string(secret_id: str, *, client: SecretsManagerClient | None = None) -> str:
    """The ``SecretString`` of a secret."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = _client(client).get_secret_value(SecretId=secret_id)
    except (ClientError, BotoCoreError) as e:
        raise aws_error(e, f"reading secret {secret_id}") from e
    if "SecretString" not in value:
        raise ConfigurationError(f"secret {secret_id} has no SecretString",
                                 variable=env.DB_SECRET_ARN)
    return value["SecretString"]


def database_url(secret_id: str, *, client: SecretsManagerClient | None = None,
                 refresh: bool = False) -> str:
    """``postgresql://user:password@host:port/dbname`` from an RDS-format secret."""
    if refresh or secret_id not in _cache:
        _cache[secret_id] = url_from_secret(get_secret_string(secret_id, client=client),
                                            secret_id)
    return _cache[secret_id]


def url_from_secret(secret_string: str, secret_id: str = "the database secret") -> str:  # noqa: S107
    """Build the URI from the JSON of an RDS secret (host, port, username, password,
    dbname); every part is percent-encoded."""
    fields = _parse(secret_string, secret_id)
    missing = [k for k in _REQUIRED if not fields.get(k)]
    if missing:
        raise ConfigurationError(f"{secret_id} lacks {', '.join(missing)} (expected the RDS "
                                 "secret format)", variable=env.DB_SECRET_ARN)
    user = quote(str(fields["username"]), safe="")
    password = quote(str(fields["password"]), safe="")
    host = str(fields["host"])
    # A Unix-socket directory is a valid libpq host; in a URI it must be percent-encoded.
    host = quote(host, safe="") if host.startswith("/") else host
    port = _port(fields.get("port"), secret_id)
    dbname = quote(str(fields.get("dbname") or "postgres"), safe="")
    return f"postgresql://{user}:{password}@{host}:{port}/{dbname}?sslmode={SSLMODE}"


def secret_password(secret_id: str, *, client: SecretsManagerClient | None = None) -> str:
    """The ``password`` field of an RDS-format secret (a role's login, set by the
    database-roles custom resource)."""
    fields = _parse(get_secret_string(secret_id, client=client), secret_id)
    password = fields.get("password")
    if not isinstance(password, str) or not password:
        raise ConfigurationError(f"{secret_id} has no password (expected the RDS secret "
                                 "format)", variable=env.DB_SECRET_ARN)
    return password


def _port(value: Any, secret_id: str) -> int:
    try:
        return int(value or 5432)
    except (TypeError, ValueError) as e:
        raise ConfigurationError(f"{secret_id} has a bad port {value!r}",
                                 variable=env.DB_SECRET_ARN) from e


def _parse(secret_string: str, secret_id: str) -> dict[str, Any]:
    try:
        fields = json.loads(secret_string)
    except ValueError as e:
        raise ConfigurationError(f"{secret_id} is not JSON (expected the RDS secret format)",
                                 variable=env.DB_SECRET_ARN) from e
    if not isinstance(fields, dict):
        raise ConfigurationError(f"{secret_id} is not a JSON object",
                                 variable=env.DB_SECRET_ARN)
    return fields
