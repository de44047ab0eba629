"""``lint(folder, config)``: every finding in a migrations folder, sorted by file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stackflow.migrations.markers import phase_of
from stackflow.migrations.model import Migration
from stackflow.migrations.source import DirectorySource, load_source

from stackflow_tools.lint.config import LintConfig
from stackflow_tools.lint.findings import Finding, statements
from stackflow_tools.lint.rules import check_migration
from stackflow_tools.lint.squawk import CONTRACT_ALLOWS, run_squawk, squawk_binary


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    checked: int
    squawk: str  # "ran", "off" (configured) or "missing"
    notes: tuple[str, ...] = field(default=())

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def lint(folder: Path, config: LintConfig, *, squawk: Path | bool | None = True) -> LintReport:
    """Lint the migrations in ``folder``. ``squawk``: True finds the binary, False skips
    it, a path uses that binary."""
    migrations = load_source(DirectorySource(folder)).migrations
    own = [f for m in migrations for f in check_migration(m)]
    binary = squawk_binary() if squawk is True else (squawk or None)
    state = "off" if not config.squawk or squawk is False else "ran" if binary else "missing"
    theirs = _squawk(folder, migrations, config, binary) if state == "ran" and binary else []
    kept = [f for f in [*own, *theirs] if _kept(f, migrations, config)]
    kept.sort(key=lambda f: (f.file, f.line, f.rule))
    notes = ("squawk is not installed (pip install squawk-cli): only StackFlow's rules ran",
             ) if state == "missing" else ()
    return LintReport(tuple(kept), len(migrations), state, notes)


def _squawk(folder: Path, migrations: Sequence[Migration], config: LintConfig,
            binary: Path) -> list[Finding]:
    excluded = sorted(r for r in config.disabled)
    found: list[Finding] = []
    for in_transaction in (True, False):
        files = [folder / m.up.file_name for m in migrations
                 if m.up.no_transaction is not in_transaction]
        found += run_squawk(binary, files, in_transaction=in_transaction,
                            excluded=excluded, pg_version=config.pg_version)
    return found


def _kept(finding: Finding, migrations: Sequence[Migration], config: LintConfig) -> bool:
    if finding.rule in config.disabled:
        return False
    migration = next((m for m in migrations if m.up.file_name == finding.file), None)
    if migration is None:
        return True
    if finding.rule in CONTRACT_ALLOWS and phase_of(migration.up.sql) == "contract":
        return False
    return not any(s.line <= finding.line <= s.last_line and finding.rule in s.ignored
                   for s in statements(migration.up.sql))
