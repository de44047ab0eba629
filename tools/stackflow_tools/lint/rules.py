"""StackFlow's own lint rules, pure over a migration's scripts.

- ``lock`` (info): the lock each statement of an up script takes (``locks.py``);
- ``destructive-outside-contract`` (error): a drop, truncate, rename or type change in
  an up script of the expand phase, where the previous version, still taking traffic,
  may read what it removes (``-- stackflow:phase contract`` moves it after Promote);
- ``missing-down-script`` (error): no down script, and no ``-- stackflow:irreversible``;
- ``unknown-phase`` and ``lint-ignore-without-reason`` (errors): a marker that cannot
  mean what its writer thought.
"""

from __future__ import annotations

from collections.abc import Iterator

from stackflow.migrations.destructive import destructive_kind
from stackflow.migrations.locks import ACCESS_EXCLUSIVE, BLOCKS_WRITES, statement_lock
from stackflow.migrations.markers import PHASES, declared_phase, irreversible, phase_of
from stackflow.migrations.model import Migration

from stackflow_tools.lint.findings import Finding, Statement, statements

DESTRUCTIVE = "destructive-outside-contract"
MISSING_DOWN = "missing-down-script"
LOCK = "lock"
OWN_RULES = (LOCK, DESTRUCTIVE, MISSING_DOWN, "unknown-phase", "lint-ignore-without-reason")


def check_migration(m: Migration) -> Iterator[Finding]:
    """Every finding of StackFlow's rules in one migration."""
    file = m.up.file_name
    yield from _markers(m.up.sql, file)
    if m.down is None and not irreversible(m.up.sql):
        yield Finding(MISSING_DOWN, "error", file, 1,
                      f"no {m.version:04d}_{m.name}.down.sql: add one, or mark the up "
                      "script -- stackflow:irreversible")
    contract = phase_of(m.up.sql) == "contract"
    for statement in statements(m.up.sql):
        yield from _unexplained(statement, file)
        yield from _lock(statement, file)
        if not contract:
            yield from _destructive(statement, file)


def _markers(sql: str, file: str) -> Iterator[Finding]:
    phase = declared_phase(sql)
    if phase is not None and phase not in PHASES:
        yield Finding("unknown-phase", "error", file, 1,
                      f"-- stackflow:phase {phase}: the phases are {', '.join(PHASES)}")


def _unexplained(statement: Statement, file: str) -> Iterator[Finding]:
    for rule in statement.unexplained:
        yield Finding("lint-ignore-without-reason", "error", file, statement.line,
                      f"-- stackflow:lint-ignore {rule} needs a reason after the rule name")


def _lock(statement: Statement, file: str) -> Iterator[Finding]:
    lock = statement_lock(statement.text)
    if lock is None or lock.mode not in BLOCKS_WRITES:
        return
    blocks = "reads and writes" if lock.mode == ACCESS_EXCLUSIVE else "writes"
    yield Finding(LOCK, "info", file, statement.line,
                  f"statement {statement.number} takes {lock.mode} on {lock.table or '?'}: "
                  f"it blocks {blocks} of that table while it runs")


def _destructive(statement: Statement, file: str) -> Iterator[Finding]:
    what = destructive_kind(statement.text)
    if what is not None:
        yield Finding(DESTRUCTIVE, "error", file, statement.line,
                      f"statement {statement.number} ({what}) in the expand phase: the "
                      "previous version may still read it while the canary bakes; move it "
                      "to a later migration marked -- stackflow:phase contract")
