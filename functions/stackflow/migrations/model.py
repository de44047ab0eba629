"""The patcher's plain data: migrations, applied rows, plan steps and findings.

Everything here is pure (no I/O) and frozen, so the planner can be tested with literal
lists and a plan can be printed, executed or returned as JSON without surprises.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from stackflow.errors import SourceError
from stackflow.migrations.txmode import MARKERS, TransactionMode, analyse, marker_of

NO_TRANSACTION_MARKER = MARKERS[0]
# schema_migrations.version is a bigint: a larger number could be planned but never
# recorded, so it is refused with the file name rather than failing mid-run.
MAX_VERSION = 2**63 - 1

# NNNN_description.up.sql / NNNN_description.down.sql; the version is any width, the
# description anything a file name holds (dots, mixed case, unicode) but "/".
_FILE_NAME = re.compile(r"(?P<version>\d+)_(?P<name>[^/]+)\.(?P<dir>up|down)\.sql")
EXPECTED_NAME = "expected NNNN_description.up.sql or NNNN_description.down.sql"
UNPRINTABLE = "the description holds control characters or undecodable bytes"
TOO_LARGE = f"the version is above the largest allowed ({MAX_VERSION})"

Direction = Literal["up", "down"]


@dataclass(frozen=True)
class MigrationFile:
    """One parsed file name: ``0003_add_orders_status.up.sql``."""

    version: int
    name: str
    direction: Direction
    file_name: str


@dataclass(frozen=True)
class Script:
    """The SQL of one direction of a migration."""

    sql: str
    file_name: str

    @property
    def no_transaction(self) -> bool:
        """Marked, or holding statements that cannot run in a transaction block."""
        return analyse(self.sql).outside


@dataclass(frozen=True)
class Migration:
    """A migration as found in the source: an up script and an optional down script."""

    version: int
    name: str
    up: Script
    down: Script | None = None

    @property
    def checksum(self) -> str:
        return checksum(self.up.sql)

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "file": self.up.file_name,
                "checksum": self.checksum}


@dataclass(frozen=True)
class AppliedMigration:
    """A row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: str = ""
    applied_by: str = ""
    execution_ms: int = 0
    no_transaction: bool = False

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "checksum": self.checksum,
                "applied_at": self.applied_at, "applied_by": self.applied_by,
                "execution_ms": self.execution_ms}


@dataclass(frozen=True)
class Step:
    """One planned unit of work: run ``sql`` in ``direction`` for ``version``.

    An ``up`` step inserts the version's ``schema_migrations`` row, a ``down`` step
    deletes it, in the same transaction as ``sql`` unless ``no_transaction``; ``mode``
    (decided by the planner) says which, and why.
    """

    direction: Direction
    version: int
    name: str
    checksum: str
    sql: str
    file_name: str
    mode: TransactionMode = field(default_factory=TransactionMode)

    @property
    def no_transaction(self) -> bool:
        return self.mode.outside

    def summary(self, *, with_sql: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "name": self.name,
                               "file": self.file_name, "checksum": self.checksum,
                               "direction": self.direction,
                               "no_transaction": self.no_transaction,
                               "no_transaction_reason": self.mode.reason,
                               "statements": self.mode.statements}
        if with_sql:
            out["sql"] = self.sql
        return out


@dataclass(frozen=True)
class Findings:
    """What ``status`` reports as wrong between the source and the database."""

    checksum_mismatches: tuple[int, ...] = ()
    out_of_order: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.checksum_mismatches or self.out_of_order or self.missing)


@dataclass(frozen=True)
class Plan:
    """The frozen outcome of planning: the steps, in order, and the state they start from."""

    action: Literal["migrate", "rollback"]
    steps: tuple[Step, ...]
    current_version: int | None
    findings: Findings = field(default_factory=Findings)


def normalize(sql: str) -> str:
    """Line endings as ``\\n``, so a CRLF checkout hashes like the original."""
    return sql.replace("\r\n", "\n").replace("\r", "\n")


def checksum(sql: str) -> str:
    """SHA-256 (hex) of a script with its line endings normalised."""
    return hashlib.sha256(normalize(sql).encode("utf-8")).hexdigest()


def is_no_transaction(sql: str) -> bool:
    """True when the script's first line is a no-transaction marker (``MARKERS``)."""
    return marker_of(sql) is not None


def parse_file_name(file_name: str) -> MigrationFile | None:
    """Parse ``NNNN_description.(up|down).sql``; ``None`` for files that are not SQL.

    A ``.sql`` file (in any case) that does not follow the pattern is an error, not
    something to skip: a typo would otherwise silently drop a migration. So is a
    description that is not printable text: it is stored in ``schema_migrations.name``
    and shown in one-line messages.
    """
    if not file_name.lower().endswith(".sql"):
        return None
    match = _FILE_NAME.fullmatch(file_name)
    if match is None:
        raise SourceError(f"bad migration file name {file_name!r}: {EXPECTED_NAME}",
                          file=file_name, reason=EXPECTED_NAME)
    if not match["name"].isprintable():
        raise SourceError(f"bad migration file name {file_name!r}: {UNPRINTABLE}",
                          file=file_name, reason=UNPRINTABLE)
    # Compared as text first: int() refuses strings of thousands of digits outright.
    digits = match["version"].lstrip("0") or "0"
    if len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        raise SourceError(f"bad migration file name {file_name!r}: {TOO_LARGE}",
                          file=file_name, reason=TOO_LARGE)
    version = int(digits)
    direction: Direction = "up" if match["dir"] == "up" else "down"
    return MigrationFile(version, match["name"], direction, file_name)
