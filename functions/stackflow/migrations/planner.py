"""The pure planner: source migrations + applied rows + a request -> a ``Plan``.

No I/O here. Every refusal (edited migration, out-of-order, missing down script, bad
target, a script that mixes statements that cannot run in a transaction with ones that
must) is decided before a single statement runs, so a refused call changes nothing.
``server_version`` (``server_version_num``; ``None``: a current server) decides the
few statements whose transaction rules changed between PostgreSQL versions.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackflow.errors import (
    ChecksumMismatch,
    InvalidRequest,
    MissingDownScript,
    OutOfOrderMigration,
)
from stackflow.migrations.markers import RunPhase, phase_of
from stackflow.migrations.model import (
    AppliedMigration,
    Findings,
    Migration,
    Plan,
    Step,
)
from stackflow.migrations.txmode import script_mode


def current_version(applied: Sequence[AppliedMigration]) -> int | None:
    return max((a.version for a in applied), default=None)


def pending(migrations: Sequence[Migration],
            applied: Sequence[AppliedMigration]) -> list[Migration]:
    """Source migrations not yet applied, in version order."""
    done = {a.version for a in applied}
    return [m for m in migrations if m.version not in done]


def in_phase(todo: Sequence[Migration], phase: RunPhase) -> list[Migration]:
    """The pending migrations a run of ``phase`` applies, in order.

    ``expand`` (before Publish) stops before the contract migrations that follow the
    last pending expand one: those wait until the new version is promoted. Contract
    migrations before an expand one are an earlier release's unfinished contract (its
    version is the one serving now), so they run first. ``contract`` and ``all`` apply
    everything pending.
    """
    if phase != "expand":
        return list(todo)
    last_expand = max((i for i, m in enumerate(todo) if phase_of(m.up.sql) == "expand"),
                      default=-1)
    return list(todo[:last_expand + 1])


def find_problems(migrations: Sequence[Migration],
                  applied: Sequence[AppliedMigration]) -> Findings:
    """Edited applied migrations, pending ones below the newest applied, applied ones
    no longer in the source."""
    by_version = {m.version: m for m in migrations}
    newest = current_version(applied)
    return Findings(
        checksum_mismatches=tuple(a.version for a in applied
                                  if a.version in by_version
                                  and by_version[a.version].checksum != a.checksum),
        out_of_order=tuple(m.version for m in pending(migrations, applied)
                           if newest is not None and m.version < newest),
        missing=tuple(a.version for a in applied if a.version not in by_version),
    )


def plan_migrate(migrations: Sequence[Migration], applied: Sequence[AppliedMigration], *,
                 target: int | None = None, allow_out_of_order: bool = False,
                 server_version: int | None = None, phase: RunPhase = "all") -> Plan:
    """Apply every pending migration (up to and including ``target``), in order; of
    those, ``phase`` keeps the ones that phase runs (``in_phase``)."""
    findings = find_problems(migrations, applied)
    _refuse_mismatches(findings.checksum_mismatches, migrations)
    if target is not None and target not in {m.version for m in migrations} | {
            a.version for a in applied}:
        raise InvalidRequest("target", f"no migration has version {target}")
    todo = in_phase([m for m in pending(migrations, applied)
                     if target is None or m.version <= target], phase)
    late = [m.version for m in todo if m.version in findings.out_of_order]
    if late and not allow_out_of_order:
        raise OutOfOrderMigration(
            f"migration {_versions(late)} is numbered below the newest applied version "
            f"{current_version(applied)}; set allow_out_of_order to apply it",
            versions=late)
    steps = tuple(_up_step(m, server_version) for m in todo)
    return Plan("migrate", steps, current_version(applied), findings)


def plan_rollback(migrations: Sequence[Migration], applied: Sequence[AppliedMigration], *,
                  steps: int | None = None, target: int | None = None,
                  server_version: int | None = None) -> Plan:
    """Roll back the newest ``steps`` applied migrations, or all above ``target``."""
    newest_first = sorted(applied, key=lambda a: a.version, reverse=True)
    chosen = (_above_target(newest_first, target) if target is not None
              else _newest(newest_first, 1 if steps is None else steps))
    by_version = {m.version: m for m in migrations}
    _refuse_missing_down(chosen, by_version)
    _refuse_mismatches(tuple(a.version for a in chosen
                             if by_version[a.version].checksum != a.checksum), migrations)
    plan_steps = tuple(_down_step(by_version[a.version], a, server_version) for a in chosen)
    return Plan("rollback", plan_steps, current_version(applied),
                find_problems(migrations, applied))


def _above_target(newest_first: list[AppliedMigration],
                  target: int) -> list[AppliedMigration]:
    versions = {a.version for a in newest_first}
    if target != 0 and target not in versions:
        raise InvalidRequest("target", f"version {target} is not applied "
                             "(use 0 to roll back everything)")
    return [a for a in newest_first if a.version > target]


def _newest(newest_first: list[AppliedMigration], steps: int) -> list[AppliedMigration]:
    if steps > len(newest_first):
        raise InvalidRequest("steps", f"cannot roll back {steps}: only {len(newest_first)} "
                             "migration(s) applied")
    return newest_first[:steps]


def _refuse_missing_down(chosen: Sequence[AppliedMigration],
                         by_version: dict[int, Migration]) -> None:
    lacking = [a.version for a in chosen
               if a.version not in by_version or by_version[a.version].down is None]
    if lacking:
        raise MissingDownScript(
            f"cannot roll back: migration {_versions(lacking)} has no down script; "
            "nothing was rolled back", versions=lacking)


def _refuse_mismatches(versions: Sequence[int], migrations: Sequence[Migration]) -> None:
    if not versions:
        return
    files = {m.version: m.up.file_name for m in migrations}
    raise ChecksumMismatch(
        f"migration {versions[0]} ({files.get(versions[0], '?')}) changed after it was "
        f"applied (checksum differs); changed: {_versions(versions)}",
        versions=list(versions))


def _up_step(m: Migration, server_version: int | None) -> Step:
    mode = script_mode(m.up.sql, m.up.file_name, server_version=server_version)
    return Step("up", m.version, m.name, m.checksum, m.up.sql, m.up.file_name, mode)


def _down_step(m: Migration, applied: AppliedMigration, server_version: int | None) -> Step:
    assert m.down is not None  # guaranteed by _refuse_missing_down
    mode = script_mode(m.down.sql, m.down.file_name, server_version=server_version)
    return Step("down", m.version, m.name, applied.checksum, m.down.sql, m.down.file_name,
                mode)


def _versions(versions: Sequence[int]) -> str:
    return ", ".join(str(v) for v in versions)
