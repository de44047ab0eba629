"""Schema drift: applied migrations vs their source, and the live schema's fingerprint.

Pure functions over plain data; reading the database, the source and ``pg_dump``
happens in ``drift.inspect``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stackflow.drift.model import (
    FingerprintResult,
    FingerprintStatus,
    SchemaFinding,
    SchemaResult,
)
from stackflow.migrations import planner
from stackflow.migrations.model import AppliedMigration, Migration


@dataclass(frozen=True)
class SchemaBaseline:
    """The schema fingerprint recorded after migration ``version`` was applied."""

    version: int | None
    fingerprint: str
    recorded_at: str


def compare_migrations(migrations: Sequence[Migration], applied: Sequence[AppliedMigration],
                       modified_at: Mapping[int, datetime], *, now: datetime,
                       pending_max_age: timedelta) -> SchemaResult:
    """Checksum mismatches, applied versions missing from the source, and pending
    migrations whose source file is older than ``pending_max_age``.

    The comparison is the patcher's own (``planner.find_problems`` / ``pending``), so
    drift and ``stackflow patcher status`` can never disagree.
    """
    problems = planner.find_problems(migrations, applied)
    by_version = {m.version: m for m in migrations}
    findings = [SchemaFinding("checksum_mismatch", v,
                              f"{by_version[v].up.file_name} changed after it was applied")
                for v in problems.checksum_mismatches]
    findings += [SchemaFinding("missing_from_source", v,
                               "applied to the database but absent from the source")
                 for v in problems.missing]
    waiting = planner.pending(migrations, applied)
    findings += _stale(waiting, modified_at, now, pending_max_age)
    return SchemaResult(checked=True, current_version=planner.current_version(applied),
                        pending=tuple(m.version for m in waiting), findings=tuple(findings))


def _stale(pending: Iterable[Migration], modified_at: Mapping[int, datetime], now: datetime,
           max_age: timedelta) -> list[SchemaFinding]:
    stale = []
    for m in pending:
        stamp = modified_at.get(m.version)
        # No timestamp, no age: such a migration is listed as pending, never as stale.
        if stamp is not None and now - stamp > max_age:
            hours = (now - stamp).total_seconds() / 3600
            stale.append(SchemaFinding(
                "stale_pending", m.version,
                f"{m.up.file_name} pending for {hours:.0f}h "
                f"(threshold {max_age.total_seconds() / 3600:g}h)"))
    return stale


# Lines of a `pg_dump --schema-only` that change between runs without the schema
# changing: comments (they carry the dump time and tool version), session SETs,
# the search_path reset, and PostgreSQL 17.6+'s per-dump random \restrict key.
_VOLATILE_PREFIXES = ("--", "SET ", "SELECT pg_catalog.set_config(", "\\restrict",
                      "\\unrestrict")


def normalize_dump(dump: str) -> str:
    """The dump's DDL only: comments, SET lines and blank lines removed."""
    lines = (line.rstrip() for line in dump.splitlines())
    return "\n".join(line for line in lines
                     if line and not line.startswith(_VOLATILE_PREFIXES)) + "\n"


def dump_fingerprint(dump: str) -> str:
    return hashlib.sha256(normalize_dump(dump).encode()).hexdigest()


def compare_fingerprint(current: str | None, current_version: int | None,
                        baseline: SchemaBaseline | None) -> FingerprintResult:
    """``recorded`` when no baseline exists for the current migration version (the
    caller stores ``current`` as the new one), else ``match`` or ``changed``."""
    if current is None:
        return FingerprintResult("skipped", reason="no schema dump available")
    if baseline is None or baseline.version != current_version:
        return FingerprintResult("recorded", current=current, recorded_version=current_version,
                                 reason="first check after migration "
                                        f"{current_version}: baseline recorded")
    status: FingerprintStatus = "match" if baseline.fingerprint == current else "changed"
    return FingerprintResult(status, current=current, recorded=baseline.fingerprint,
                             recorded_version=baseline.version,
                             reason="" if status == "match" else
                             f"live schema differs from the one recorded at {baseline.recorded_at}")


def fingerprint_finding(result: FingerprintResult) -> list[SchemaFinding]:
    if result.status != "changed":
        return []
    return [SchemaFinding("schema_changed", result.recorded_version, result.reason)]


def schema_keys(result: SchemaResult) -> list[str]:
    return [f"schema:{f.kind}:{f.version}" for f in result.findings]


SCHEMA_PREFIX = "schema:"
FINGERPRINT_PREFIX = "schema:schema_changed:"
